"""``ecg-tl-keras train`` under ``KERAS_BACKEND=jax`` with TensorFlow unimportable.

Each run is a subprocess with ``bench/no_tensorflow`` on ``PYTHONPATH`` (``import
tensorflow`` fails there as if it were not installed), so these tests show the JAX path
never needs TensorFlow even in an environment that has it. The learning check against
TensorFlow (3 seeds, the bundled sample) is ``bench/bench_jax_parity.py``.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import comparable_run, copy_with_a_damaged_shard
from fast_backbone import NAME as FAST_BACKBONE
from fast_backbone import write_module
from jax_processes import run_without_tensorflow

from ecg_tl_keras.training import faults

EPOCHS = 2

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed"),
]


@pytest.fixture(scope="module")
def backbone_module(tmp_path_factory):
    """The module registering the fast test backbone, for ``--import``."""
    return write_module(tmp_path_factory.mktemp("fast_backbone"))


def jax_train(data, out, backbone_module, *extra, fault: str | None = None, devices: int = 1):
    """``python -m ecg_tl_keras train`` under JAX without TensorFlow (the fast test backbone,
    imported from ``backbone_module``), on ``devices`` virtual CPU devices."""
    return run_without_tensorflow("--import", backbone_module, "train", "--data", data,
                                  "--model", FAST_BACKBONE, "--out", out, "--epochs", EPOCHS,
                                  "--batch-size", 64, *extra, fault=fault, devices=devices)


@pytest.fixture(scope="module")
def reference(ptbxl_built, backbone_module, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("jax_reference") / "run"
    done = jax_train(ptbxl_built, run_dir, backbone_module)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


def test_train_runs_under_jax_without_tensorflow(reference):
    metrics, rows = comparable_run(reference)
    assert len(rows) == EPOCHS and 1 <= metrics["best_epoch"] <= EPOCHS
    assert 0.0 <= metrics["test_weighted_f1"] <= 1.0
    versions = json.loads((reference / "config.json").read_text())["versions"]
    assert versions["keras_backend"] == "jax" and versions["tensorflow"] is None
    assert versions["jax"]
    for name in ("best.keras", "predictions_test.npz"):
        assert (reference / name).is_file()
    assert not (reference / "backup").exists()
    events = list((reference / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0


def test_a_run_killed_twice_resumes_from_its_last_finished_epoch_to_the_same_result(
        ptbxl_built, backbone_module, tmp_path, reference):
    """Killed after epoch 2 trained but before it was recorded (so epoch 2 is lost), then,
    resumed, killed again in the middle of writing epoch 2's backup: each resumed run starts
    after epoch 1, and the run ends with the uninterrupted run's every number."""
    run_dir = tmp_path / "run"
    resumed = None
    for where in ("epoch_end:2", "backup_weights:2", None):
        done = jax_train(ptbxl_built, run_dir, backbone_module, fault=where)
        if resumed is not None:
            assert f"after epoch 1/{EPOCHS}" in done.stdout, done.stdout[-2000:]
        resumed = done
        if where is not None:
            assert done.returncode == faults.EXIT_CODE, done.stderr[-3000:]
            assert not (run_dir / "metrics.json").exists()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert comparable_run(run_dir) == comparable_run(reference)


def test_a_damaged_shard_is_one_line_naming_the_file(ptbxl_built, backbone_module, tmp_path):
    shard = copy_with_a_damaged_shard(ptbxl_built, tmp_path / "ptbxl")
    data = shard.parent
    done = jax_train(data, tmp_path / "run", backbone_module, "--no-verify")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
    assert f"shard {shard} is damaged: record " in lines[0] and "CRC-32C" in lines[0]


def test_data_parallel_on_two_devices_matches_one_device(ptbxl_built, backbone_module, tmp_path,
                                                        reference):
    """``--strategy data-parallel`` (keras.distribution.DataParallel) over two virtual CPU
    devices: the same losses and test metrics as one device, within floating-point and
    one-record tolerance (161 records: the last batch drops one record to split evenly)."""
    run_dir = tmp_path / "run"
    done = jax_train(ptbxl_built, run_dir, backbone_module, "--strategy", "data-parallel",
                     devices=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 replica(s)" in done.stdout
    (two, two_rows), (one, one_rows) = comparable_run(run_dir), comparable_run(reference)
    assert json.loads((run_dir / "config.json").read_text())["replicas"] == 2
    for row_two, row_one in zip(two_rows, one_rows, strict=True):
        assert float(row_two["loss"]) == pytest.approx(float(row_one["loss"]), abs=0.02)
        assert float(row_two["val_loss"]) == pytest.approx(float(row_one["val_loss"]), abs=0.02)
    assert two["test_weighted_f1"] == pytest.approx(one["test_weighted_f1"], abs=0.05)
    assert two["test_macro_auc"] == pytest.approx(one["test_macro_auc"], abs=0.05)
    odd = jax_train(ptbxl_built, tmp_path / "odd", backbone_module, "--strategy",
                    "data-parallel", "--batch-size", "63", devices=2)
    assert odd.returncode == 2
    assert "--batch-size 63 must be a multiple of the 2 devices" in odd.stderr
