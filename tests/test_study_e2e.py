"""The study end to end with the real builder and trainer: shards, an interrupted cell, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.datasets import load_index
from ecg_tl_keras.metrics import weighted_f1
from ecg_tl_keras.study import runner
from ecg_tl_keras.study.cells import expand_cells, shard_cells
from ecg_tl_keras.study.plan import load_plan
from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.training import faults
from fast_backbone import NAME as FAST_BACKBONE
from report_checks import check_report_matches_results

pytestmark = pytest.mark.slow

# Four cells: scratch ptbxl (0), scratch georgia (1), ptbxl -> georgia (2), georgia -> ptbxl (3).
# With 3 shards, shard 0 holds cells 0 and 3, and cell 3 needs cell 1 of shard 1. They train
# the fast test backbone: what is checked is the study's bookkeeping, not the architecture.
PLAN = f"""
upstream = ["ptbxl", "georgia"]
downstream = ["ptbxl", "georgia"]
models = ["{FAST_BACKBONE}"]
seeds = 1
epochs = 2
finetune = "full"
select_on = "val"
batch_size = 32
lr = 0.01
[train]
val_fold = 0
"""


@pytest.fixture
def spy(monkeypatch):
    """Counts the real trainer's runs per cell."""
    calls = []
    real = runner.default_train_fn

    def train(config):
        calls.append(config.out.rsplit("/", 1)[-1])
        return real(config)

    monkeypatch.setattr(runner, "default_train_fn", train)
    return calls


def interrupt_after_first_epoch(monkeypatch):
    """Stop the next training run right after its first epoch was backed up."""
    monkeypatch.setenv(faults.ENV, "backup_renamed:1:raise")


def test_sharded_study_with_an_interrupted_cell(tmp_path, data_root, spy, monkeypatch, capsys,
                                                fast_backbone):
    plan_file = tmp_path / "mini.toml"
    plan_file.write_text(PLAN)
    study = tmp_path / "study"
    cells = expand_cells(load_plan(plan_file))
    keys = [cell.key for cell in cells]
    assert [cell.key for cell in shard_cells(cells, 0, 3)] == [keys[0], keys[3]]

    def run(shard):
        return cli.main(["study", "run", "--plan", str(plan_file), "--data-root", str(data_root),
                         "--out", str(study), "--shard", shard])

    assert run("0/3") == 1  # cell 3 waits for cell 1 (shard 1)
    assert "wait for pre-trains" in capsys.readouterr().err
    assert run("1/3") == 0
    interrupt_after_first_epoch(monkeypatch)
    with pytest.raises(faults.InjectedFault):
        run("2/3")
    monkeypatch.delenv(faults.ENV)
    assert not (study / "results" / f"{keys[2]}.json").exists()
    capsys.readouterr()
    assert run("2/3") == 0
    assert "resuming the interrupted run" in capsys.readouterr().out
    assert run("0/3") == 0
    assert sorted(spy) == sorted(keys + [keys[2]])  # every cell once, the interrupted one twice

    results = {r["cell"]["key"]: r for r in load_results(study)}
    assert set(results) == set(keys)
    resumed = results[keys[2]]
    assert [row["epoch"] for row in resumed["history"]] == [1, 2]
    assert resumed["metrics"]["finetune_from"].endswith(f"{keys[0]}/best.keras")
    assert not Path(resumed["metrics"]["finetune_from"]).is_absolute()  # portable
    for result in results.values():
        assert result["metrics"]["epochs"] == 2 and (study / result["predictions_test"]).is_file()
        # What "did not learn" is judged on: the selected epoch on the selection split (train
        # fold 0) beside that fold's best constant predictor, recomputed from the fold's labels.
        index = load_index(data_root / result["cell"]["dataset"], "train")
        labels = index["labels"][index["fold"] == 0]
        selection, best = result["selection"], result["metrics"]["best_epoch"]
        assert selection["constant_weighted_f1"] == pytest.approx(
            weighted_f1(labels, np.ones(labels.shape)))
        assert selection["weighted_f1"] == pytest.approx(
            result["history"][best - 1]["val_weighted_f1"])
        assert result["machine"]

    assert cli.main(["study", "report", str(study), "--out", str(tmp_path / "report")]) == 0
    check_report_matches_results(tmp_path / "report", study, results)
