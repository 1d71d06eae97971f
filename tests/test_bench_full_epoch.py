"""``bench/bench_full_epoch.py`` run tiny: one epoch per model under the JAX backend (its child
with TensorFlow unimportable), the figures of every run in its JSON file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_full_epoch_bench_runs_tiny_and_writes_every_figure(tmp_path):
    out = tmp_path / "full_epoch.json"
    rates = PROJECT_ROOT / "ecg_tl_keras" / "study" / "measured_rates.json"
    rates_before = rates.read_bytes() if rates.exists() else None
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "bench_full_epoch.py"), "--records", "80",
         "--backends", "jax", "--models", "gru", "--batch-size", "32", "--compute-steps", "2",
         "--out", str(out)],
        capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "estimated" in done.stdout
    results = json.loads(out.read_text())
    assert results["records"] == 80 and results["machine"]["cpu_model"]
    (run,) = results["runs"]
    assert (run["backend"], run["model"]) == ("jax", "gru")
    assert run["tensorflow_imported"] is False
    assert run["train_records"] > 32 and run["steps"] == -(-run["train_records"] // 32)
    for key in ("epoch_seconds", "samples_per_s", "compute_seconds", "input_seconds",
                "peak_memory_gib"):
        assert run[key] > 0, key
    assert run["samples_per_s"] == pytest.approx(run["train_records"] / run["epoch_seconds"],
                                                 rel=0.02)
    assert 0.0 <= run["input_wait_share"] < 1.0
    # a small run never replaces the shipped rates of a full-size run
    assert (rates.read_bytes() if rates.exists() else None) == rates_before
