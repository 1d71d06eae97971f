"""``bench/gpu_check.sh`` on CPU under the JAX backend with TensorFlow unimportable: it runs,
needs no TensorFlow, and writes its summary (runs that saw no GPU listed as such)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_gpu_check_runs_under_jax_without_tensorflow(tmp_path):
    summary_file = tmp_path / "gpu.json"
    env = {**os.environ, "BACKENDS": "jax", "RUN_SECONDS": "300", "GPU_JSON": str(summary_file),
           "BENCH_ARGS": "--models gru --batch-size 8 --steps 1 --warmup 1 --rounds 1",
           "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT / "bench" / "no_tensorflow"),
                                                       os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(["bash", str(PROJECT_ROOT / "bench" / "gpu_check.sh")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    assert sorted(summary["samples_per_s"]) == ["jax/float32", "jax/mixed_float16"]
    assert all(rate["gru"] > 0 for rate in summary["samples_per_s"].values())
    assert summary["not_on_a_gpu"] == ["jax/float32", "jax/mixed_float16"]
