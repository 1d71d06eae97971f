"""Confidence intervals and verdicts for the study's comparisons.

Replicates are training runs. A fine-tune and its from-scratch partner trained with the same
seed form a pair; the gain of a comparison is the mean paired gain over seeds.

* over seeds: :func:`seed_gain_interval`, a Student-t interval of the mean paired gain (with
  1 seed there is no interval and the verdict is ``single-seed``; with no variation across
  seeds, none and the verdict is ``none``); :func:`seeds_needed` says how many seeds a
  t-interval needs to call a gain; :func:`robust_p_value` is a check that does not assume
  normal gains (exact sign-flip permutation from 6 seeds, bootstrap-t at 5);
* over clusters: :func:`cluster_interval` (pooled gains: the t-interval of cluster means, a
  cluster being every gain that shares a training run) and :func:`welch_interval` (a
  difference between two groups of clusters, e.g. CNNs vs RNNs);
* over test records: :func:`paired_bootstrap_f1_difference`, the weighted-F1 difference of
  two models' predictions on the same records (test-sample uncertainty only);
* both: :func:`two_level_bootstrap_f1_difference` resamples seeds, then test records;
* many verdicts: :func:`holm` adjusts p-values for multiplicity (Holm 1979);
  :func:`t_p_values` gives many t-tests at once (rows of a matrix);
* one vocabulary: :class:`Verdict`, with the words the report and ``advise`` use;
* no-skill baselines: :func:`no_skill_baselines`.

:func:`bootstrap_mean_ci` and :func:`bootstrap_mean_difference_ci` (percentile/BCa bootstrap)
stay for many values; below about 20 values their intervals are too narrow.

Example:
    >>> interval = seed_gain_interval([0.021, 0.034, 0.018, 0.027, 0.030])
    >>> round(interval.estimate, 4), interval.verdict.value
    (0.026, 'positive')
    >>> seed_gain_interval([0.001, 0.002]).verdict.value
    'unclear'
    >>> seed_gain_interval([0.02]).verdict.value
    'single-seed'
    >>> seed_gain_interval([0.01, 0.01]).verdict.value  # no measured variation: no verdict
    'none'
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Hashable, Sequence

import numpy as np
from scipy import stats

from ecg_tl_keras.metrics import weighted_f1
from ecg_tl_keras.study.intervals import (  # noqa: F401  the vocabulary, re-exported
    CONFIDENCE, MIN_VALUES_FOR_BCA, N_RESAMPLES, SINGLE_SEED_LABEL, ZERO_SPREAD, Interval, Verdict,
    _check_confidence, _finite)
from ecg_tl_keras.study.resampling import (  # noqa: F401  re-exported
    align_predictions, bootstrap_mean_ci, bootstrap_mean_difference_ci,
    paired_bootstrap_f1_difference, two_level_bootstrap_f1_difference)

#: From this many seeds a comparison gets a check that does not assume normal gains.
MIN_SEEDS_ROBUST = 5
#: From this many seeds that check is the exact sign-flip permutation test (below: bootstrap-t).
MIN_SEEDS_SIGN_FLIP = 6


def seed_gain_interval(gains: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean paired gain over seeds with its Student-t interval.

    Each value is one seed's fine-tune minus scratch score. The interval is
    ``mean +- t(confidence, n - 1) * sd / sqrt(n)``; ``p_value`` is the matching one-sample
    t-test's, so the verdict is ``positive``/``negative`` exactly when ``p_value < 1 -
    confidence``. The coverage is exact for normally distributed gains. For skewed gains (a
    few failed runs on one side) it is not: in simulation the interval names a wrong winner
    in 11-19% of null draws at 2-10 seeds, always in the direction of the skew. From 5 seeds,
    check a verdict with :func:`robust_p_value`, which does not assume normality. With one
    seed there is no interval and the verdict is ``single-seed``; with no variation across
    seeds (all gains equal) there is no interval either and the verdict is ``none``.

    Args:
        gains: one paired gain per seed.
        confidence: the interval's confidence level.

    Returns:
        An :class:`Interval` with ``seeds`` set.

    Example:
        >>> interval = seed_gain_interval([0.01, 0.03, 0.02])
        >>> round(interval.low, 4), round(interval.high, 4), interval.method
        (-0.0048, 0.0448, 't-interval over 3 seeds')
    """
    values = _finite(gains, "gains")
    interval = t_interval(values, confidence, f"{len(values)} seeds")
    return dataclasses.replace(interval, seeds=len(values))


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE,
               what: str | None = None) -> Interval:
    """The mean of independent ``values`` with its Student-t interval and t-test p-value.

    Fewer than 2 values, or no variation (standard deviation at most ``ZERO_SPREAD`` times
    ``max(1, |mean|)``): no interval and a NaN p-value (a zero spread is not certainty).

    Example:
        >>> round(t_interval([1.0, 2.0, 3.0]).low, 4)
        -0.4841
    """
    values = _finite(values, "values")
    _check_confidence(confidence)
    count = len(values)
    what = what or f"{count} values"
    if count == 0:
        return Interval(math.nan, math.nan, math.nan, "no interval: no values")
    estimate = float(values.mean())
    if count < 2:
        return Interval(estimate, math.nan, math.nan, f"no interval: only {what}")
    spread = float(values.std(ddof=1))
    if spread <= ZERO_SPREAD * max(1.0, abs(estimate)):
        return Interval(estimate, math.nan, math.nan,
                        f"no interval: no variation across {what}")
    error = spread / math.sqrt(count)
    half = float(stats.t.ppf(0.5 + confidence / 2, count - 1)) * error
    p_value = float(2 * stats.t.sf(abs(estimate) / error, count - 1))
    return Interval(estimate, estimate - half, estimate + half, f"t-interval over {what}",
                    p_value)


def cluster_interval(values: Sequence[float], clusters: Sequence[Hashable],
                     confidence: float = CONFIDENCE, what: str = "clusters") -> Interval:
    """The mean over clusters of each cluster's mean value, with a t-interval over clusters.

    Values that share a training run (a pre-train or a scratch run used by several
    fine-tunes, or one seed's runs) are not independent: they form one cluster, and each
    cluster counts once. The interval is the t-interval of the cluster means.

    Args:
        values: one value per comparison (e.g. per cell gain).
        clusters: the cluster of each value (e.g. ``(model, seed)``).
        confidence: the interval's confidence level.
        what: what a cluster is, in words (goes into ``method``).

    Example:
        >>> interval = cluster_interval([0.1, 0.3, 0.2, 0.2], ["a", "a", "b", "b"])
        >>> interval.estimate, interval.method
        (0.2, 'no interval: no variation across 2 clusters')
    """
    means = _cluster_means(values, clusters)
    return t_interval(list(means.values()), confidence, f"{len(means)} {what}")


def welch_interval(first: Sequence[float], second: Sequence[float],
                   confidence: float = CONFIDENCE, what: str = "values") -> Interval:
    """mean(first) - mean(second) with a Welch t-interval (independent groups).

    Example:
        >>> interval = welch_interval([1.0, 1.2, 0.8], [0.1, 0.0, -0.1])
        >>> round(interval.estimate, 6), interval.verdict.value
        (1.0, 'positive')
    """
    first, second = _finite(first, "first"), _finite(second, "second")
    _check_confidence(confidence)
    label = f"{len(first)} and {len(second)} {what}"
    estimate = float(first.mean() - second.mean()) if len(first) and len(second) else math.nan
    if len(first) < 2 or len(second) < 2:
        return Interval(estimate, math.nan, math.nan, f"no interval: only {label}")
    var_first, var_second = first.var(ddof=1) / len(first), second.var(ddof=1) / len(second)
    error = math.sqrt(var_first + var_second)
    if error <= ZERO_SPREAD * max(1.0, abs(estimate)):
        return Interval(estimate, math.nan, math.nan, f"no interval: no variation across {label}")
    dof = (var_first + var_second) ** 2 / (var_first ** 2 / (len(first) - 1)
                                           + var_second ** 2 / (len(second) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * error
    return Interval(estimate, estimate - half, estimate + half,
                    f"Welch t-interval over {label}",
                    float(2 * stats.t.sf(abs(estimate) / error, dof)))


def t_p_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many one-sample t-tests of "mean 0" at once, one per row of ``values``.

    NaN entries are left out of their row. A row with fewer than 2 values, or without
    measured variation (see :func:`t_interval`), gets a NaN p-value.

    Args:
        values: (tests, replicates) array.

    Returns:
        ``(mean, standard error, two-sided p-value)``, one per row.

    Example:
        >>> mean, error, p = t_p_values(np.array([[1.0, 2.0, 3.0], [0.5, 0.5, np.nan]]))
        >>> mean.tolist(), p.round(4).tolist()
        ([2.0, 0.5], [0.0742, nan])
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a (tests, replicates) array, got shape {values.shape}")
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, values, 0.0).sum(axis=1) / count
        squares = np.where(finite, values - mean[:, None], 0.0) ** 2
        spread = np.sqrt(squares.sum(axis=1) / (count - 1))
        error = spread / np.sqrt(count)
        varies = (count >= 2) & (spread > ZERO_SPREAD * np.maximum(1.0, np.abs(mean)))
        statistic = np.abs(mean) / np.where(varies, error, 1.0)
        p_value = np.where(varies, 2 * stats.t.sf(statistic, np.maximum(count - 1, 1)), np.nan)
    return mean, np.where(varies, error, np.nan), p_value


def robust_p_value(gains: Sequence[float], seed: int = 0) -> tuple[float, str]:
    """A p-value of "mean gain 0" that does not assume normally distributed gains.

    * from ``MIN_SEEDS_SIGN_FLIP`` (6) seeds: the exact sign-flip permutation test (it
      assumes that under no effect a gain is as likely +g as -g, which holds when the
      fine-tune and scratch runs of a seed are exchangeable, but not normality; every sign
      pattern is enumerated up to 16 seeds, 65,536 random ones above), statistic ``|mean|``;
    * at 5 seeds (where the smallest sign-flip p-value, 2/32, cannot go below 0.05): a
      symmetric bootstrap-t (9,999 resamples of the seeds, studentized);
    * below 5 seeds, or with no variation: NaN (no check).

    Args:
        gains: one paired gain per seed.
        seed: seed of the resampling (bootstrap-t, sign flips above 16 seeds).

    Returns:
        ``(p_value, method)``.

    Example:
        >>> p, method = robust_p_value([0.02, 0.03, 0.01, 0.04, 0.02, 0.03])
        >>> round(p, 4), method
        (0.0312, 'exact sign-flip permutation test over 6 seeds')
        >>> robust_p_value([0.02, 0.03, 0.01])[1]
        'no check without normality below 5 seeds'
    """
    values = _finite(gains, "gains")
    count = len(values)
    if count < MIN_SEEDS_ROBUST:
        return math.nan, f"no check without normality below {MIN_SEEDS_ROBUST} seeds"
    if values.std(ddof=1) <= ZERO_SPREAD * max(1.0, abs(float(values.mean()))):
        return math.nan, f"no check: no variation across {count} seeds"
    rng = np.random.default_rng(seed)
    if count >= MIN_SEEDS_SIGN_FLIP:
        if count <= 16:
            signs = np.array(list(itertools.product((1.0, -1.0), repeat=count)))
            method = f"exact sign-flip permutation test over {count} seeds"
        else:
            signs = rng.choice((1.0, -1.0), size=(65536, count))
            method = f"sign-flip permutation test over {count} seeds (65,536 random flips)"
        flipped = np.abs(signs @ values) / count
        observed = abs(float(values.mean()))
        return float(np.mean(flipped >= observed * (1 - 1e-12))), method
    draws = values[rng.integers(count, size=(N_RESAMPLES, count))]
    errors = draws.std(axis=1, ddof=1) / math.sqrt(count)
    error = values.std(ddof=1) / math.sqrt(count)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistics = np.abs(draws.mean(axis=1) - values.mean()) / errors
    statistics = np.where(errors > 0, statistics, np.inf)
    observed = abs(float(values.mean())) / error
    return (float((1 + np.sum(statistics >= observed)) / (N_RESAMPLES + 1)),
            f"symmetric bootstrap-t over {count} seeds ({N_RESAMPLES} resamples)")


def seeds_needed(effect_sd: float, power: float = 0.8, confidence: float = CONFIDENCE,
                 most: int = 1000) -> int:
    """The fewest seeds with which :func:`seed_gain_interval` calls a true gain ``positive``
    with probability ``power``.

    Args:
        effect_sd: the true gain in units of the seed-to-seed standard deviation of the gains.
        power: the wanted probability of a ``positive`` verdict.
        confidence: the interval's confidence level.
        most: give up above this many seeds (ValueError).

    Example:
        >>> seeds_needed(2.0), seeds_needed(1.0), seeds_needed(0.5)
        (5, 10, 34)
    """
    if not effect_sd > 0:
        raise ValueError(f"effect_sd must be > 0, got {effect_sd}")
    _check_confidence(confidence)
    for count in range(2, most + 1):
        critical = stats.t.ppf(0.5 + confidence / 2, count - 1)
        if stats.nct.sf(critical, count - 1, effect_sd * math.sqrt(count)) >= power:
            return count
    raise ValueError(f"more than {most} seeds needed for a gain of {effect_sd} SD")


def single_seed_note(seeds: int) -> str | None:
    """What a plan with ``seeds`` seeds can say about training effects (None from 2 seeds).

    Example:
        >>> single_seed_note(1).split(": ")[0], single_seed_note(3)
        ('1 seed per cell', None)
    """
    if seeds >= 2:
        return None
    return (f"{seeds} seed per cell: every gain gets a test-record interval "
            f"({SINGLE_SEED_LABEL}) and the verdict single-seed: no winner is named. To call a "
            f"gain of 2 seed-to-seed standard deviations with 80% power a t-interval needs "
            f"{seeds_needed(2.0)} seeds; 1 standard deviation needs {seeds_needed(1.0)} seeds "
            "(--seeds N).")


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of p-values (family-wise error control); NaN stays NaN.

    A verdict whose adjusted p-value is below ``1 - confidence`` survives the correction.

    Example:
        >>> holm([0.01, 0.04, 0.03, float("nan")]).round(2).tolist()
        [0.03, 0.06, 0.06, nan]
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p_values))
    order = valid[np.argsort(p_values[valid], kind="stable")]
    scaled = p_values[order] * (len(order) - np.arange(len(order)))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def no_skill_baselines(y_true: np.ndarray, train_prevalence: Sequence[float] | None) -> dict:
    """Test weighted F1 of two no-skill predictors.

    * ``constant``: every label predicted present, on every record. Per label, predicting
      present gives F1 ``2q / (1 + q)`` (q: test prevalence) and absent gives 0, so this is the
      best constant prediction for weighted F1.
    * ``random``: each label predicted present at random with its training prevalence p, scored
      by expected counts: F1 ``2pq / (p + q)`` per label (None without ``train_prevalence``).

    Args:
        y_true: (records, labels) multi-hot test labels.
        train_prevalence: per label, the share of training records with it.

    Example:
        >>> y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
        >>> baselines = no_skill_baselines(y, [0.5, 0.25])
        >>> round(baselines["constant"], 4), round(baselines["random"], 4)
        (0.5778, 0.4167)
    """
    y_true = np.asarray(y_true, dtype=bool)
    constant = weighted_f1(y_true, np.ones_like(y_true, dtype=float))
    if train_prevalence is None:
        return {"constant": constant, "random": None}
    prevalence = np.asarray(train_prevalence, dtype=float)
    if prevalence.shape != y_true.shape[-1:]:
        raise ValueError(f"train_prevalence has {prevalence.size} values for "
                         f"{y_true.shape[-1]} labels")
    support = y_true.sum(axis=0)
    test = support / max(len(y_true), 1)
    f1 = np.divide(2 * prevalence * test, prevalence + test,
                   out=np.zeros(test.shape), where=(prevalence + test) > 0)
    random = float((f1 * support).sum() / support.sum()) if support.sum() else 0.0
    return {"constant": constant, "random": random}


def _cluster_means(values: Sequence[float], clusters: Sequence[Hashable]) -> dict:
    values = _finite(values, "values")
    if len(values) != len(clusters):
        raise ValueError(f"{len(values)} values but {len(clusters)} cluster ids")
    grouped: dict = {}
    for value, cluster in zip(values, clusters):
        grouped.setdefault(cluster, []).append(value)
    return {cluster: float(np.mean(members)) for cluster, members in grouped.items()}
