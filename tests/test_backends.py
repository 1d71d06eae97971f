"""The models under every Keras backend present: JAX, PyTorch (TensorFlow: tests/test_models.py).

Each check runs in a subprocess with ``KERAS_BACKEND`` set, since Keras picks its
backend once per process; a backend whose package is not installed is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OTHER_BACKENDS = ("jax", "torch")
SMALL_SHAPE = (64, 12)


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _backend_param(backend: str):
    return pytest.param(backend, marks=pytest.mark.skipif(
        not _installed(backend), reason=f"{backend} is not installed"))


BACKENDS = [_backend_param(backend) for backend in OTHER_BACKENDS]


#: XLA compiles every eager JAX operation for its shapes, on CPU mostly for one small call:
#: without the backend's optimisation passes the contract process compiles in a third less time
#: (the checks compare outputs within the process, so they stay the same checks).
QUICK_XLA = "--xla_backend_optimization_level=0"


def run_under(backend: str, code: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Runs ``python -c code`` from the project root under ``KERAS_BACKEND=backend``."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           "XLA_FLAGS": " ".join(filter(None, [os.environ.get("XLA_FLAGS"), QUICK_XLA])),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_json(backend: str, code: str) -> dict:
    """Runs ``code`` (which prints one JSON line last) and returns that JSON."""
    done = run_under(backend, code)
    assert done.returncode == 0, f"{backend}: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _backbone_names() -> list:
    from ecg_tl_keras.models import available_backbones

    return available_backbones()


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_fit_on_numpy_arrays(backend):
    """A user's compile/fit/predict, fine-tuning and .keras round trip on plain NumPy arrays."""
    result = run_json(backend, """
import json, tempfile
import numpy as np, keras
from ecg_tl_keras.models import build_model, freeze_backbone, replace_head
rng = np.random.default_rng(0)
x = rng.normal(0, 0.5, (32, 64, 12)).astype("float32")
y = (rng.random((32, 3)) > 0.5).astype("float32")
model = build_model("gru", 3, input_shape=(64, 12), units=8,
                    normalization=([0.0] * 12, [0.5] * 12))
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
target = replace_head(model, 2)
freeze_backbone(target)
backbone = [np.array(w) for w in target.get_layer("backbone").get_weights()]
target.compile(optimizer="adam", loss="binary_crossentropy")
target.fit(x, y[:, :2], batch_size=8, epochs=1, verbose=0)
frozen = all(np.array_equal(a, np.array(b)) for a, b in
             zip(backbone, target.get_layer("backbone").get_weights()))
with tempfile.TemporaryDirectory() as folder:
    target.save(folder + "/m.keras")
    loaded = keras.saving.load_model(folder + "/m.keras", safe_mode=True)
same = np.array_equal(np.asarray(loaded.predict(x, verbose=0)),
                      np.asarray(target.predict(x, verbose=0)))
print(json.dumps({"loss": history.history["loss"], "frozen": frozen, "same": same,
                  "shape": list(np.asarray(model.predict(x, verbose=0)).shape)}))
""")
    assert result["shape"] == [32, 3]
    assert result["loss"][-1] < result["loss"][0], result["loss"]
    assert result["frozen"], "freeze_backbone let the backbone weights change"
    assert result["same"], "the .keras round trip changed the predictions"


_CONTRACTS = """
import json, sys
import ecg_tl_keras, ecg_tl_keras.models, ecg_tl_keras.backends
from ecg_tl_keras.training import TrainConfig
tensorflow = sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow')
from ecg_tl_keras.backends import keras_backend
from ecg_tl_keras.models import available_backbones
from ecg_tl_keras.testing import SMALL_ARCHITECTURES, check_backbone
summaries = {}
for name in available_backbones():
    try:
        summaries[name] = check_backbone(name, input_shape=%r,
                                         **SMALL_ARCHITECTURES.get(name, {}))
    except Exception as error:  # reported per backbone by the test
        summaries[name] = {"error": f"{type(error).__name__}: {error}"}
print(json.dumps({"backend": keras_backend(), "tensorflow": tensorflow,
                  "summaries": summaries}))
""" % (SMALL_SHAPE,)


@pytest.fixture(scope="module")
def contracts_under():
    """``check_backbone`` of every backbone under a backend, all in one process per backend,
    which first imports the package and records the TensorFlow modules that import loaded.

    One process compiles the operations the backbones share once (under JAX, eager
    operations compile per shape: separate processes took twice as long).
    """
    results = {}

    def contracts(backend):
        if backend not in results:
            results[backend] = run_json(backend, _CONTRACTS)
        return results[backend]

    return contracts


def _in_contract_group(backend):
    """A backend's parameter in that backend's xdist group: one worker runs the backend's one
    contract process, while another worker can run the other backend's."""
    return pytest.param(*backend.values, marks=[
        *backend.marks, pytest.mark.xdist_group(f"contracts_{backend.values[0]}")])


@pytest.mark.parametrize("backend", map(_in_contract_group, BACKENDS))
def test_models_import_without_tensorflow(contracts_under, backend):
    result = contracts_under(backend)
    assert (result["backend"], result["tensorflow"]) == (backend, [])


@pytest.mark.parametrize("name", _backbone_names())
@pytest.mark.parametrize("backend", map(_in_contract_group, BACKENDS))
def test_backbone_contract_under_backend(contracts_under, backend, name):
    """``ecg_tl_keras.testing.check_backbone`` (the same harness the TensorFlow tests run)."""
    result = contracts_under(backend)
    assert result["backend"] == backend
    summary = result["summaries"][name]
    assert "error" not in summary, f"{backend}-{name}: {summary.get('error')}"
    assert summary["features"] >= 1 and summary["stages"]


_REFUSALS = """
import contextlib, io, json
from ecg_tl_keras.cli import main
from ecg_tl_keras.training import TrainConfig, train
refusals = []
for command in %r:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(command)
    refusals.append({"status": status, "lines": stderr.getvalue().strip().splitlines()})
try:
    train(TrainConfig(data=%r, model="gru", out="x"))
    from_python = None
except Exception as error:
    from_python = f"{type(error).__name__}: {error}"
print(json.dumps({"refusals": refusals, "from_python": from_python}))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_commands_name_the_backends_they_need(backend, tmp_path):
    """``train``, ``evaluate``, ``predict``, ``demo`` and ``advise`` run under TensorFlow or
    JAX (tests/test_jax_training.py, tests/test_jax_cli.py); under another backend they refuse
    in one line naming both, from the command line and from Python. One child process per
    backend runs every command's ``main`` (the error line it prints is the policy's, whatever
    the process: tests/test_cli.py checks the policy across a process boundary)."""
    train = ["train", "--data", str(tmp_path), "--model", "gru", "--out", "x"]
    evaluate = ["evaluate", "--checkpoint", "x.keras", "--data", str(tmp_path)]
    advise = ["advise", "--data", str(tmp_path), "--checkpoint", "x.keras", "--out", "x"]
    commands = [train, evaluate, advise]
    result = run_json(backend, _REFUSALS % (commands, str(tmp_path)))
    if backend == "jax":  # each gets as far as its input
        expected = ["manifest.json not found", "manifest.json not found",
                    "--checkpoint x.keras: not found"]
        for refusal, error in zip(result["refusals"], expected, strict=True):
            assert refusal["status"] == 2 and len(refusal["lines"]) == 1, refusal
            assert error in refusal["lines"][0]
        assert "manifest.json not found" in result["from_python"], result["from_python"]
        return
    for refusal in result["refusals"]:
        assert refusal["status"] == 2 and len(refusal["lines"]) == 1, refusal
        line = refusal["lines"][0]
        assert "runs under the TensorFlow or JAX Keras backend" in line
        assert repr(backend) in line and "KERAS_BACKEND=jax" in line
    assert result["from_python"].startswith("ValueError: ")
    assert "KERAS_BACKEND=tensorflow" in result["from_python"]


def test_strategies_belong_to_their_backend():
    """``data-parallel`` is keras.distribution's (JAX); ``mirrored``/``multiworker`` are
    tf.distribute's."""
    from ecg_tl_keras.training.distribution import make_strategy

    with pytest.raises(ValueError, match="--strategy data-parallel is keras.distribution's"):
        make_strategy("data-parallel")  # this process runs TensorFlow
    result = run_json("jax", """
import json
from ecg_tl_keras.training.distribution import make_strategy
errors = {}
for name in ("mirrored", "multiworker", "nope"):
    try:
        make_strategy(name)
    except ValueError as error:
        errors[name] = str(error)
print(json.dumps({"default": make_strategy("default").num_replicas_in_sync, "errors": errors}))
""") if _installed("jax") else pytest.skip("jax is not installed")
    assert result["default"] == 1
    assert "needs KERAS_BACKEND=tensorflow" in result["errors"]["mirrored"]
    assert "needs KERAS_BACKEND=tensorflow" in result["errors"]["multiworker"]
    assert "unknown strategy 'nope'" in result["errors"]["nope"]
