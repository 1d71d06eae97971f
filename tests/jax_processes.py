"""``ecg-tl-keras`` commands run under ``KERAS_BACKEND=jax`` with TensorFlow unimportable.

Each run is a subprocess with ``bench/no_tensorflow`` on ``PYTHONPATH`` (``import
tensorflow`` fails there as if it were not installed), so a test shows the JAX path never
needs TensorFlow even in an environment that has it.
"""

from __future__ import annotations

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
