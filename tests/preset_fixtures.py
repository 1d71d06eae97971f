"""Small random-weight presets for the tests that fine-tune one (built by the tests), and the
quick demo's run, shared by the tests that read it."""

import os
import subprocess
import sys

import pytest

from ecg_tl_keras.models import get_backbone, save_to_preset
from ecg_tl_keras.models.conventions import convention_layer
from ecg_tl_keras.models.presets import checkpoint_preset_metadata, preset_model
from ecg_tl_keras.testing import SMALL_ARCHITECTURES

RECORD_ZSCORE = {"type": "record_zscore", "epsilon": 1e-8}
#: The xdist group of every test that uses :func:`quick_demo` (so that one worker runs it once).
QUICK_DEMO_GROUP = "quick_demo"
_QUICK_DEMO = {}


#: The preset's net1d: one stage of one block (the contract's small net1d has two stages): the
#: tests that use it check how a preset is read, fine-tuned and compared, not its depth, and
#: each fine-tune of the two-stage one spent seconds more in its steps.
PRESET_NET1D = {**SMALL_ARCHITECTURES["net1d"], "filter_list": (16,), "m_blocks_list": (1,)}


def small_net1d_preset(folder, manifest, fs=None):
    """A small random-weight net1d preset (``PRESET_NET1D``) for a built dataset's input (or
    another rate).

    Returns:
        ``(preset folder, the model saved there)``.
    """
    shape = (manifest["samples"], len(manifest["leads"]))
    model = preset_model(get_backbone("net1d", shape, **PRESET_NET1D), 3,
                         convention_layer(RECORD_ZSCORE), "net1d")
    metadata = checkpoint_preset_metadata(model, {
        "labels": ["X", "Y", "Z"], "leads": manifest["leads"], "model": "net1d",
        "fs": manifest["fs"] if fs is None else fs})
    metadata["input"]["normalization"] = RECORD_ZSCORE
    return save_to_preset(model, folder, metadata), model


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory):
    """``python -m ecg_tl_keras demo --quick --out OUT`` as a user runs it (a child process
    without the test session's TF_CPP_* settings, Python's default warnings), run once per
    test process (a module that imports this fixture gets its own fixture definition, hence
    the cache); mark the tests that use it ``xdist_group(QUICK_DEMO_GROUP)``.

    Returns:
        ``(OUT, the finished process, its stdout and stderr as text)``.
    """
    if "run" not in _QUICK_DEMO:
        from conftest import PROJECT_ROOT

        out = tmp_path_factory.mktemp("quick_demo") / "demo"
        command = [sys.executable, "-m", "ecg_tl_keras", "demo", "--quick", "--out", str(out)]
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("TF_CPP") and key != "PYTHONWARNINGS"}
        result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True,
                                timeout=900)
        _QUICK_DEMO["run"] = (out, result, (result.stdout + result.stderr).decode())
    return _QUICK_DEMO["run"]
