"""``ecg-tl-keras demo``: the smoke plan on the bundled sample, real builder and trainer."""

from __future__ import annotations

import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.demo import run_demo
from ecg_tl_keras.study import runner
from ecg_tl_keras.study.cells import expand_cells
from ecg_tl_keras.study.plan import load_plan
from ecg_tl_keras.study.results import load_results
from test_study_e2e import check_report_matches_results

pytestmark = pytest.mark.slow


def test_demo_runs_the_smoke_plan_and_resumes(tmp_path, monkeypatch, capsys):
    trained = []
    real = runner.default_train_fn
    monkeypatch.setattr(runner, "default_train_fn",
                        lambda config: trained.append(config.out) or real(config))
    out = tmp_path / "demo"
    report = run_demo(out)
    progress = capsys.readouterr().out
    cells = expand_cells(load_plan("smoke"))
    assert len(trained) == len(cells) == len(set(trained))
    for step in ("[demo 1/3]", "[demo 2/3]", "[demo 3/3]", f"[{len(cells)}/{len(cells)}]"):
        assert step in progress
    assert f"report: {report / 'report.md'}" in progress
    results = {r["cell"]["key"]: r for r in load_results(out / "study")}
    assert set(results) == {cell.key for cell in cells}
    check_report_matches_results(report, out / "study", results)
    assert (report / "figures" / "fig4_gain_vs_train_size.png").is_file()

    # Again, through the command line: nothing to train, the report is rewritten.
    (report / "report.md").unlink()
    assert cli.main(["demo", "--out", str(out)]) == 0
    assert len(trained) == len(cells) and (report / "report.md").is_file()
    assert "already built" in capsys.readouterr().out
