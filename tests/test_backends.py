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


#: The checks that run in each backend's one child process (``under_backend``), after it
#: imported the package and recorded the TensorFlow modules that import loaded. Each is a
#: function returning a JSON-able result; one that raises is reported as ``{"error": ...}``.
_CHECKS = """
import contextlib, io, json, sys, tempfile
import ecg_tl_keras, ecg_tl_keras.models, ecg_tl_keras.backends
from ecg_tl_keras.training import TrainConfig
tensorflow = sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow')
import numpy as np, keras
from ecg_tl_keras.backends import keras_backend


def user_fit():
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
    return {"loss": history.history["loss"], "frozen": frozen, "same": same,
            "shape": list(np.asarray(model.predict(x, verbose=0)).shape)}


def contracts():
    from ecg_tl_keras.models import available_backbones
    from ecg_tl_keras.testing import SMALL_ARCHITECTURES, check_backbone
    summaries = {}
    for name in available_backbones():
        try:
            summaries[name] = check_backbone(name, input_shape=%(shape)r,
                                             **SMALL_ARCHITECTURES.get(name, {}))
        except Exception as error:  # reported per backbone by the test
            summaries[name] = {"error": f"{type(error).__name__}: {error}"}
    return summaries


def refusals():
    from ecg_tl_keras.cli import main
    from ecg_tl_keras.training import train
    done = []
    for command in %(commands)r:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = main(command)
        done.append({"status": status, "lines": stderr.getvalue().strip().splitlines()})
    try:
        train(TrainConfig(data=%(data)r, model="gru", out="x"))
        from_python = None
    except Exception as error:
        from_python = f"{type(error).__name__}: {error}"
    return {"refusals": done, "from_python": from_python}


def strategies():
    from ecg_tl_keras.training.distribution import make_strategy
    errors = {}
    for name in ("mirrored", "multiworker", "nope"):
        try:
            make_strategy(name)
        except ValueError as error:
            errors[name] = str(error)
    return {"default": make_strategy("default").num_replicas_in_sync, "errors": errors}


results = {"backend": keras_backend(), "tensorflow": tensorflow}
for check in (user_fit, contracts, refusals) + ((strategies,) if results["backend"] == "jax"
                                                else ()):
    try:
        results[check.__name__] = check()
    except Exception as error:
        results[check.__name__] = {"error": f"{type(error).__name__}: {error}"}
print(json.dumps(results))
"""


def _commands(data: str) -> list:
    """The commands whose backend refusal ``test_commands_name_the_backends_they_need`` checks."""
    return [["train", "--data", data, "--model", "gru", "--out", "x"],
            ["evaluate", "--checkpoint", "x.keras", "--data", data],
            ["advise", "--data", data, "--checkpoint", "x.keras", "--out", "x"]]


@pytest.fixture(scope="module")
def under_backend(tmp_path_factory):
    """Every check of this file under a backend, all in one child process per backend: it
    imports the package (recording the TensorFlow modules that import loaded), then runs a
    user's fit, ``check_backbone`` of every backbone, the commands' refusals and the
    strategies. Returns ``{"backend", "tensorflow", check name: its result}``.

    One process imports the backend once and compiles the operations the checks share once
    (under JAX, eager operations compile per shape: separate processes took twice as long).
    """
    results = {}

    def checks(backend):
        if backend not in results:
            data = str(tmp_path_factory.mktemp(f"no_dataset_{backend}"))
            code = _CHECKS % {"shape": SMALL_SHAPE, "commands": _commands(data), "data": data}
            results[backend] = run_json(backend, code)
        return results[backend]

    return checks


def _in_backend_group(backend):
    """A backend's parameter in that backend's xdist group: one worker runs the backend's one
    child process, while another worker can run the other backend's."""
    return pytest.param(*backend.values, marks=[
        *backend.marks, pytest.mark.xdist_group(f"backend_{backend.values[0]}")])


GROUPED_BACKENDS = [_in_backend_group(backend) for backend in BACKENDS]


def _result(under_backend, backend: str, check: str):
    result = under_backend(backend)[check]
    assert "error" not in result, f"{backend} {check}: {result['error']}"
    return result


@pytest.mark.parametrize("backend", GROUPED_BACKENDS)
def test_user_fit_on_numpy_arrays(under_backend, backend):
    """A user's compile/fit/predict, fine-tuning and .keras round trip on plain NumPy arrays."""
    result = _result(under_backend, backend, "user_fit")
    assert result["shape"] == [32, 3]
    assert result["loss"][-1] < result["loss"][0], result["loss"]
    assert result["frozen"], "freeze_backbone let the backbone weights change"
    assert result["same"], "the .keras round trip changed the predictions"


@pytest.mark.parametrize("backend", GROUPED_BACKENDS)
def test_models_import_without_tensorflow(under_backend, backend):
    result = under_backend(backend)
    assert (result["backend"], result["tensorflow"]) == (backend, [])


@pytest.mark.parametrize("name", _backbone_names())
@pytest.mark.parametrize("backend", GROUPED_BACKENDS)
def test_backbone_contract_under_backend(under_backend, backend, name):
    """``ecg_tl_keras.testing.check_backbone`` (the same harness the TensorFlow tests run)."""
    summary = _result(under_backend, backend, "contracts")[name]
    assert "error" not in summary, f"{backend}-{name}: {summary.get('error')}"
    assert summary["features"] >= 1 and summary["stages"]


@pytest.mark.parametrize("backend", GROUPED_BACKENDS)
def test_commands_name_the_backends_they_need(under_backend, backend):
    """``train``, ``evaluate``, ``predict``, ``demo`` and ``advise`` run under TensorFlow or
    JAX (tests/test_jax_training.py, tests/test_jax_cli.py); under another
    backend they refuse in one line naming both, from the command line and from Python. The
    backend's child runs every command's ``main`` (the error line it prints is the policy's,
    whatever the process: tests/test_cli.py checks the policy across a process boundary)."""
    result = _result(under_backend, backend, "refusals")
    if backend == "jax":  # each gets as far as its input
        expected = ["manifest.json not found", "manifest.json not found",
                    "--checkpoint x.keras: not found"]
        for refusal, error in zip(result["refusals"], expected, strict=True):
            assert refusal["status"] == 2 and len(refusal["lines"]) == 1, refusal
            assert error in refusal["lines"][0]
        assert "manifest.json not found" in result["from_python"], result["from_python"]
        return
    assert len(result["refusals"]) == 3
    for refusal in result["refusals"]:
        assert refusal["status"] == 2 and len(refusal["lines"]) == 1, refusal
        line = refusal["lines"][0]
        assert "runs under the TensorFlow or JAX Keras backend" in line
        assert repr(backend) in line and "KERAS_BACKEND=jax" in line
    assert result["from_python"].startswith("ValueError: ")
    assert "KERAS_BACKEND=tensorflow" in result["from_python"]


def test_data_parallel_is_refused_under_tensorflow():
    """``data-parallel`` is keras.distribution's (JAX); this process runs TensorFlow."""
    from ecg_tl_keras.training.distribution import make_strategy

    with pytest.raises(ValueError, match="--strategy data-parallel is keras.distribution's"):
        make_strategy("data-parallel")


@pytest.mark.parametrize("backend", [GROUPED_BACKENDS[OTHER_BACKENDS.index("jax")]])
def test_strategies_belong_to_their_backend(under_backend, backend):
    """``mirrored``/``multiworker`` are tf.distribute's: refused under JAX."""
    result = _result(under_backend, backend, "strategies")
    assert result["default"] == 1
    assert "needs KERAS_BACKEND=tensorflow" in result["errors"]["mirrored"]
    assert "needs KERAS_BACKEND=tensorflow" in result["errors"]["multiworker"]
    assert "unknown strategy 'nope'" in result["errors"]["nope"]
