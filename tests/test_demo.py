"""``ecg-tl-keras demo``: the bundled raw records built, the demo plan run, the report's summary."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from ecg_tl_keras import demo
from ecg_tl_keras.console import is_native_log_line
from ecg_tl_keras.study.cells import expand_cells
from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.study.stats import no_skill_baselines
from conftest import QUICK_DEMO_GROUP, SAMPLE_DATA


def test_the_two_demo_datasets_split_the_sample_by_patient(tmp_path):
    table = pd.read_csv(SAMPLE_DATA / "ptbxl" / "ptbxl_database.csv")
    parts = {name: pd.read_csv(demo.write_release_subset(
        SAMPLE_DATA / "ptbxl", tmp_path / name, folds) / "ptbxl_database.csv")
        for name, folds in demo.FOLDS.items()}
    upstream, downstream = parts[demo.UPSTREAM], parts[demo.DOWNSTREAM]
    assert len(upstream) + len(downstream) == len(table)
    assert not set(upstream["patient_id"]) & set(downstream["patient_id"])
    for name, part in parts.items():
        for record in part["filename_lr"]:
            assert (tmp_path / name / f"{record}.dat").read_bytes() == \
                (SAMPLE_DATA / "ptbxl" / f"{record}.dat").read_bytes()


def test_labels_csv_holds_the_ptbxl_readers_superclasses(tmp_path):
    source = demo.write_release_subset(SAMPLE_DATA / "ptbxl", tmp_path / "small", [9, 10])
    labels = pd.read_csv(demo.write_labels_csv(source), dtype=str)
    table = pd.read_csv(source / "ptbxl_database.csv", dtype=str)
    assert set(labels["record"]) <= set(table["filename_lr"])
    # ecg_id 8 is MI (as the builder tests know it), and records without superclass are left out.
    by_record = dict(zip(labels["record"], labels["labels"]))
    row = table[table["ecg_id"] == "8"]  # strat_fold 9
    assert by_record[row["filename_lr"].item()] == "MI"
    assert labels["labels"].str.len().min() > 0


def test_quick_demo_plan_is_one_seed_of_the_full_one():
    full, quick = demo.demo_plan(), demo.demo_plan(quick=True)
    assert len(full.seeds) >= 3 and quick.seeds == (0,)
    full_size = [c.kind for c in expand_cells(full) if c.train_size is None]
    assert full_size.count("finetune") == len(full.seeds)
    # Fig 4: fine-tune vs scratch at two or more sizes of the small set.
    # (the sweep's sizes and the full train split).
    assert full.size_sweep.downstream == demo.DOWNSTREAM and len(full.size_sweep.train_sizes) >= 1
    assert (full.upstream, full.downstream) == (quick.upstream, quick.downstream)


@pytest.mark.slow
@pytest.mark.xdist_group(QUICK_DEMO_GROUP)
def test_quick_demo_end_to_end_with_a_quiet_console(quick_demo, capsys):
    """The console command, as a user runs it: every step, the summary, no TF log line, no
    Python warning; then again (in this process: what resuming reads is on disk), resuming
    with nothing to train. (The run is :func:`conftest.quick_demo`, a child process
    shared with test_advise_e2e.py, which advises with its pre-trained checkpoint.)"""
    out, result, console = quick_demo
    assert result.returncode == 0, console[-3000:]
    for step in ("[demo 1/3]", "[demo 2/3]", "[demo 3/3]", "report:"):
        assert step in console
    assert not [line for line in console.splitlines() if is_native_log_line(line.encode())]
    assert not re.search(r"\w+Warning:", console), console

    report = out / "report-quick" / "report.md"
    text = report.read_text()
    head = text.split("## Findings")[0]
    assert "No-skill baseline" in head and "Did fine-tuning help?" in head
    assert "one seed only" in head  # the quick demo's single seed is no evidence either way
    assert "**Per diagnosis**" in head and "**Cost**" in head and "break-even" in head
    assert "## Per-label gains" in text and "## Cost" in text
    assert "fig6_gain_per_label.png" in text and "fig4_gain_vs_train_size.png" in text
    assert "time measured on one machine type" in text
    gains = pd.read_csv(out / "report-quick" / "tables" / "transfer_gain.csv")
    assert gains.train_records.nunique() >= 2  # Fig 4: the sweep's size and the full split

    # The baseline in the summary is the one computed from a run's saved test labels.
    results = load_results(out / "study-quick")
    (pretrain,) = [r for r in results if r["cell"]["kind"] == "scratch"
                   and r["cell"]["dataset"] == demo.UPSTREAM]
    with np.load(out / "study-quick" / pretrain["predictions_test"]) as saved:
        constant = no_skill_baselines(saved["y_true"], None)["constant"]
    assert f"`{demo.UPSTREAM}` {constant:.3f}" in head
    assert len(results) == len(expand_cells(demo.demo_plan(quick=True)))

    from ecg_tl_keras import cli

    capsys.readouterr()
    assert cli.main(["demo", "--quick", "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert "done, skipping" in again and "already built" in again


def test_the_demo_words_every_verdict_as_the_report_does():
    from ecg_tl_keras.demo import verdict_sentence
    from ecg_tl_keras.study.intervals import Verdict

    for verdict in Verdict:
        assert verdict_sentence(verdict).startswith(verdict.wording), verdict
        assert verdict_sentence(verdict.value) == verdict_sentence(verdict)  # as findings.json
    assert "one seed only" in verdict_sentence(Verdict.SINGLE_SEED)
