"""A metric registered in a user's module (``register_metric``, loaded with ``--import``) is
a column of the study report's tables, and registering one name twice is one error line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.study import run_study
from ecg_tl_keras.study.results import load_results
from conftest import BRIER_MODULE
from test_study import FakeTrainer, data_root, quiet, tiny_plan  # noqa: F401 - data_root: a fixture


def brier(y_true, y_prob) -> float:
    return float(np.mean((y_prob - y_true) ** 2))


class TrainerLoggingBrier(FakeTrainer):
    """FakeTrainer's runs, whose metrics also hold ``test_brier`` of their test predictions, as
    ``train`` logs every registered metric (``tests/test_extensions.py`` trains for real)."""

    def __call__(self, config):
        metrics = super().__call__(config)
        saved = np.load(f"{config.out}/predictions_test.npz")
        metrics["test_brier"] = brier(saved["y_true"], saved["y_prob"])
        with open(f"{config.out}/metrics.json", "w") as stream:
            json.dump(metrics, stream)
        return metrics


def test_the_reports_tables_show_a_user_metric(brier_module, data_root, tmp_path):  # noqa: F811
    study = tmp_path / "study"
    run_study(tiny_plan(seeds=[0, 1]), data_root, study, train_fn=TrainerLoggingBrier(),
              log=quiet)
    report = tmp_path / "report"
    assert cli.main(["--import", str(brier_module), "study", "report", str(study),
                     "--out", str(report)]) == 0
    results = {r["cell"]["key"]: r for r in load_results(study)}
    cells = pd.read_csv(report / "tables" / "cells.csv")
    assert list(cells.columns[cells.columns.get_loc("macro_auc") + 1:][:1]) == ["brier"]
    for key, value in zip(cells["key"], cells["brier"]):
        assert value == pytest.approx(results[key]["metrics"]["test_brier"])
    gains = pd.read_csv(report / "tables" / "transfer_gain.csv")
    assert len(gains) and gains[["scratch_brier", "finetune_brier"]].notna().all().all()
    for gain in gains.itertuples():
        for role, kind in (("scratch", "scratch"), ("finetune", "finetune")):
            runs = [r["metrics"]["test_brier"] for r in results.values() if _in_comparison(
                r["cell"], gain, kind)]
            assert len(runs) == gain.seeds
            assert getattr(gain, f"{role}_brier") == pytest.approx(np.mean(runs))
    assert "finetune_brier" in (report / "report.md").read_text()
    assert "| macro_auc | brier |" in (report / "tables" / "cells.md").read_text()


def _in_comparison(cell: dict, gain, kind: str) -> bool:
    """Whether a result's cell is one of a transfer_gain row's runs of this kind."""
    size = None if pd.isna(gain.train_size) else int(gain.train_size)
    return ((kind == "scratch" or cell["upstream"] == gain.upstream)
            and cell["kind"] == kind and cell["dataset"] == gain.downstream
            and cell["model"] == gain.model and cell["train_size"] == size)


def test_without_the_module_the_tables_are_as_before(data_root, tmp_path):  # noqa: F811
    from ecg_tl_keras.study.report import make_report

    study = tmp_path / "study"
    run_study(tiny_plan(seeds=[0, 1]), data_root, study, train_fn=TrainerLoggingBrier(),
              log=quiet)
    paths = make_report(study, tmp_path / "report", log=quiet)
    assert "brier" not in pd.read_csv(paths["tables"] / "cells.csv").columns
    assert not any("brier" in c for c in pd.read_csv(paths["tables"] / "transfer_gain.csv"))


def test_registering_a_metric_name_twice_is_one_error_line(brier_module, tmp_path, capsys):
    again = tmp_path / "brier_again.py"
    again.write_text(BRIER_MODULE)
    try:
        capsys.readouterr()
        code = cli.main(["--import", str(brier_module), "--import", str(again), "study",
                         "--help"])
        err = capsys.readouterr().err.strip()
    finally:
        sys.modules.pop("brier_again", None)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("ecg-tl-keras: error: ") and "'brier' is already registered" in err
