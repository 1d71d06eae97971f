"""findings(): one family of verdicts at 5% over a whole report, and the cases that used to
give a verdict without evidence (zero spread, missing metrics, no selection column, runs of
unequal length).

The calibration and power claims run on 2,000 (power: 1,000) simulated studies per seed count
with the real grid's sharing, computed on arrays (``study_simulation.family_p_values``); that
these arrays are the statistics ``findings()`` computes is checked on 20 simulated studies run
through ``findings()`` itself (p-value for p-value), because 3,000 studies through the full
pipeline would take minutes.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from ecg_tl_keras.study.findings import Finding, findings
from ecg_tl_keras.study.stats import Verdict
from study_simulation import (
    DOWNSTREAMS, family_p_values, gains_of, holm_rows, result_files, simulate)

VERDICTS = {"positive", "negative", "unclear", "single-seed", "not-robust", "none"}


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_null_studies_name_a_winner_in_at_most_6_percent(seeds):
    rng = np.random.default_rng(100 + seeds)
    keys, p_values = family_p_values(gains_of(*simulate(rng, 2000, seeds)))
    assert len(keys) == 12 * 6 + 5 + 3 + 2  # comparisons, downstreams, upstreams, 2 pooled
    any_winner = (holm_rows(p_values) < 0.05).any(axis=1)
    assert any_winner.mean() <= 0.06
    # Without the family's adjustment the same studies name winners far more often.
    assert (p_values < 0.05).any(axis=1).mean() > 0.5


def test_a_true_gain_of_two_scratch_sds_on_one_downstream_is_found():
    rng = np.random.default_rng(7)
    scratch, finetune = simulate(rng, 1000, 5, effect={"ptb": 2 * 0.02})
    keys, p_values = family_p_values(gains_of(scratch, finetune))
    column = keys.index("downstream:ptb")
    gains = gains_of(scratch, finetune)
    positive = (holm_rows(p_values)[:, column] < 0.05) & (gains.mean(axis=(1, 2, 3)) > 0)
    assert positive.mean() >= 0.80


def test_findings_computes_the_simulated_statistics():
    """The array statistics above are findings()'s: same keys, same p-values, and the
    verdicts follow Holm over the whole family."""
    rng = np.random.default_rng(3)
    scratch, finetune = simulate(rng, 20, 3, effect={"ribeiro": 0.03})
    keys, p_values = family_p_values(gains_of(scratch, finetune))
    adjusted = holm_rows(p_values)
    for study in range(20):
        found = {f.key: f for f in findings(result_files(scratch, finetune, study))}
        for key, p_value, p_holm in zip(keys, p_values[study], adjusted[study]):
            assert found[key].p_value == pytest.approx(p_value, rel=1e-6), key
            assert found[key].p_adjusted == pytest.approx(p_holm, rel=1e-6), key
            winner = found[key].verdict in (Verdict.POSITIVE, Verdict.NEGATIVE,
                                             Verdict.NOT_ROBUST)
            assert winner == (p_holm < 0.05), key


def small_study(seeds=2, gain=0.05, noise=0.01):
    rng = np.random.default_rng(0)
    scratch, finetune = simulate(rng, 1, seeds, effect={d: gain for d in DOWNSTREAMS})
    results = result_files(scratch, finetune)
    for result in results:  # more spread: per-comparison noise
        result["metrics"]["test_weighted_f1"] += float(rng.normal(0, noise))
    return results


def by_key(results) -> dict[str, Finding]:
    return {f.key: f for f in findings(results)}


def test_findings_have_the_documented_fields_and_vocabulary():
    found = findings(small_study())
    assert found and {f.verdict.value for f in found} <= VERDICTS
    fields = set(found[0].to_dict())
    assert fields == {"key", "text", "estimate", "low", "high", "method", "p_value",
                      "p_adjusted", "verdict"}
    json.dumps([f.to_dict() for f in found], allow_nan=False)  # NaN written as null
    assert len({f.key for f in found}) == len(found)  # stable, unique keys
    keys = {f.key for f in found}
    assert {"downstream:ptb", "upstream:georgia", "convergence", "families:cnn-rnn",
            "comparison:georgia>ptb:gru", "baselines:ptb", "cost:georgia>ptb:gru"} <= keys


def test_zero_spread_and_both_not_learning_give_no_verdict():
    results = small_study()
    for result in results:  # every ptb pair: fine-tune 0.4123, scratch 0 in both seeds
        cell = result["cell"]
        if cell["dataset"] == "ptb":
            result["metrics"]["test_weighted_f1"] = 0.4123 if cell["kind"] == "finetune" else 0.0
    found = by_key(results)
    equal = found["comparison:georgia>ptb:gru"]
    assert equal.verdict == Verdict.NONE and math.isnan(equal.p_value)
    assert "no variation" in equal.text and "fine-tune better" not in equal.text
    for result in results:  # now both runs of every ptb pair did not learn
        if result["cell"]["dataset"] == "ptb":
            result["selection"].update(weighted_f1=0.1, macro_auc=0.5)
    found = by_key(results)
    stuck = found["comparison:georgia>ptb:gru"]
    assert stuck.verdict == Verdict.NONE
    assert "both runs did not learn in 2 of 2 seeds" in stuck.text
    assert found["downstream:ptb"].verdict == Verdict.NONE


def test_a_result_without_its_metric_is_listed_not_fatal():
    results = small_study()
    broken = next(r for r in results if r["cell"]["kind"] == "finetune")
    del broken["metrics"]["test_weighted_f1"]
    found = by_key(results)
    item = found[f"incomplete:{broken['cell']['key']}"]
    assert item.verdict == Verdict.NONE and "no test_weighted_f1" in item.text
    assert found["downstream:ptb"].verdict in VERDICTS


def test_a_history_without_the_selection_column_is_no_curve_not_never():
    from ecg_tl_keras.study.comparisons import comparisons, read_cells
    from ecg_tl_keras.study.tables import convergence_table

    results = small_study()
    for result in results:
        if result["cell"]["dataset"] == "ptb":
            result["history"] = [{"test_weighted_f1": 0.5}]
    rows, _ = read_cells(results, None)
    table = convergence_table(comparisons(rows))
    ptb = table[table.downstream == "ptb"]
    assert (ptb.finetune_reaches_scratch_best == "no curve").all()
    assert (ptb.scratch_reaches_finetune_best == "no curve").all()
    found = by_key(results)
    assert "without a curve: no curve" in found["convergence"].text


def test_curve_areas_compare_only_the_epochs_both_runs_have():
    """A fine-tune logged 2 epochs (0.6, 0.7), its scratch partner 6 (0.5, 0.6, then 0.9):
    over the common epochs the fine-tune is ahead, over all epochs it would be behind."""
    results = small_study(seeds=3)
    for result in results:
        kind = result["cell"]["kind"]
        curve = [0.6, 0.7] if kind == "finetune" else [0.5, 0.6, 0.9, 0.9, 0.9, 0.9]
        result["history"] = [{"val_weighted_f1": v, "test_weighted_f1": v} for v in curve]
    noise = np.random.default_rng(1).normal(0, 0.01, len(results))
    for result, delta in zip(results, noise):  # seeds differ a little
        result["history"][0]["val_weighted_f1"] += float(delta)
    found = by_key(results)
    assert found["convergence"].verdict == Verdict.POSITIVE
    assert found["convergence"].estimate == pytest.approx(0.1, abs=0.01)


def test_per_label_gains_are_findings_of_the_family():
    results = small_study(seeds=3)
    rng = np.random.default_rng(5)
    for result in results:
        fine = result["cell"]["kind"] == "finetune"
        result["metrics"]["per_label_f1"] = {
            "MI": 0.5 + (0.3 if fine else 0.0) + float(rng.normal(0, 0.01)),
            "STTC": 0.5 + float(rng.normal(0, 0.01))}
    found = by_key(results)
    assert found["diagnosis:ptb:MI"].verdict == Verdict.POSITIVE
    assert found["diagnosis:ptb:STTC"].verdict in (Verdict.UNCLEAR, Verdict.NONE)
    label = found["label:georgia>ptb:gru:MI"]
    assert math.isfinite(label.p_adjusted) and label.p_adjusted >= label.p_value
    # One family: adding the label tests raised every adjusted p-value.
    without = by_key(small_study(seeds=3))
    key = "downstream:ptb"
    assert found[key].p_adjusted >= without[key].p_adjusted


def test_a_skewed_winner_is_not_robust():
    """Six seeds: five clear gains and one small loss. The t-test calls it; the exact
    sign-flip test cannot (p = 4/64): the verdict is not-robust."""
    results = small_study(seeds=6, gain=0.0, noise=0.0)
    gains = [0.10, 0.11, 0.09, 0.10, 0.12, -0.01]
    for result in results:
        cell = result["cell"]
        if cell["kind"] == "finetune" and cell["upstream"] == "georgia" \
                and cell["dataset"] == "ptb" and cell["model"] == "gru":
            partner = next(r for r in results if r["cell"]["kind"] == "scratch"
                           and r["cell"]["dataset"] == "ptb" and r["cell"]["model"] == "gru"
                           and r["cell"]["seed"] == cell["seed"])
            result["metrics"]["test_weighted_f1"] = (partner["metrics"]["test_weighted_f1"]
                                                     + gains[cell["seed"]])
    kept = [r for r in results if r["cell"]["dataset"] == "ptb" and r["cell"]["model"] == "gru"
            and r["cell"]["upstream"] in (None, "georgia")]
    finding = by_key(copy.deepcopy(kept))["comparison:georgia>ptb:gru"]
    assert finding.p_adjusted < 0.05
    assert finding.verdict == Verdict.NOT_ROBUST and "sign-flip" in finding.text


def test_old_result_files_judge_learning_from_the_history_with_a_stated_stand_in():
    from ecg_tl_keras.study.comparisons import BASIS_STAND_IN, learning_of

    old = {"metrics": {"best_epoch": 2},
           "history": [{"val_weighted_f1": 0.3, "val_macro_auc": 0.5},
                       {"val_weighted_f1": 0.45, "val_macro_auc": 0.52}],
           "baselines": {"constant": 0.5}}
    assert learning_of(old) == (False, BASIS_STAND_IN)  # below the constant, AUC at chance
    old["history"][1]["val_macro_auc"] = 0.9  # ranks well, badly thresholded: it learned
    assert learning_of(old) == (True, BASIS_STAND_IN)
    assert learning_of({"metrics": {}, "history": []})[0] is None
    results = small_study()
    for result in results:
        del result["selection"]
    found = findings(results)
    assert found and all(f.verdict.value in VERDICTS for f in found)
