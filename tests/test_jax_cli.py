"""``evaluate``, ``predict``, fine-tuning strategies and ``study run`` under ``KERAS_BACKEND=jax``
with TensorFlow unimportable (``jax_processes``), checked against this process (TensorFlow).

``.keras`` checkpoints are backend-portable: one trained under TensorFlow is evaluated under
JAX and one trained under JAX under TensorFlow, to the same metrics and probabilities.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess

import numpy as np
import pytest
from fast_backbone import NAME as FAST_BACKBONE
from fast_backbone import registered
from jax_processes import (commands_without_tensorflow, python_without_tensorflow,
                           run_without_tensorflow)

EPOCHS, BATCH, LR = 2, 64, 0.01

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed"),
]


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def backbone_module(tmp_path_factory):
    """The module registering the fast test backbone (one fine-tuning stage, as a recurrent
    backbone has), for ``--import``; registered in this process while the fixture lives."""
    with registered(tmp_path_factory.mktemp("fast_backbone")) as module:
        yield module


@pytest.fixture(scope="module")
def checkpoints(ptbxl_built, backbone_module, tmp_path_factory) -> dict:
    """The fast test backbone trained on the built sample under each backend:
    ``{"tensorflow": ..., "jax": ...}`` (the ``best.keras`` of each run)."""
    from ecg_tl_keras.training import TrainConfig, train

    root = tmp_path_factory.mktemp("jax_cli")
    settings = dict(model=FAST_BACKBONE, epochs=EPOCHS, batch_size=BATCH, lr=LR)
    train(TrainConfig(data=str(ptbxl_built), out=str(root / "tf"), verbose=0, **settings))
    _ok(run_without_tensorflow("--import", backbone_module, "train", "--data", ptbxl_built,
                               "--out", root / "jax",
                               *[f"--{key.replace('_', '-')}={value}"
                                 for key, value in settings.items()]))
    return {"tensorflow": root / "tf" / "best.keras", "jax": root / "jax" / "best.keras"}


#: The one-device fine-tunes of ``test_every_builtin_strategy_finetunes_under_jax``:
#: ``(strategy, checkpoint trained under)``.
ONE_DEVICE_FINETUNES = [("full", "jax"), ("linear", "tensorflow"), ("gradual", "tensorflow"),
                        ("lp-ft", "jax")]


def _finetune_command(module, data, run, checkpoint, strategy) -> list:
    return ["--import", module, "train", "--data", data, "--model", FAST_BACKBONE, "--out", run,
            "--epochs", EPOCHS, "--batch-size", BATCH, "--lr", LR, "--finetune-from", checkpoint,
            "--finetune", strategy]


@pytest.fixture(scope="module")
def jax_runs(checkpoints, backbone_module, ptbxl_built, sample_data, tmp_path_factory) -> dict:
    """``evaluate`` of both checkpoints, ``predict`` on raw records (one that cannot be read)
    and the one-device fine-tunes, run one after the other by one TensorFlow-free JAX process:
    ``{"evaluate": {trained_under: (done, out)}, "predict": (done, records, out),
    "finetune": {(strategy, source): run}}``."""
    root = tmp_path_factory.mktemp("jax_runs")
    evaluations = {under: root / f"eval_{under}.json" for under in checkpoints}
    folder = sample_data / "ptbxl" / "records100" / "00000"
    broken = root / "broken.hea"
    broken.write_text("not a header\n")
    records = [str(folder / f"0000{i}_lr.hea") for i in (1, 2, 3)] + [str(broken)]
    finetunes = {case: root / "-".join(case) for case in ONE_DEVICE_FINETUNES}
    done = commands_without_tensorflow(
        *[["evaluate", "--checkpoint", checkpoints[under], "--data", ptbxl_built, "--out", out]
          for under, out in evaluations.items()],
        ["predict", "--checkpoint", checkpoints["tensorflow"], *records,
         "--out", root / "predictions.json"],
        *[_finetune_command(backbone_module, ptbxl_built, run, checkpoints[source], strategy)
          for (strategy, source), run in finetunes.items()])
    for finetune in done[len(evaluations) + 1:]:
        _ok(finetune)
    return {"evaluate": {under: (done[i], out) for i, (under, out) in
                         enumerate(evaluations.items())},
            "predict": (done[len(evaluations)], records, root / "predictions.json"),
            "finetune": finetunes}


@pytest.mark.parametrize("trained_under", ["tensorflow", "jax"])
def test_evaluate_under_jax_equals_tensorflow(checkpoints, ptbxl_built, jax_runs, trained_under):
    from ecg_tl_keras.training.evaluation import evaluate_checkpoint

    done, out = jax_runs["evaluate"][trained_under]
    _ok(done)
    under_jax = json.loads(out.read_text())
    under_tensorflow = evaluate_checkpoint(str(checkpoints[trained_under]), ptbxl_built)
    assert under_jax["records"] == under_tensorflow["records"] == 39
    for key in ("weighted_f1", "macro_f1", "macro_auc"):
        assert under_jax[key] == pytest.approx(under_tensorflow[key], abs=1e-6)
        assert f"{under_jax[key]:.4f}" in done.stdout
    assert under_jax["per_label_f1"] == pytest.approx(under_tensorflow["per_label_f1"], abs=1e-6)


def test_predict_under_jax_equals_tensorflow(checkpoints, jax_runs):
    """Raw records (and one that cannot be read) through the TensorFlow-free record reader."""
    from ecg_tl_keras.training.prediction import predict_batch

    done, records, out = jax_runs["predict"]
    assert done.returncode == 1, done.stderr[-3000:]  # one record failed, the others written
    assert "predicted 3 of 4 records" in done.stderr
    rows = json.loads(out.read_text())["records"]
    expected = predict_batch(str(checkpoints["tensorflow"]), records)
    assert [row["status"] for row in rows] == [row.status for row in expected.rows]
    assert rows[3]["reason"] == expected.rows[3].reason
    for row, reference in zip(rows[:3], expected.rows[:3]):
        probabilities = [row["labels"][name]["probability"] for name in expected.labels]
        np.testing.assert_allclose(probabilities, reference.probabilities, atol=2e-6)


def _backbone_weights(checkpoint) -> list[np.ndarray]:
    from ecg_tl_keras.training.checkpoints import load_checkpoint

    return load_checkpoint(str(checkpoint))[0].get_layer("backbone").get_weights()


def _same(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("strategy, source, devices", [
    *[(strategy, source, 1) for strategy, source in ONE_DEVICE_FINETUNES],
    ("lp-ft", "tensorflow", 2)])
def test_every_builtin_strategy_finetunes_under_jax(checkpoints, backbone_module, ptbxl_built,
                                                    jax_runs, tmp_path, strategy, source,
                                                    devices):
    """Each strategy's phases run (the logged learning rate is the phase's) and its frozen
    backbone stays bit for bit the checkpoint's: always for ``linear``; for ``gradual`` and
    ``lp-ft`` (the test backbone's one stage trains from epoch 2) exactly when epoch 1 is the
    best.
    On two devices (``--strategy data-parallel``), the compiled steps are rebuilt when the
    backbone is unfrozen (their output layout lists trainable and frozen weights apart).
    The one-device runs are ``jax_runs``'s; the two-device one has a process of its own."""
    from ecg_tl_keras.training.strategies import STRATEGIES, finetune_phases

    assert set(STRATEGIES.names()) >= {"full", "linear", "gradual", "lp-ft"}
    run = jax_runs["finetune"].get((strategy, source))
    if devices > 1:
        run = tmp_path / "run"
        _ok(run_without_tensorflow(*_finetune_command(backbone_module, ptbxl_built, run,
                                                      checkpoints[source], strategy),
                                   "--strategy", "data-parallel", devices=devices))
    metrics = json.loads((run / "metrics.json").read_text())
    phases = finetune_phases(strategy, 1, EPOCHS)
    assert metrics["finetune"] == strategy
    assert json.loads((run / "config.json").read_text())["replicas"] == devices
    with open(run / "history.csv", newline="") as handle:
        rates = [float(row["lr"]) for row in csv.DictReader(handle)]
    factors = [next(p for p in reversed(phases) if p.start_epoch <= epoch).lr_factor
               for epoch in range(EPOCHS)]
    assert rates == pytest.approx([LR * factor for factor in factors], rel=1e-6)
    backbone_kept = _same(_backbone_weights(checkpoints[source]),
                          _backbone_weights(run / "best.keras"))
    trains_backbone_first = phases[0].stages is None
    frozen_at_best = all(p.stages == 0 for p in phases if p.start_epoch < metrics["best_epoch"])
    assert backbone_kept == (frozen_at_best and not trains_backbone_first)


FROZEN_STEP = """
import json, keras, numpy as np
from ecg_tl_keras.training.frozen_updates import follow_trainable_variables
keras.utils.set_random_seed(0)
inputs = keras.Input((16, 3))
x = keras.layers.Conv1D(4, 3, name="conv")(inputs)
x = keras.layers.BatchNormalization(name="bn")(x)
x = keras.layers.GlobalAveragePooling1D()(x)
model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
model.compile(optimizer="adamw", loss="mse")
model.optimizer.build(model.trainable_variables)
for name in ("conv", "bn"):
    model.get_layer(name).trainable = False
follow_trainable_variables(model.optimizer, model)
before = {name: [w.copy() for w in model.get_layer(name).get_weights()]
          for name in ("conv", "bn", "head")}
x, y = np.random.default_rng(0).normal(3.0, 2.0, (32, 16, 3)), np.ones((32, 2))
model.fit(x, y, batch_size=8, epochs=2, verbose=0)
kept = {name: all(np.array_equal(a, b)
                  for a, b in zip(weights, model.get_layer(name).get_weights()))
        for name, weights in before.items()}
slots = {v.path: float(np.abs(keras.ops.convert_to_numpy(v)).sum())
         for v in model.optimizer.variables if v.path.endswith(("momentum", "velocity"))}
try:
    follow_trainable_variables(keras.optimizers.Adam(use_ema=True), model)
    ema = None
except ValueError as error:
    ema = str(error)
print(json.dumps({"kept": kept, "iterations": int(model.optimizer.iterations.numpy()),
                  "slots": slots, "ema": ema}))
"""


def test_frozen_layers_and_their_optimizer_slots_stay_as_they_are_under_jax():
    """Frozen convolution and batch normalization (its moving statistics too: inference
    mode) unchanged by AdamW (weight decay included) while the head trains; only the
    head's moments move. An optimizer averaging every weight (``use_ema``) is refused."""
    done = _ok(python_without_tensorflow("-c", FROZEN_STEP))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kept"] == {"conv": True, "bn": True, "head": False}
    assert result["iterations"] == 8
    assert len(result["slots"]) == 12  # a moment and a velocity per weight, frozen or not
    assert {path for path, total in result["slots"].items() if total > 0} == {
        path for path in result["slots"] if "/head_" in path}
    assert "with use_ema cannot train a model with frozen layers" in result["ema"]


STUDY_PLAN = f"""
upstream = ["georgia"]
downstream = ["ptbxl"]
models = ["{FAST_BACKBONE}"]
seeds = 1
epochs = {EPOCHS}
finetune = "linear"
select_on = "val"
batch_size = {BATCH}
lr = {LR}
[train]
val_fold = 0
"""


def test_study_run_and_report_under_jax(backbone_module, data_root, tmp_path):
    """A three-cell study (two scratch cells, one frozen-backbone fine-tune) and its report,
    run one after the other by one TensorFlow-free process."""
    plan = tmp_path / "tiny.toml"
    plan.write_text(STUDY_PLAN)
    study = tmp_path / "study"
    done, reported = commands_without_tensorflow(
        ["--import", backbone_module, "study", "run", "--plan", plan, "--data-root", data_root,
         "--out", study],
        ["--import", backbone_module, "study", "report", study, "--out", tmp_path / "report"])
    assert "3/3 cells done" in _ok(done).stdout
    results = {path.stem: json.loads(path.read_text())
               for path in (study / "results").glob("*.json")}
    assert sorted(results) == [f"finetune__georgia-to-ptbxl__{FAST_BACKBONE}__seed0",
                               f"scratch__georgia__{FAST_BACKBONE}__seed0",
                               f"scratch__ptbxl__{FAST_BACKBONE}__seed0"]
    for key, result in results.items():
        config = json.loads((study / result["run_dir"] / "config.json").read_text())
        assert config["versions"]["keras_backend"] == "jax"
        assert config["versions"]["tensorflow"] is None
        assert 0.0 <= result["metrics"]["test_weighted_f1"] <= 1.0
    finetune = json.loads((study / "runs" / f"finetune__georgia-to-ptbxl__{FAST_BACKBONE}__seed0"
                           / "metrics.json").read_text())
    assert finetune["finetune"] == "linear"
    _ok(reported)
    assert "finetune" in (tmp_path / "report" / "report.md").read_text()


def test_advise_all_three_stages_under_jax(checkpoints, backbone_module, ptbxl_built, tmp_path):
    """``advise --last-stage finetune`` on the TensorFlow-trained test backbone: scored (the
    same MELEP and LogME as under TensorFlow), probed, ranked against its random-encoder baseline,
    fine-tuned and trained from scratch for one seed and one epoch, every run under JAX."""
    from ecg_tl_keras.advise.features import frozen_outputs, load_target
    from ecg_tl_keras.advise.leep import melep
    from ecg_tl_keras.advise.logme import logme
    from ecg_tl_keras.training.checkpoints import load_checkpoint

    out = tmp_path / "advice"
    done = _ok(run_without_tensorflow(
        "--import", backbone_module, "advise", "--data", ptbxl_built, "--checkpoint",
        checkpoints["tensorflow"], "--out", out,
        "--last-stage", "finetune", "--seeds", 1, "--top", 1, "--epochs", 1, "--batch-size",
        BATCH, "--lr", LR))
    advice = json.loads((out / "advice.json").read_text())
    assert advice["stages_done"] == ["score", "probe", "finetune"]
    assert advice["recommendation"] in (out / "advice.md").read_text()
    assert f"advice: {out / 'advice.md'}" in done.stdout
    candidate, baseline = advice["candidates"]
    assert candidate["compatible"] and {candidate["rank"], baseline["rank"]} == {1, 2}
    assert set(candidate["scores"]) >= {"melep", "logme", "probe_val_f1", "probe_test_f1"}
    assert (baseline["kind"], baseline["of"]) == ("baseline", [candidate["name"]])

    target = load_target(ptbxl_built, advice["val_fold"])  # the scores under TensorFlow
    features, probs = frozen_outputs(load_checkpoint(str(checkpoints["tensorflow"]))[0],
                                     target.train)
    assert candidate["scores"]["melep"] == pytest.approx(melep(probs, target.train.y), abs=1e-5)
    assert candidate["scores"]["logme"] == pytest.approx(logme(features, target.train.y),
                                                         abs=1e-4)

    measured = advice["finetune"][candidate["name"]]
    for name, role in ((candidate["name"], "finetune"), (f"scratch-{FAST_BACKBONE}", "scratch")):
        run = out / "runs" / name / "seed0"
        metrics = json.loads((run / "metrics.json").read_text())
        versions = json.loads((run / "config.json").read_text())["versions"]
        assert (versions["keras_backend"], versions["tensorflow"]) == ("jax", None)
        assert metrics["epochs"] == 1 and 0.0 <= metrics["test_weighted_f1"] <= 1.0
        assert measured[f"{role}_test_f1"] == [metrics["test_weighted_f1"]]
    assert measured["gains"] == [pytest.approx(measured["finetune_test_f1"][0]
                                               - measured["scratch_test_f1"][0])]
