"""Training: best-F1 selection, run directory, fine-tuning, resume, determinism, errors."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from fast_backbone import NAME as FAST_MODEL
from fast_backbone import registered
from sklearn.metrics import f1_score, roc_auc_score

from ecg_tl_keras import cli
from ecg_tl_keras.metrics import weighted_f1
from ecg_tl_keras.training import TrainConfig, train
from ecg_tl_keras.training import callbacks as cb
from ecg_tl_keras.training.checkpoints import load_checkpoint
from ecg_tl_keras.training.evaluation import EvalSplit

LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]


def _history(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _without_times(metrics):
    return {k: v for k, v in metrics.items() if k not in ("wall_time_s", "train_time_s")}


def _config(data, out, **overrides):
    # A backbone whose epochs take milliseconds: what these runs test is the run around it.
    settings = {"model": FAST_MODEL, "epochs": 2, "batch_size": 64, "verbose": 0}
    settings.update(overrides)
    return TrainConfig(data=str(data), out=str(out), **settings)


# --- the best-weighted-F1 callback -------------------------------------------------------------


class _WeightSchedule(keras.callbacks.Callback):
    """Sets the model's weights at the end of each epoch, before the F1 callback scores them."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs=None):
        self.model.set_weights(self.schedule[epoch])


def _linear_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 4)).astype("float32")
    true_kernel = rng.standard_normal((4, 3)).astype("float32")
    y = (x @ true_kernel > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
    zero_bias = np.zeros(3, "float32")
    schedule = [
        [rng.standard_normal((4, 3)).astype("float32"), zero_bias],  # random
        [3 * true_kernel, zero_bias],  # best: epoch 2
        [-true_kernel, zero_bias],  # worst, and last
    ]
    return x, y, model, schedule


def test_split_metrics_score_like_sklearn_and_best_weights_restore_the_best_epoch(tmp_path):
    x, y, model, schedule = _linear_problem()
    ids = [str(i) for i in range(len(x))]
    val = EvalSplit.from_arrays("val", x[:50], y[:50], ids[:50], batch_size=16)
    test = EvalSplit.from_arrays("test", x[50:], y[50:], ids[50:], batch_size=16)
    metrics = cb.SplitMetrics([val, test], loss=keras.losses.get("binary_crossentropy"))
    best = cb.BestWeights("val_weighted_f1")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                        callbacks=[_WeightSchedule(schedule), metrics, best])

    for epoch, weights in enumerate(schedule):
        logits = x @ weights[0] + weights[1]
        y_pred = (logits > 0).astype(int)  # sigmoid(z) > 0.5  <=>  z > 0
        expected_val = f1_score(y[:50], y_pred[:50], average="weighted", zero_division=0)
        expected_test = f1_score(y[50:], y_pred[50:], average="weighted", zero_division=0)
        assert history.history["val_weighted_f1"][epoch] == pytest.approx(expected_val, abs=1e-9)
        assert history.history["test_weighted_f1"][epoch] == pytest.approx(expected_test, abs=1e-9)
        expected_auc = roc_auc_score(y[50:], logits[50:], average="macro")
        assert history.history["test_macro_auc"][epoch] == pytest.approx(expected_auc, abs=1e-6)
        p = 1 / (1 + np.exp(-logits[:50].astype("float64")))
        bce = -np.mean(y[:50] * np.log(p + 1e-7) + (1 - y[:50]) * np.log(1 - p + 1e-7))
        assert history.history["val_loss"][epoch] == pytest.approx(bce, rel=1e-3)
    scores = history.history["val_weighted_f1"]
    assert best.best_epoch == 2 and scores[1] > max(scores[0], scores[2])
    for restored, expected in zip(model.get_weights(), schedule[1]):
        np.testing.assert_array_equal(restored, expected)

    np.savez(tmp_path / "state.npz", **best.state())
    reloaded = cb.BestWeights("val_weighted_f1")
    with np.load(tmp_path / "state.npz") as stored:
        reloaded.load_state(stored)
    assert (reloaded.best_epoch, reloaded.best_value) == (2, best.best_value)
    for stored, expected in zip(reloaded.best_weights, schedule[1]):
        np.testing.assert_array_equal(stored, expected)


def test_best_weights_minimizes_a_loss_and_names_a_missing_key():
    x, y, model, schedule = _linear_problem()
    val = EvalSplit.from_arrays("val", x, y, [str(i) for i in range(len(x))])
    metrics = cb.SplitMetrics([val], loss=keras.losses.get("binary_crossentropy"))
    best = cb.BestWeights("val_loss", mode="min")
    history = model.fit(x, y, epochs=3, verbose=0,
                        callbacks=[_WeightSchedule(schedule), metrics, best])
    losses = history.history["val_loss"]
    assert best.best_epoch == 1 + int(np.argmin(losses))
    with pytest.raises(ValueError, match="monitor 'val_auc' is not in the epoch logs.*val_loss"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[metrics, cb.BestWeights("val_auc")])


def test_history_csv_drops_rows_of_epochs_that_will_rerun(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,seconds\n1,0.9,1.0\n2,0.8,1.0\n3,0.7,1.0\n")
    history = cb.HistoryCSV(path, ["loss"], initial_epoch=2)
    history.on_train_begin()
    history.on_epoch_begin(2)
    history.on_epoch_end(2, {"loss": 0.5, "seconds": 1.25})
    assert [(row["epoch"], row["loss"], row["seconds"]) for row in _history(tmp_path)] == [
        ("1", "0.9", "1.0"),
        ("2", "0.8", "1.0"),
        ("3", "0.5", "1.25"),
    ]
    cb.HistoryCSV(path, ["loss"], initial_epoch=0).on_train_begin()
    assert _history(tmp_path) == []


# --- configuration, data plan, fine-tuning helpers ---------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"select_on": "train"}, "select_on"),
        ({"val_fold": 10}, "val_fold"),
        ({"strategy": "tpu"}, "strategy"),
        ({"finetune": "linear"}, "finetune_from"),
        ({"train_size": 0}, "train_size"),
    ],
)
def test_config_rejects_bad_arguments(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(data="d", model="lstm", out="o", **overrides)


def test_train_size_samples_whole_patients(ptbxl_built, tmp_path):
    from ecg_tl_keras.datasets import BuiltDataset, load_index
    from ecg_tl_keras.training.data import plan_data

    data, index = BuiltDataset.open(ptbxl_built), load_index(ptbxl_built, "train")
    plan = plan_data(_config(ptbxl_built, tmp_path, train_size=50), data)
    chosen = np.isin(index["record_id"], plan.train_filters["record_ids"])
    assert 50 <= plan.train_records == chosen.sum()
    assert not np.isin(
        index["patient_id"][~chosen], index["patient_id"][chosen]
    ).any()  # whole patients
    assert not (index["fold"][chosen] == 8).any()  # never from the validation fold
    again = plan_data(_config(ptbxl_built, tmp_path, train_size=50), data)
    other = plan_data(_config(ptbxl_built, tmp_path, train_size=50, seed=1), data)
    assert again.train_filters == plan.train_filters != other.train_filters
    with pytest.raises(ValueError, match="exceeds the .* training records available"):
        plan_data(_config(ptbxl_built, tmp_path, train_size=10_000), data)


def _compiled(name, shape, finetune, epochs, steps_per_epoch, optimizer="adam"):
    from ecg_tl_keras.models import build_model
    from ecg_tl_keras.training.finetune import make_optimizer, prepare_finetuning, strategy_phases

    model = build_model(name, 3, input_shape=shape)
    phases = strategy_phases(model, finetune, epochs)
    model.compile(make_optimizer(optimizer, 0.01, phases, steps_per_epoch), "binary_crossentropy")
    return model, prepare_finetuning(model, phases, steps_per_epoch)


def test_gradual_unfreezing_phases_go_through_the_optimizer_schedule():
    from ecg_tl_keras.models import backbone_stages
    from ecg_tl_keras.training.strategies import gradual_phases

    model, gradual = _compiled("resnet1d18", (64, 12), "gradual", epochs=12, steps_per_epoch=3)
    assert [phase.start_epoch for phase in gradual.phases] == [0, 2, 4, 6, 8, 10]
    stages = backbone_stages(model)
    for epoch, trained_stages, lr in ((0, 0, 0.01), (5, 2, 0.001), (11, 5, 0.001)):
        gradual.on_epoch_begin(epoch)
        model.optimizer.iterations.assign(epoch * 3)
        trainable = {id(v) for v in model.trainable_variables}
        for index, stage in enumerate(stages):
            trained = any(id(v) in trainable for layer in stage for v in layer.weights)
            assert trained == (index >= len(stages) - trained_stages)
        assert float(model.optimizer.learning_rate) == pytest.approx(lr)
    with pytest.raises(ValueError, match="at least 6 epochs"):
        gradual_phases(5, 4)


def test_phase_factors_compose_with_a_schedule():
    cosine = {"class_name": "CosineDecay",
              "config": {"initial_learning_rate": 0.02, "decay_steps": 8}}
    model, _ = _compiled("gru", (50, 12), "lp-ft", epochs=4, steps_per_epoch=2,
                         optimizer={"class_name": "SGD", "config": {"learning_rate": cosine}})
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    base = keras.optimizers.schedules.CosineDecay(0.02, 8)
    for step in range(8):
        model.optimizer.iterations.assign(step)
        factor = 1.0 if step < 4 else 0.1  # lp-ft: probe for at most 2 of 4 epochs, then x0.1
        assert float(model.optimizer.learning_rate) == pytest.approx(float(base(step)) * factor)


def _changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


def _fit_small(model, epochs, callbacks):
    """Fits 32 random records in batches of 8 (4 steps per epoch); returns the history."""
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 50, 12), "float32"), (rng.random((32, 3)) > 0.5).astype("float32")
    return model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks)


def test_lpft_probes_the_head_then_trains_everything_inside_fit():
    model, lpft = _compiled("gru", (50, 12), "lp-ft", epochs=2, steps_per_epoch=4)
    snapshots = [(model.get_layer("backbone").get_weights(), model.get_layer("head").get_weights())]
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(
        (model.get_layer("backbone").get_weights(), model.get_layer("head").get_weights())))
    history = _fit_small(model, 2, [lpft, cb.LearningRateLogger(), keep])

    (backbone0, head0), (backbone1, head1), (backbone2, _) = snapshots
    assert not _changed(backbone0, backbone1) and _changed(head0, head1)  # the linear probe
    assert _changed(backbone1, backbone2)  # then the whole network
    assert history.history["lr"] == pytest.approx([0.01, 0.001])


def test_lpft_probe_ends_when_the_head_converges_or_at_its_cap():
    from ecg_tl_keras.training.strategies import LPFT_TOLERANCE, lpft_phases, phase_starts

    phases = lpft_phases(5, 10)
    assert phases[1].start_epoch == 5  # the cap: half the epochs
    plateau = [1.0, 0.8, 0.8 * (1 - LPFT_TOLERANCE / 2), 0.8]  # 2 epochs improve by < tolerance
    assert phase_starts(phases, plateau[:3]) == [0, 5]  # 1 epoch without improvement: not yet
    assert phase_starts(phases, plateau) == [0, 4]
    assert phase_starts(phases, plateau + [0.1] * 6) == [0, 4]  # decided once and for all
    assert phase_starts(phases, [1.0, float("nan"), float("nan")]) == [0, 3]  # NaN: no progress
    improving = [0.9 ** epoch for epoch in range(10)]  # 10% better every epoch
    assert phase_starts(phases, improving) == [0, 5]
    assert phase_starts(lpft_phases(5, 2), [1.0, 1.0]) == [0, 1]  # one epoch each at least


def test_phases_ending_on_convergence_are_checked():
    from ecg_tl_keras.training.strategies import (
        Convergence,
        Phase,
        finetune_phases,
        register_finetune_strategy,
        unregister_finetune_strategy,
    )

    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        Convergence(tolerance=-0.1)
    with pytest.raises(ValueError, match="patience must be an integer >= 1"):
        Convergence(patience=0)
    register_finetune_strategy("test-until-last")(
        lambda n_stages, epochs: [Phase(0, 0), Phase(1, None, until=Convergence())])
    try:  # registries are global: a strategy left behind shows in every later --help
        with pytest.raises(ValueError, match="last phase cannot end on convergence"):
            finetune_phases("test-until-last", 1, 4)
    finally:
        unregister_finetune_strategy("test-until-last")


def test_lpft_switches_after_the_epoch_the_probe_converged_and_resumes_there():
    from ecg_tl_keras.training.finetune import PhasedFinetuning, phase_schedule

    model, lpft = _compiled("gru", (50, 12), "lp-ft", epochs=8, steps_per_epoch=4)
    lpft.monitor = "val_loss"
    flat = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(
        val_loss=1.0))  # no improvement after the first epoch: converged after the third
    backbones = [model.get_layer("backbone").get_weights()]
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: backbones.append(
        model.get_layer("backbone").get_weights()))
    history = _fit_small(model, 8, [flat, lpft, cb.LearningRateLogger(), keep])
    assert lpft.starts == [0, 3] and lpft.phases[1].start_epoch == 4  # before its cap
    assert history.history["lr"] == pytest.approx([0.01] * 3 + [0.001] * 5)
    assert [_changed(a, b) for a, b in zip(backbones, backbones[1:])] == [False] * 3 + [True] * 5
    assert phase_schedule(model.optimizer).boundaries == [12]

    resumed_model, _ = _compiled("gru", (50, 12), "lp-ft", epochs=8, steps_per_epoch=4)
    resumed = PhasedFinetuning(lpft.phases, 4, monitor="val_loss")
    resumed.set_model(resumed_model)
    resumed.load_state({name: np.copy(value) for name, value in lpft.state().items()})
    assert resumed.starts == [0, 3] and phase_schedule(resumed_model.optimizer).boundaries == [12]
    with pytest.raises(ValueError, match="watch 'val_loss', which is not in the epoch logs"):
        resumed.on_epoch_end(3, {"loss": 0.5})


def test_moved_phase_boundaries_are_saved_in_the_checkpoint(tmp_path):
    from ecg_tl_keras.training.finetune import PhaseSchedule, phase_schedule

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(PhaseSchedule(0.1, [8], [1.0, 0.1])), "mse")
    model.fit(np.ones((4, 4)), np.ones((4, 1)), batch_size=1, verbose=0)  # 4 steps
    phase_schedule(model.optimizer).set_boundaries([2])
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert phase_schedule(loaded.optimizer).boundaries == [2]
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.01)  # step 4: phase 1
    with pytest.raises(ValueError, match="boundaries must increase"):
        PhaseSchedule(0.1, [4, 4], [1.0, 0.5, 0.1])


# --- end to end on the real PTB-XL sample -------------------------------------------------------


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory):
    """``FAST_MODEL`` registered while this file's tests that train run."""
    with registered(tmp_path_factory.mktemp("fast_backbone")) as path:
        yield path


@pytest.fixture(scope="module")
def pretrained(ptbxl_built, tmp_path_factory, fast_model):
    run_dir = tmp_path_factory.mktemp("runs") / FAST_MODEL
    metrics = train(_config(ptbxl_built, run_dir))
    return run_dir, metrics


def test_run_directory(pretrained):
    run_dir, metrics = pretrained
    for name in (
        "best.keras",
        "history.csv",
        "metrics.json",
        "config.json",
        "predictions_test.npz",
    ):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").iterdir())
    assert not (run_dir / "backup").exists()

    rows = _history(run_dir)
    assert list(rows[0]) == ["epoch", "loss", "val_weighted_f1", "val_macro_f1", "val_macro_auc",
                             "val_loss", "test_weighted_f1", "test_macro_f1", "test_macro_auc",
                             "test_loss", "lr", "seconds"]
    scores = [float(row["val_weighted_f1"]) for row in rows]
    assert metrics["best_epoch"] == 1 + int(np.argmax(scores)) and metrics["epochs"] == 2
    assert metrics == json.loads((run_dir / "metrics.json").read_text())
    assert metrics["selection_split"].startswith("val") and list(metrics["per_label_f1"]) == LABELS

    with np.load(run_dir / "predictions_test.npz", allow_pickle=False) as predictions:
        assert (
            predictions["y_prob"].shape
            == predictions["y_true"].shape
            == (metrics["records"]["test"], 5)
        )
        assert metrics["test_weighted_f1"] == weighted_f1(
            predictions["y_true"], predictions["y_prob"]
        )
        assert float(rows[metrics["best_epoch"] - 1]["test_weighted_f1"]) == pytest.approx(
            metrics["test_weighted_f1"], abs=1e-9
        )

    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["seed"] == 0 and {
        "python",
        "tensorflow",
        "keras",
        "ecg_tl_keras",
    } <= set(config["versions"])
    model, metadata = load_checkpoint(run_dir / "best.keras")
    assert metadata["labels"] == LABELS and metadata["model"] == FAST_MODEL


def test_evaluate_and_predict_commands(pretrained, ptbxl_built, sample_data, tmp_path, capsys):
    run_dir, metrics = pretrained
    out = tmp_path / "eval.json"
    assert (
        cli.main(
            [
                "evaluate",
                "--model",
                str(run_dir / "best.keras"),
                "--data",
                str(ptbxl_built),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["weighted_f1"] == pytest.approx(metrics["test_weighted_f1"], abs=1e-9)
    assert report["macro_auc"] == pytest.approx(metrics["test_macro_auc"], abs=1e-9)

    record = sample_data / "ptbxl" / "records100" / "00000" / "00001_lr.hea"
    capsys.readouterr()
    assert cli.main(["predict", "--checkpoint", str(run_dir / "best.keras"), str(record)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    (row,) = csv.DictReader(lines)
    probabilities = [float(row[f"{label}_probability"]) for label in LABELS]
    assert row["status"] == "ok" and all(0 <= p <= 1 for p in probabilities)


def test_finetune_linear_on_other_labels_keeps_the_backbone(pretrained, georgia_built, tmp_path):
    source_dir, _ = pretrained
    metrics = train(
        _config(
            georgia_built,
            tmp_path / "ft",
            finetune_from=str(source_dir / "best.keras"),
            finetune="linear",
            val_fold=7,
        )
    )
    source, _ = load_checkpoint(source_dir / "best.keras")
    tuned, metadata = load_checkpoint(tmp_path / "ft" / "best.keras")
    assert len(metadata["labels"]) == 10 and tuned.output_shape == (None, 10)
    for before, after in zip(
        source.get_layer("backbone").get_weights(), tuned.get_layer("backbone").get_weights()
    ):
        np.testing.assert_array_equal(before, after)
    assert metrics["finetune"] == "linear" and metrics["records"]["selection"] == 1
    # every Georgia test record is STach only: no label has both classes, so no AUC
    assert metrics["test_macro_auc"] is None and len(metrics["auc_skipped_labels"]) == 10


def test_finetune_gradual_lowers_the_rate_when_the_backbone_joins(
    pretrained, ptbxl_built, tmp_path
):
    source_dir, _ = pretrained
    train(
        _config(
            ptbxl_built,
            tmp_path / "gradual",
            finetune_from=str(source_dir / "best.keras"),
            finetune="gradual",
            lr=0.01,
        )
    )
    assert [float(row["lr"]) for row in _history(tmp_path / "gradual")] == pytest.approx(
        [0.01, 0.001]
    )


def test_resume_refuses_changed_arguments(ptbxl_built, tmp_path, monkeypatch, fast_model):
    from ecg_tl_keras.training import faults

    monkeypatch.setenv(faults.ENV, "history:2:raise")
    with pytest.raises(faults.InjectedFault):
        train(_config(ptbxl_built, tmp_path / "run", epochs=3))
    monkeypatch.delenv(faults.ENV)
    with pytest.raises(ValueError, match=r"interrupted run with different arguments \(lr\)"):
        train(_config(ptbxl_built, tmp_path / "run", epochs=3, lr=0.1))


# --- errors --------------------------------------------------------------------------------------


def _train_error(capsys, *args):
    code = cli.main(["train", *args])
    return code, capsys.readouterr().err.strip()


def test_missing_manifest_error(tmp_path, capsys):
    code, err = _train_error(
        capsys, "--data", str(tmp_path), "--model", "lstm", "--out", str(tmp_path / "r")
    )
    assert code == 2 and "manifest.json not found: build it with python -m tfrecords_builder" in err
    assert len(err.splitlines()) == 1


def test_unknown_model_error_lists_names(ptbxl_built, tmp_path, capsys):
    code, err = _train_error(
        capsys, "--data", str(ptbxl_built), "--model", "vgg", "--out", str(tmp_path / "r")
    )
    assert code == 2 and "unknown model 'vgg'" in err and "resnet1d18" in err and "gru" in err


def test_wrong_checkpoint_errors(ptbxl_built, tmp_path, capsys):
    import zipfile

    not_keras = tmp_path / "weights.h5"
    not_keras.write_bytes(b"\x89HDF")
    not_a_zip = tmp_path / "broken.keras"
    not_a_zip.write_text("not a model")
    not_a_model = tmp_path / "empty.keras"
    with zipfile.ZipFile(not_a_model, "w") as archive:
        archive.writestr("notes.txt", "no model in here")
    cases = ((not_keras, "is not a Keras checkpoint"), (not_a_zip, "is not a Keras checkpoint"),
             (not_a_model, "could not be loaded as a Keras model"),
             (tmp_path / "missing.keras", "not found"))
    for path, message in cases:
        code, err = _train_error(capsys, "--data", str(ptbxl_built), "--model", "lstm",
                                 "--out", str(tmp_path / "r"), "--finetune-from", str(path))
        assert code == 2 and message in err and str(path) in err
        assert len(err.splitlines()) == 1
        assert cli.main(["evaluate", "--model", str(path), "--data", str(ptbxl_built)]) == 2
        assert message in capsys.readouterr().err


def test_checkpoint_with_other_input_shape_is_refused(ptbxl_built, tmp_path, capsys):
    from ecg_tl_keras.models import build_model

    build_model("lstm", 5, input_shape=(500, 12)).save(tmp_path / "short.keras")
    code, err = _train_error(capsys, "--data", str(ptbxl_built), "--model", "lstm", "--out",
                             str(tmp_path / "r"), "--finetune-from", str(tmp_path / "short.keras"))
    assert code == 2 and "input length 500 samples, data 1000" in err and "short.keras" in err


def test_predictions_trace_once_per_model_whatever_the_batch_sizes():
    from ecg_tl_keras.training.evaluation import Predictor

    model = keras.Sequential([keras.Input((5, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    splits = [tf.data.Dataset.from_tensor_slices(rng.random((n, 5, 2), "float32")).batch(4)
              for n in (9, 6, 3)]  # last batches of 1, 2 and 3 records
    first = Predictor(model)
    outputs = [first(split) for split in splits] + [Predictor(model)(splits[0])]
    assert [len(output) for output in outputs] == [9, 6, 3, 9]
    assert first._forward.experimental_get_tracing_count() == 1


def test_custom_optimizer_loss_and_monitor_from_the_cli(ptbxl_built, tmp_path, capsys,
                                                        fast_model):
    run_dir = tmp_path / "run"
    assert cli.main(["train", "--data", str(ptbxl_built), "--model", FAST_MODEL, "--out",
                     str(run_dir),
                     "--epochs", "2", "--batch-size", "64", "--optimizer", "adamw",
                     "--loss", "binary_focal_crossentropy", "--monitor", "val_loss"]) == 0
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert (config["optimizer"], config["loss"], config["monitor"]) == (
        "adamw", "binary_focal_crossentropy", "val_loss")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    losses = [float(row["val_loss"]) for row in _history(run_dir)]
    assert metrics["monitor"] == "val_loss" and metrics["best_epoch"] == 1 + int(np.argmin(losses))
    model, _ = load_checkpoint(run_dir / "best.keras")
    capsys.readouterr()
    assert cli.main(["train", "--data", str(ptbxl_built), "--model", "gru", "--out",
                     str(tmp_path / "bad"), "--optimizer", "adamm"]) == 2
    assert "optimizer 'adamm'" in capsys.readouterr().err


class _NegativeEpochKey(keras.callbacks.Callback):
    """Adds ``val_custom`` = -(1-based epoch): the first epoch is the best."""

    def on_epoch_end(self, epoch, logs=None):
        logs["val_custom"] = -float(epoch + 1)


def test_custom_model_optimizer_schedule_callbacks_and_monitor_from_python(ptbxl_built, tmp_path):
    model = keras.Sequential([keras.Input((1000, 12)), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(5, activation="sigmoid")])
    schedule = {"class_name": "CosineDecay",
                "config": {"initial_learning_rate": 0.05, "decay_steps": 6}}
    config = _config(ptbxl_built, tmp_path / "run", model="my_pooling_model", epochs=2,
                     optimizer={"class_name": "SGD", "config": {"learning_rate": schedule}},
                     loss={"class_name": "BinaryFocalCrossentropy", "config": {"gamma": 3.0}},
                     monitor="val_custom")
    first_epoch = []
    keep = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: first_epoch.append(model.get_weights()) if epoch == 0
        else None)
    metrics = train(config, model=model, callbacks=[_NegativeEpochKey(), keep])
    assert metrics["best_epoch"] == 1 and metrics["best_monitor_value"] == -1.0
    assert [row["val_custom"] for row in _history(tmp_path / "run")] == ["-1.0", "-2.0"]
    for restored, kept in zip(model.get_weights(), first_epoch[0]):
        np.testing.assert_array_equal(restored, kept)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert TrainConfig.from_dict(stored) == config


def test_console_prints_one_line_per_epoch(ptbxl_built, tmp_path, capsys, fast_model):
    train(_config(ptbxl_built, tmp_path / "run", verbose=2))
    lines = capsys.readouterr().out.splitlines()
    epoch_lines = [line for line in lines if line.lower().startswith("epoch")]
    assert [line.split()[1] for line in epoch_lines] == ["1/2", "2/2"]
    assert all("loss " in line and "val_weighted_f1 " in line and "best " in line
               for line in epoch_lines)
    assert not any("step" in line for line in lines)  # no Keras progress bar lines


def test_epoch_line_shows_the_best_epoch_so_far():
    best = cb.BestWeights("val_weighted_f1")
    best.best_value, best.best_epoch = 0.5, 1
    line = cb.EpochLine(3, ["val_weighted_f1"], best, log=print).format(
        1, {"loss": 0.25, "val_weighted_f1": 0.4}, 2.0)
    assert line == "epoch 2/3  loss 0.2500  val_weighted_f1 0.4000  best 0.5000 (epoch 1)  2.0 s"
