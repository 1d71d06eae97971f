"""--precision: the auto table, policies, checkpoints across precisions, best-epoch selection."""

import keras
import numpy as np
import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.models import build_model, replace_head
from ecg_tl_keras.precision import (
    Device, apply_precision, auto_precision, loss_scaled, model_precision, resolve_precision)
from ecg_tl_keras.training import TrainConfig
from ecg_tl_keras.training import callbacks as cb
from ecg_tl_keras.study.stats import no_skill_baselines
from ecg_tl_keras.training.evaluation import EvalSplit

PLAIN_CPU = Device("cpu", "x86", bf16=False)
BF16_CPU = Device("cpu", "x86", bf16=True, cpu_flags=("avx512_bf16",))


@pytest.mark.parametrize("family, device, expected", [
    ("cnn", PLAIN_CPU, "float32"),
    ("rnn", PLAIN_CPU, "float32"),
    ("cnn", BF16_CPU, "mixed_bfloat16"),
    ("rnn", BF16_CPU, "float32"),
    ("transformer", BF16_CPU, "float32"),
    ("cnn", Device("gpu", "V100", compute_capability=(7, 0)), "mixed_float16"),
    ("cnn", Device("gpu", "P100", compute_capability=(6, 0)), "float32"),
    ("rnn", Device("gpu", "A100", compute_capability=(8, 0)), "float32"),
])
def test_auto_table(family, device, expected):
    assert auto_precision(family, device) == expected
    assert resolve_precision("auto", family, device) == expected
    assert resolve_precision("mixed_float16", family, device) == "mixed_float16"


@pytest.mark.parametrize("backend, family, device, expected", [
    ("tensorflow", "cnn", BF16_CPU, "mixed_bfloat16"),
    ("jax", "cnn", BF16_CPU, "float32"),  # bf16 ResNet1d18 was slower in one of 4 rounds
    ("jax", "rnn", BF16_CPU, "float32"),  # JAX's bf16 GRU trained many times slower
    ("tensorflow", "rnn", BF16_CPU, "float32"),
    ("torch", "cnn", BF16_CPU, "float32"),  # unmeasured: never risk slower than float32
    ("jax", "cnn", PLAIN_CPU, "float32"),
    ("jax", "cnn", Device("gpu", "V100", compute_capability=(7, 0)), "mixed_float16"),
])
def test_auto_table_per_backend(backend, family, device, expected):
    assert auto_precision(family, device, backend=backend) == expected
    assert resolve_precision("auto", family, device, backend=backend) == expected
    assert resolve_precision("float32", family, device, backend=backend) == "float32"


def test_auto_defaults_to_the_backend_in_use():
    backend = keras.backend.backend()
    for family in ("cnn", "rnn"):
        assert auto_precision(family, BF16_CPU) == auto_precision(family, BF16_CPU, backend)


def test_bad_precision_is_one_line_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="precision must be one of auto, float32"):
        TrainConfig(data="d", model="gru", out="o", precision="half")
    assert TrainConfig(data="d", model="gru", out="o").precision == "auto"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--data", str(tmp_path), "--model", "gru", "--out", "o",
                  "--precision", "half"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'half'" in capsys.readouterr().err


@pytest.mark.parametrize("name, architecture", [("resnet1d18", {"width": 8}), ("bilstm", {})])
def test_precision_changes_compute_not_weights(name, architecture, tmp_path):
    x = np.random.default_rng(0).normal(0, 0.5, (3, 64, 12)).astype("float32")
    model = build_model(name, 3, input_shape=(64, 12), head="mlp", **architecture)
    mixed = apply_precision(model, "mixed_bfloat16")
    assert model_precision(model) == "float32" and model_precision(mixed) == "mixed_bfloat16"
    for layer in ("normalization", "head_hidden", "head"):
        assert mixed.get_layer(layer).compute_dtype == "float32"
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), mixed.get_weights()))
    assert not np.array_equal(mixed.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(mixed.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=0.05)

    mixed.save(tmp_path / "mixed.keras")  # a checkpoint saved under mixed precision ...
    loaded = keras.saving.load_model(tmp_path / "mixed.keras", safe_mode=True)
    assert model_precision(loaded) == "mixed_bfloat16"
    back = apply_precision(loaded, "float32")  # ... computes in float32 again, bit for bit
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    assert apply_precision(back, "float32") is back


def test_float16_scales_the_loss():
    model = apply_precision(build_model("gru", 2, input_shape=(32, 12), units=4), "mixed_float16")
    model.compile(loss_scaled(keras.optimizers.Adam(1e-3), "mixed_float16"),
                  "binary_crossentropy")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.default_rng(0).normal(0, 0.5, (8, 32, 12)).astype("float32")
    loss = model.train_on_batch(x, np.ones((8, 2), "float32"))
    assert np.isfinite(loss)
    assert loss_scaled(keras.optimizers.Adam(), "mixed_bfloat16").__class__ is keras.optimizers.Adam


class _EpochWeights(keras.callbacks.Callback):
    """Records the model's weights at every epoch end (before the best-weights callback runs)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])


class _Scripted(keras.callbacks.Callback):
    """Puts ``values[epoch]`` into the logs as ``scripted``: a best epoch that is not the last."""

    def __init__(self, values):
        super().__init__()
        self.values = list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs["scripted"] = self.values[epoch]


EPOCHS = 6
SCRIPTED = [0.1, 0.5, 0.9, 0.3, 0.9, 0.2]  # best: epoch 3 (the first of two equal highs)


def _finetune(checkpoint, precision, x, y, splits, monitors=("val_weighted_f1",)):
    """Fine-tunes ``checkpoint`` under ``precision`` with one BestWeights per monitor (each
    restores its best epoch at the end, in order: the model ends with the last one's)."""
    keras.utils.set_random_seed(1)  # the new head too: a run does not depend on the ones before
    source = keras.saving.load_model(checkpoint, safe_mode=True)
    model = apply_precision(replace_head(source, y.shape[1]), precision)
    model.compile(loss_scaled(keras.optimizers.Adam(0.01), precision), "binary_crossentropy")
    record, bests = _EpochWeights(), [cb.BestWeights(monitor) for monitor in monitors]
    history = model.fit(x, y, batch_size=16, epochs=EPOCHS, verbose=0, shuffle=False,
                        callbacks=[cb.SplitMetrics(splits), _Scripted(SCRIPTED), record, *bests])
    return model, record, bests, history.history


def _finetune_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.5, (96, 48, 12)).astype("float32")
    y = np.stack([x[:, :, 0].mean(1) > 0, x[:, :, 1].std(1) > 0.5], axis=1).astype("float32")
    ids = [str(i) for i in range(len(x))]
    splits = (EvalSplit.from_arrays("val", x[:48], y[:48], ids[:48], batch_size=16),
              EvalSplit.from_arrays("test", x[48:], y[48:], ids[48:], batch_size=16))
    return x, y, splits


def _check_selection(model, best, history, used, y):
    """Selection on the validation F1: the first epoch with the highest score, and a model that
    learned (above the best constant predictor), under the precision ``used``."""
    scores = history["val_weighted_f1"]
    assert model_precision(model) == used
    assert best.best_epoch == int(np.argmax(scores)) + 1
    assert best.best_value == max(scores)
    constant = no_skill_baselines(y[:48], None)["constant"]
    assert best.best_value > constant + 0.05, (used, best.best_value, constant)


@pytest.fixture(scope="module")
def float32_checkpoint(tmp_path_factory):
    """A float32 resnet1d18 checkpoint (every layer, 8 filters wide: what is tested is the
    policy, not the width), and its float32 fine-tune's selection checked: once for both mixed
    policies (the same seeded run)."""
    path = tmp_path_factory.mktemp("precision") / "float32.keras"
    keras.utils.set_random_seed(0)
    build_model("resnet1d18", 3, input_shape=(48, 12), width=8).save(path)
    x, y, splits = _finetune_problem()
    model, _, (best,), history = _finetune(path, "float32", x, y, splits)
    _check_selection(model, best, history, "float32", y)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.xdist_group("precision_float32_checkpoint")  # one worker builds the fixture once
def test_mixed_finetune_from_float32_checkpoint_restores_the_best_epoch(precision,
                                                                        float32_checkpoint):
    x, y, splits = _finetune_problem()
    # One fit selects on the validation F1 and, restored last, on a scripted score whose best
    # epoch is not the last: the model ends with exactly that epoch's weights (the device copy),
    # which differ from the last epoch's.
    model, record, (best, scripted), history = _finetune(
        float32_checkpoint, precision, x, y, splits, monitors=("val_weighted_f1", "scripted"))
    _check_selection(model, best, history, precision, y)
    assert scripted.best_epoch == 3
    for restored, expected in zip(model.get_weights(), record.weights[2]):
        np.testing.assert_array_equal(restored, expected)
    assert any(not np.array_equal(restored, last)
               for restored, last in zip(model.get_weights(), record.weights[-1]))
