"""The study's statistics: calibration of the seed-level verdicts, clusters, multiplicity,
baselines and the test-record intervals."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ecg_tl_keras.metrics import weighted_f1
from ecg_tl_keras.study.stats import (
    SINGLE_SEED_LABEL, Interval, Verdict, bootstrap_mean_ci, bootstrap_mean_difference_ci,
    cluster_interval, holm, no_skill_baselines, paired_bootstrap_f1_difference, robust_p_value,
    seed_gain_interval, seeds_needed, single_seed_note, t_interval, t_p_values,
    two_level_bootstrap_f1_difference, welch_interval)

SIMULATIONS = 2000


def verdict_shares(gains: np.ndarray) -> dict[str, float]:
    """Share of each verdict of seed_gain_interval over simulated studies (rows of gains)."""
    verdicts = [seed_gain_interval(row).verdict for row in gains]
    return {name: verdicts.count(name) / len(verdicts)
            for name in ("positive", "negative", "unclear")}


@pytest.mark.parametrize("seeds", [2, 3, 5, 10])
def test_null_results_are_called_a_winner_at_most_6_percent_of_the_time(seeds):
    # Fine-tune and scratch scores from one distribution: no true gain.
    rng = np.random.default_rng(seeds)
    finetune = rng.normal(0.70, 0.01, (SIMULATIONS, seeds))
    scratch = rng.normal(0.70, 0.01, (SIMULATIONS, seeds))
    shares = verdict_shares(finetune - scratch)
    assert shares["positive"] + shares["negative"] <= 0.06
    # ... and not by being useless: a nominal 5% test is close to 5%.
    assert shares["positive"] + shares["negative"] >= 0.03


def test_a_true_gain_of_two_sd_is_found_with_five_seeds():
    rng = np.random.default_rng(11)
    gains = rng.normal(2.0 * 0.01, 0.01, (SIMULATIONS, 5))
    assert verdict_shares(gains)["positive"] >= 0.80
    assert seeds_needed(2.0) == 5


def test_two_close_seeds_are_not_a_finding():
    interval = seed_gain_interval([0.001, 0.002])
    assert interval.verdict == "unclear"
    assert interval.low < 0 < interval.high
    assert interval.method == "t-interval over 2 seeds" and interval.seeds == 2


def test_t_interval_matches_scipy():
    values = [0.3, -0.1, 0.25, 0.4, 0.05]
    interval = seed_gain_interval(values, confidence=0.9)
    expected = scipy_stats.ttest_1samp(values, 0.0)
    low, high = expected.confidence_interval(0.9)
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.p_value == pytest.approx(expected.pvalue)
    assert interval.estimate == pytest.approx(np.mean(values))


def test_one_seed_has_no_training_verdict():
    interval = seed_gain_interval([0.2])
    assert interval.verdict == "single-seed" and math.isnan(interval.low)
    # Whatever interval is attached later, one seed never becomes better/worse.
    assert Interval(0.2, 0.1, 0.3, SINGLE_SEED_LABEL, seeds=1).verdict == "single-seed"
    note = single_seed_note(1)
    assert SINGLE_SEED_LABEL in note and f"needs {seeds_needed(2.0)} seeds" in note
    assert single_seed_note(2) is None


def test_degenerate_and_bad_input():
    # No measured variation is not certainty: no interval, no p-value, no winner.
    assert seed_gain_interval([0.0, 0.0]).verdict == "none"
    equal = seed_gain_interval([0.4123 - 0.0, 0.4123 - 0.0])
    assert equal.verdict == Verdict.NONE and math.isnan(equal.p_value)
    assert "no variation" in equal.method
    nearly = t_interval([0.02, 0.02 + 1e-15, 0.02])
    assert math.isnan(nearly.low) and math.isnan(nearly.p_value)
    assert welch_interval([0.3, 0.3], [0.1, 0.1]).verdict == "none"
    with pytest.raises(ValueError, match="finite"):
        seed_gain_interval([0.1, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        seed_gain_interval([0.1, 0.2], confidence=95)
    with pytest.raises(ValueError, match="effect_sd"):
        seeds_needed(0.0)


def test_cluster_interval_counts_each_cluster_once():
    # Three fine-tunes share one scratch run: one cluster, not three values.
    values = [0.10, 0.11, 0.09, -0.05]
    clusters = ["lstm", "lstm", "lstm", "gru"]
    interval = cluster_interval(values, clusters, what="scratch runs")
    assert interval.estimate == pytest.approx(np.mean([0.10, -0.05]))
    assert interval.method == "t-interval over 2 scratch runs"
    direct = t_interval([0.10, -0.05])
    assert (interval.low, interval.high) == pytest.approx((direct.low, direct.high))
    with pytest.raises(ValueError, match="cluster ids"):
        cluster_interval([0.1], ["a", "b"])


def test_welch_interval_matches_scipy():
    first, second = [0.12, 0.08, 0.15, 0.11], [0.02, -0.03, 0.06]
    interval = welch_interval(first, second)
    expected = scipy_stats.ttest_ind(first, second, equal_var=False)
    assert interval.p_value == pytest.approx(expected.pvalue)
    assert interval.verdict == ("positive" if expected.pvalue < 0.05 else "unclear")
    assert math.isnan(welch_interval([0.1], [0.2, 0.3]).low)


def test_holm_adjustment():
    adjusted = holm([0.01, 0.04, 0.03, 0.2, float("nan")])
    # sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1, then running maximum
    assert adjusted[:4] == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert math.isnan(adjusted[4])
    assert holm([]).size == 0


def test_no_skill_baselines_match_their_definitions():
    rng = np.random.default_rng(3)
    y = rng.random((2000, 4)) < [0.5, 0.2, 0.05, 0.3]
    prevalence = np.array([0.4, 0.25, 0.1, 0.3])
    baselines = no_skill_baselines(y, prevalence)
    assert baselines["constant"] == pytest.approx(weighted_f1(y, np.ones(y.shape)))
    # No constant prediction beats "every label present".
    for mask in range(16):
        constant = np.tile([(mask >> bit) & 1 for bit in range(4)], (len(y), 1))
        assert weighted_f1(y, constant) <= baselines["constant"] + 1e-12
    # Random predictions at the training prevalence score about the expected-count F1.
    simulated = [weighted_f1(y, rng.random(y.shape) < prevalence) for _ in range(20)]
    assert np.mean(simulated) == pytest.approx(baselines["random"], abs=0.01)
    assert no_skill_baselines(y, None)["random"] is None
    with pytest.raises(ValueError, match="4 labels"):
        no_skill_baselines(y, [0.5])


def test_bootstrap_mean_ci_covers_a_known_mean_with_the_right_width():
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(40):
        values = rng.normal(2.0, 0.5, 100)
        interval = bootstrap_mean_ci(values, n_resamples=999, seed=int(rng.integers(1000)))
        covered += interval.low <= 2.0 <= interval.high
        assert interval.estimate == pytest.approx(values.mean())
        # width ~ 2 * 1.96 * sigma / sqrt(n) = 0.196
        assert 0.14 < interval.high - interval.low < 0.26
    assert covered >= 34  # 95% nominal; 34/40 is far in the tail if coverage were right


def test_bootstrap_difference_and_degenerate_cases():
    interval = bootstrap_mean_difference_ci(np.full(5, 0.3), np.full(4, 0.1))
    assert (interval.low, interval.high) == pytest.approx((0.2, 0.2))
    assert interval.verdict == "none"  # a zero-width interval: no measured variation
    lone = bootstrap_mean_ci([0.4])
    assert np.isnan(lone.low) and lone.verdict == "none"


def test_paired_bootstrap_identical_predictions_is_zero():
    rng = np.random.default_rng(0)
    y = rng.random((300, 4)) < 0.3
    p = rng.random((300, 4))
    interval = paired_bootstrap_f1_difference(y, p, p)
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_sees_a_better_model():
    rng = np.random.default_rng(1)
    y = rng.random((400, 3)) < 0.4
    good = np.where(rng.random(y.shape) < 0.1, rng.random(y.shape), y * 0.8 + 0.1)
    bad = rng.random(y.shape)
    interval = paired_bootstrap_f1_difference(y, good, bad, n_resamples=999)
    assert interval.estimate == pytest.approx(weighted_f1(y, good) - weighted_f1(y, bad))
    assert 0 < interval.low < interval.estimate < interval.high
    assert paired_bootstrap_f1_difference(y, bad, good, n_resamples=999).verdict == "negative"


def test_two_level_bootstrap_is_wider_than_either_level():
    rng = np.random.default_rng(5)
    y = rng.random((300, 3)) < 0.4
    pairs = []
    for skill in (0.05, 0.3, 0.15):  # seeds differ a lot in how good the fine-tune is
        good = np.where(rng.random(y.shape) < skill, rng.random(y.shape), y * 0.8 + 0.1)
        pairs.append((y, good, rng.random(y.shape)))
    gains = [weighted_f1(y, a) - weighted_f1(y, b) for y, a, b in pairs]
    both = two_level_bootstrap_f1_difference(pairs, n_resamples=999)
    assert both.estimate == pytest.approx(np.mean(gains))
    assert both.low < both.estimate < both.high
    records_only = paired_bootstrap_f1_difference(*pairs[1], n_resamples=999)
    assert both.high - both.low > records_only.high - records_only.low
    assert both.seeds == 3 and "seeds, then test records" in both.method
    with pytest.raises(ValueError, match="at least one"):
        two_level_bootstrap_f1_difference([])


def test_verdict_vocabulary():
    assert [v.value for v in Verdict] == ["positive", "negative", "unclear", "single-seed",
                                          "not-robust", "none"]
    assert all(v.wording for v in Verdict) and len({v.wording for v in Verdict}) == 6
    assert json.dumps({"v": Verdict.POSITIVE}) == '{"v": "positive"}'
    assert [v for v in Verdict if v.names_winner] == [Verdict.POSITIVE, Verdict.NEGATIVE]


def test_t_p_values_match_scipy_row_by_row():
    rng = np.random.default_rng(3)
    values = rng.normal(0.01, 0.02, size=(50, 4))
    values[0, 2] = np.nan
    values[1] = 0.5
    mean, error, p = t_p_values(values)
    for row, p_row in zip(values[2:], p[2:]):
        assert p_row == pytest.approx(scipy_stats.ttest_1samp(row, 0.0).pvalue)
    assert p[0] == pytest.approx(scipy_stats.ttest_1samp(values[0, [0, 1, 3]], 0.0).pvalue)
    assert np.isnan(p[1]) and np.isnan(error[1]) and mean[1] == 0.5


def test_sign_flip_p_is_exact():
    gains = np.array([0.03, -0.01, 0.02, 0.05, 0.01, 0.04, -0.02])
    signs = np.array(list(itertools.product((1, -1), repeat=len(gains))))
    expected = np.mean(np.abs(signs @ gains) >= abs(gains.sum()) - 1e-12)
    p, method = robust_p_value(gains)
    assert p == pytest.approx(expected) and method.startswith("exact sign-flip")
    # All gains of one sign: the smallest p-value 2 / 2^n.
    assert robust_p_value(np.arange(1, 7) / 100)[0] == pytest.approx(2 / 64)
    p5, method5 = robust_p_value([0.02, 0.03, 0.01, 0.04, 0.025])
    assert "bootstrap-t" in method5 and 0 < p5 < 0.05
    assert math.isnan(robust_p_value([0.1, 0.2, 0.3, 0.4])[0])


def test_robust_check_can_disagree_with_the_t_test():
    """Five clear gains and one small loss: the t-test calls it, the sign-flip test cannot
    (4 of 64 sign patterns are as extreme)."""
    gains = [0.10, 0.11, 0.09, 0.10, 0.12, -0.01]
    assert seed_gain_interval(gains).p_value < 0.05
    assert robust_p_value(gains)[0] == pytest.approx(4 / 64)
