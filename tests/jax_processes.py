"""``ecg-tl-keras`` commands run under ``KERAS_BACKEND=jax`` with TensorFlow unimportable.

Each run is a subprocess with ``bench/no_tensorflow`` on ``PYTHONPATH`` (``import
tensorflow`` fails there as if it were not installed), so a test shows the JAX path never
needs TensorFlow even in an environment that has it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ecg_tl_keras.training import faults

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NO_TENSORFLOW = PROJECT_ROOT / "bench" / "no_tensorflow"


def without_tensorflow(*, fault: str | None = None, devices: int = 1) -> dict:
    """The environment of a process under JAX on ``devices`` virtual CPU devices, with
    TensorFlow unimportable and, when given, the fault point ``fault`` armed."""
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu",
           "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(NO_TENSORFLOW), str(PROJECT_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    env.pop(faults.ENV, None)
    if fault is not None:
        env[faults.ENV] = fault
    return env


def run_without_tensorflow(*args, fault: str | None = None, devices: int = 1,
                           timeout: int = 900) -> subprocess.CompletedProcess:
    """``python -m ecg_tl_keras ARGS`` in the environment :func:`without_tensorflow` gives."""
    return python_without_tensorflow("-m", "ecg_tl_keras", *args, fault=fault, devices=devices,
                                     timeout=timeout)


def python_without_tensorflow(*args, fault: str | None = None, devices: int = 1,
                              timeout: int = 900) -> subprocess.CompletedProcess:
    """``python ARGS`` (``-c CODE``, ``-m MODULE ...``) from the project root in the
    environment :func:`without_tensorflow` gives."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=PROJECT_ROOT,
                          env=without_tensorflow(fault=fault, devices=devices),
                          capture_output=True, text=True, timeout=timeout)


_MAIN_PER_COMMAND = """
import contextlib, io, json, sys
from ecg_tl_keras.cli import main
done = []
for argv in json.loads(sys.argv[1]):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    done.append([argv, status, stdout.getvalue(), stderr.getvalue()])
print(json.dumps(done))
"""


def commands_without_tensorflow(*commands, devices: int = 1,
                                timeout: int = 900) -> list[subprocess.CompletedProcess]:
    """Each command (a list of ``ecg-tl-keras`` arguments) run by ``main`` in turn in one
    process of the environment :func:`without_tensorflow` gives: one import of JAX and Keras
    for them all. Returns per command its exit status and what it printed."""
    argvs = [[str(arg) for arg in command] for command in commands]
    child = python_without_tensorflow("-c", _MAIN_PER_COMMAND, json.dumps(argvs),
                                      devices=devices, timeout=timeout)
    assert child.returncode == 0, child.stderr[-3000:]
    return [subprocess.CompletedProcess(*done)
            for done in json.loads(child.stdout.strip().splitlines()[-1])]
