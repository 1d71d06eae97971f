"""Training survives every interruption: killed at each point of an epoch boundary and of the
finish (including mid-backup), a damaged backup, a finished run, a damaged shard, Ctrl-C."""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import comparable_run, copy_with_a_damaged_shard
from fast_backbone import NAME as FAST_MODEL
from fast_backbone import registered

from ecg_tl_keras import cli
from ecg_tl_keras.training import TrainConfig, faults, train
from ecg_tl_keras.training.checkpoints import load_checkpoint

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3


def _config(data, out, **overrides):
    # 96 training records (the command-line runs below say --train-size 96 too) and a
    # backbone whose epochs take milliseconds: what is tested is resuming, which any amount
    # of data and any model with dropout show.
    settings = {"model": FAST_MODEL, "epochs": EPOCHS, "batch_size": 64, "verbose": 0,
                "train_size": 96}
    return TrainConfig(data=str(data), out=str(out), **{**settings, **overrides})


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory):
    """The path of the module registering ``FAST_MODEL`` (registered while this file runs)."""
    with registered(tmp_path_factory.mktemp("fast_backbone")) as path:
        yield path


@pytest.fixture(scope="module")
def reference(ptbxl_built, tmp_path_factory, fast_model):
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    train(_config(ptbxl_built, run_dir))
    return comparable_run(run_dir)


def _crash_then_resume(data, run_dir, monkeypatch, where, capsys=None):
    monkeypatch.setenv(faults.ENV, f"{where}:raise")
    with pytest.raises(faults.InjectedFault):
        train(_config(data, run_dir))
    monkeypatch.delenv(faults.ENV)
    assert not (run_dir / "metrics.json").is_file() or where.startswith("finish_metrics")
    train(_config(data, run_dir))


FAST_POINTS = ("backup_state:2",)
ALL_POINTS = [f"{point}:2" for point in faults.POINTS if not point.startswith("finish")] + [
    f"{point}:{EPOCHS}" for point in faults.POINTS if point.startswith("finish")]


@pytest.mark.parametrize("where", FAST_POINTS)
def test_killed_mid_backup_or_finish_resumes_to_the_same_result(
        where, ptbxl_built, tmp_path, monkeypatch, reference):
    _crash_then_resume(ptbxl_built, tmp_path / "run", monkeypatch, where)
    assert comparable_run(tmp_path / "run") == reference
    assert not (tmp_path / "run" / "backup").exists()


@pytest.mark.slow
@pytest.mark.parametrize("where", [p for p in ALL_POINTS if p not in FAST_POINTS])
def test_killed_at_every_point_of_an_epoch_boundary_resumes_to_the_same_result(
        where, ptbxl_built, tmp_path, monkeypatch, reference):
    _crash_then_resume(ptbxl_built, tmp_path / "run", monkeypatch, where)
    assert comparable_run(tmp_path / "run") == reference


LPFT_EPOCHS = 4


def _quick_lpft_rule(monkeypatch):
    """lp-ft whose probe converges after its 2nd epoch (no loss improves by 100%), capped at 3."""
    from ecg_tl_keras.training import strategies

    monkeypatch.setattr(strategies, "LPFT_TOLERANCE", 1.0)
    monkeypatch.setattr(strategies, "LPFT_PATIENCE", 1)
    monkeypatch.setattr(strategies, "LPFT_MAX_PROBE_SHARE", 0.75)


@pytest.fixture(scope="module")
def untrained_model(ptbxl_built, tmp_path_factory, fast_model):
    """An untrained ``FAST_MODEL`` checkpoint for PTB-XL's labels: something to fine-tune."""
    import keras

    from ecg_tl_keras.datasets import BuiltDataset
    from ecg_tl_keras.training.checkpoints import save_checkpoint
    from ecg_tl_keras.training.finetune import new_model

    data = BuiltDataset.open(str(ptbxl_built))
    keras.utils.set_random_seed(0)
    model = new_model(FAST_MODEL, data.labels, data.input_shape, None,
                      data.manifest.get("normalization"))
    path = tmp_path_factory.mktemp("source") / f"{FAST_MODEL}.keras"
    save_checkpoint(model, path, {"labels": data.labels, "model": FAST_MODEL})
    return path


def _lpft_config(data, out, checkpoint):
    return _config(data, out, epochs=LPFT_EPOCHS, finetune_from=str(checkpoint),
                   finetune="lp-ft", lr=0.01)


@pytest.fixture(scope="module")
def lpft_reference(ptbxl_built, untrained_model, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lpft") / "run"
    console = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(console):
        _quick_lpft_rule(monkeypatch)
        train(_lpft_config(ptbxl_built, run_dir, untrained_model))
    return run_dir, console.getvalue()


@pytest.mark.parametrize("where", ["backup_renamed:2", "backup_state:2"])
def test_lpft_resumed_switches_at_the_same_epoch_with_the_same_weights(
        where, ptbxl_built, untrained_model, tmp_path, monkeypatch, lpft_reference):
    from ecg_tl_keras.training.strategies import LPFT_LR_FACTOR

    reference_dir, console = lpft_reference
    metrics, rows = comparable_run(reference_dir)
    assert metrics["finetune_phase_starts"] == [1, 3]  # the probe converged after 2 epochs of 3
    assert [float(row["lr"]) for row in rows] == pytest.approx(
        [0.01] * 2 + [0.01 * LPFT_LR_FACTOR] * 2)
    assert ("epoch 3: fine-tuning phase 2/2: the whole network at lr x0.1 (phase 1 converged "
            "on val_loss)") in console

    _quick_lpft_rule(monkeypatch)
    run_dir = tmp_path / "run"
    monkeypatch.setenv(faults.ENV, f"{where}:raise")  # after the switch is decided, or while
    with pytest.raises(faults.InjectedFault):
        train(_lpft_config(ptbxl_built, run_dir, untrained_model))
    monkeypatch.delenv(faults.ENV)
    train(_lpft_config(ptbxl_built, run_dir, untrained_model))
    assert comparable_run(run_dir) == (metrics, rows)
    resumed, _ = load_checkpoint(run_dir / "best.keras")
    reference, _ = load_checkpoint(reference_dir / "best.keras")
    for resumed_weight, reference_weight in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(resumed_weight, reference_weight)


def test_damaged_backup_resumes_from_the_previous_one(
        ptbxl_built, tmp_path, monkeypatch, capsys, reference):
    run_dir = tmp_path / "run"
    monkeypatch.setenv(faults.ENV, f"epoch_end:{EPOCHS}:raise")
    with pytest.raises(faults.InjectedFault):
        train(_config(ptbxl_built, run_dir))
    monkeypatch.delenv(faults.ENV)
    newest = run_dir / "backup" / f"epoch-{EPOCHS - 1:05d}" / "model.weights.h5"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated
    capsys.readouterr()
    train(_config(ptbxl_built, run_dir, verbose=2))
    out = capsys.readouterr().out
    assert f"backup after epoch {EPOCHS - 1} is damaged (model.weights.h5 does not match" in out
    assert f"after epoch {EPOCHS - 2}/{EPOCHS}" in out
    assert comparable_run(run_dir) == reference


def test_finished_run_says_so_and_overwrite_starts_over(ptbxl_built, tmp_path, capsys,
                                                        fast_model):
    run_dir = tmp_path / "run"
    first = train(_config(ptbxl_built, run_dir, epochs=1))
    stamp = (run_dir / "best.keras").stat().st_mtime_ns
    capsys.readouterr()
    assert cli.main(["train", "--data", str(ptbxl_built), "--model", FAST_MODEL, "--out",
                     str(run_dir), "--epochs", "1", "--batch-size", "64",
                     "--train-size", "96"]) == 0
    out = capsys.readouterr().out
    assert "holds a finished run" in out and "--overwrite starts over" in out
    assert (run_dir / "best.keras").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"finished run with different arguments \(epochs\)"):
        train(_config(ptbxl_built, run_dir, epochs=2))
    again = train(_config(ptbxl_built, run_dir, epochs=1, overwrite=True))
    assert (run_dir / "best.keras").stat().st_mtime_ns != stamp
    assert again["test_weighted_f1"] == first["test_weighted_f1"]


def test_damaged_shard_is_one_line_naming_the_file(ptbxl_built, tmp_path, capsys):
    shard = copy_with_a_damaged_shard(ptbxl_built, tmp_path / "ptbxl")
    data = shard.parent
    code = cli.main(["train", "--data", str(data), "--model", "lstm", "--out",
                     str(tmp_path / "r"), "--epochs", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"shard {shard} is damaged" in err and "--no-verify" in err
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "none.keras"), "--data",
                     str(data), "--split", "train"]) == 2
    assert f"shard {shard} is damaged" in capsys.readouterr().err


def _train_process(module, args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "ecg_tl_keras.cli", "--import", str(module), "train", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
             **(env or {})}, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_process_killed_mid_backup_resumes_to_the_same_result(ptbxl_built, tmp_path, reference,
                                                              fast_model, capsys):
    args = ["--data", str(ptbxl_built), "--model", FAST_MODEL, "--out", str(tmp_path / "run"),
            "--epochs", str(EPOCHS), "--batch-size", "64", "--train-size", "96"]
    killed = _train_process(fast_model, args, {faults.ENV: "backup_weights:2"})
    assert killed.returncode == faults.EXIT_CODE, killed.stderr[-2000:]
    assert (tmp_path / "run" / "backup" / ".epoch-00002.partial").is_dir()
    # the same command again (here, in this process) resumes from what the killed one left
    capsys.readouterr()
    assert cli.main(["train", *args]) == 0
    assert "resuming the interrupted run" in capsys.readouterr().out
    assert comparable_run(tmp_path / "run") == reference
