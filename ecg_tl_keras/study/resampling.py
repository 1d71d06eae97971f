"""Bootstrap intervals: of means, and of weighted-F1 differences over test records.

Percentile/BCa bootstraps of a handful of values are far too narrow (2 values: their range):
for seed gains use :func:`ecg_tl_keras.study.stats.seed_gain_interval`. The test-record
bootstraps hold test-sample uncertainty only (one seed), or both levels
(:func:`two_level_bootstrap_f1_difference`: seeds, then test records).

Example:
    >>> y = np.array([[1, 0], [0, 1], [1, 1]])
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> paired_bootstrap_f1_difference(y, p, p).estimate
    0.0
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from ecg_tl_keras.metrics import DEFAULT_THRESHOLD, weighted_f1_from_counts
from ecg_tl_keras.study.intervals import (
    CONFIDENCE, MIN_VALUES_FOR_BCA, N_RESAMPLES, Interval, _check_confidence)


def bootstrap_mean_ci(values: Sequence[float], confidence: float = CONFIDENCE,
                      n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """The mean of ``values`` with a bootstrap confidence interval.

    Percentile/BCa bootstraps of a handful of values are far too narrow (2 values: their
    range); for seed gains use :func:`seed_gain_interval`.

    Example:
        >>> interval = bootstrap_mean_ci([0.02, 0.02, 0.02])
        >>> interval.low, interval.high, interval.method
        (0.02, 0.02, 'bootstrap over 3 values (percentile)')
    """
    values = np.asarray(values, dtype=float)
    return _bootstrap((values,), _mean, confidence, n_resamples, seed, f"{len(values)} values")


def bootstrap_mean_difference_ci(first: Sequence[float], second: Sequence[float],
                                 confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES,
                                 seed: int = 0) -> Interval:
    """mean(first) - mean(second), resampling the two groups independently.

    For a few values per group use :func:`welch_interval`.

    Example:
        >>> bootstrap_mean_difference_ci([1.0, 1.1, 0.9], [0.0, 0.1, -0.1]).estimate
        1.0
    """
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    return _bootstrap((first, second), _mean_difference, confidence, n_resamples, seed,
                      f"{len(first)} and {len(second)} values")


def _confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per record and label: stacked (tp, fp, fn) indicators, shape (..., records, 3, labels)."""
    return np.stack([y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred], axis=-2)


def _weighted_f1_from_totals(totals: np.ndarray) -> np.ndarray:
    """Weighted F1 from summed counts of shape (..., 3, labels)."""
    return weighted_f1_from_counts(*np.moveaxis(totals, -2, 0))


def paired_bootstrap_f1_difference(y_true: np.ndarray, prob_a: np.ndarray, prob_b: np.ndarray,
                                   threshold: float = DEFAULT_THRESHOLD,
                                   confidence: float = CONFIDENCE,
                                   n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """Weighted F1 of ``prob_a`` minus that of ``prob_b`` on the same records, with a paired
    bootstrap (percentile) interval that resamples the records.

    Args:
        y_true: (records, labels) multi-hot truth.
        prob_a, prob_b: (records, labels) probabilities of the two models, same record order.
        threshold: a label is predicted when its probability is above it.

    Example:
        >>> y = np.array([[1, 0], [0, 1], [1, 1]])
        >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        >>> interval = paired_bootstrap_f1_difference(y, p, p)
        >>> (interval.estimate, interval.low, interval.high)
        (0.0, 0.0, 0.0)
    """
    y_true = np.asarray(y_true).astype(bool)
    pred_a, pred_b = np.asarray(prob_a) > threshold, np.asarray(prob_b) > threshold
    if not y_true.shape == pred_a.shape == pred_b.shape:
        raise ValueError(f"y_true, prob_a and prob_b must have one shape, got "
                         f"{y_true.shape}, {pred_a.shape}, {pred_b.shape}")

    # Per record: (tp, fp, fn) indicators of model a, then of model b: (records, 6, labels).
    counts = np.concatenate([_confusion_counts(y_true, pred_a), _confusion_counts(y_true, pred_b)],
                            axis=-2).astype(np.uint8)

    def difference(index, axis=-1):
        totals = counts[index].sum(axis=-3)
        return (_weighted_f1_from_totals(totals[..., :3, :])
                - _weighted_f1_from_totals(totals[..., 3:, :]))

    indices = np.arange(len(y_true))
    return _bootstrap((indices,), difference, confidence, n_resamples, seed,
                      f"{len(indices)} test records", method="percentile")


def two_level_bootstrap_f1_difference(pairs: Sequence[tuple], threshold: float = DEFAULT_THRESHOLD,
                                      confidence: float = CONFIDENCE, n_resamples: int = 1999,
                                      seed: int = 0) -> Interval:
    """Mean over seeds of weighted F1 of a minus b, with a two-level bootstrap interval.

    Each resample draws the seeds with replacement, then, within each drawn seed, the test
    records with replacement (multinomial weights), so the interval holds both training
    randomness and test-sample noise (percentile). With few seeds the seed level inherits the
    percentile bootstrap's narrowness: verdicts come from :func:`seed_gain_interval`.

    Args:
        pairs: per seed ``(y_true, prob_a, prob_b)`` as for :func:`paired_bootstrap_f1_difference`.

    Example:
        >>> y = np.array([[1, 0], [0, 1], [1, 1]])
        >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        >>> two_level_bootstrap_f1_difference([(y, p, p), (y, p, p)]).low
        0.0
    """
    if not pairs:
        raise ValueError("two_level_bootstrap_f1_difference needs at least one seed's predictions")
    _check_confidence(confidence)
    rng = np.random.default_rng(seed)
    counts, estimates = [], []
    for y_true, prob_a, prob_b in pairs:
        y_true = np.asarray(y_true).astype(bool)
        pred_a, pred_b = np.asarray(prob_a) > threshold, np.asarray(prob_b) > threshold
        both = np.concatenate([_confusion_counts(y_true, pred_a),
                               _confusion_counts(y_true, pred_b)], axis=-2)
        counts.append(both.reshape(len(y_true), -1).astype(float))  # (records, 6 * labels)
        estimates.append(_f1_difference(counts[-1].sum(axis=0)))
    drawn = rng.integers(len(pairs), size=(n_resamples, len(pairs)))
    differences = np.zeros(n_resamples)
    for slot in range(len(pairs)):
        for index, records in enumerate(counts):
            chosen = np.flatnonzero(drawn[:, slot] == index)
            weights = rng.multinomial(len(records), np.full(len(records), 1 / len(records)),
                                      size=len(chosen))
            differences[chosen] += _f1_difference(weights @ records)
    differences /= len(pairs)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(differences, [alpha, 1 - alpha])
    return Interval(float(np.mean(estimates)), float(low), float(high),
                    f"two-level bootstrap over {len(pairs)} seeds, then test records "
                    "(percentile)", seeds=len(pairs))


def _f1_difference(totals: np.ndarray) -> np.ndarray:
    """Weighted F1 of a minus b from flattened (..., 6 * labels) summed counts."""
    totals = totals.reshape(*totals.shape[:-1], 6, -1)
    return (_weighted_f1_from_totals(totals[..., :3, :])
            - _weighted_f1_from_totals(totals[..., 3:, :]))


def align_predictions(first: dict, second: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match two ``predictions_test.npz`` contents by ``record_id``.

    Returns:
        ``(y_true, y_prob_first, y_prob_second)`` on the common records, in ``first``'s order.

    Raises:
        ValueError: no common record, or the two disagree on a record's labels.
    """
    ids_second = {str(record): row for row, record in enumerate(second["record_id"])}
    rows = [(row, ids_second[str(record)]) for row, record in enumerate(first["record_id"])
            if str(record) in ids_second]
    if not rows:
        raise ValueError("the two prediction files share no record_id")
    index_first, index_second = (np.array(column) for column in zip(*rows))
    y_true = np.asarray(first["y_true"])[index_first]
    if not np.array_equal(y_true, np.asarray(second["y_true"])[index_second]):
        raise ValueError("the two prediction files give different labels for the same records")
    return (y_true, np.asarray(first["y_prob"])[index_first],
            np.asarray(second["y_prob"])[index_second])


def _mean(values, axis=-1):
    return np.mean(values, axis=axis)


def _mean_difference(first, second, axis=-1):
    return np.mean(first, axis=axis) - np.mean(second, axis=axis)


def _bootstrap(data: tuple, statistic: Callable, confidence: float, n_resamples: int, seed: int,
               what: str, method: str | None = None) -> Interval:
    estimate = float(statistic(*data))
    smallest = min(len(sample) for sample in data)
    if smallest < 2:
        return Interval(estimate, math.nan, math.nan, f"no interval: fewer than 2 of {what}")
    if method is None:
        method = "BCa" if smallest >= MIN_VALUES_FOR_BCA else "percentile"
    for attempt in dict.fromkeys((method, "percentile")):  # BCa is undefined for equal values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(data, statistic, confidence_level=confidence,
                                     n_resamples=n_resamples, method=attempt, vectorized=True,
                                     batch=max(1, 2_000_000 // max(1, data[0].size)),
                                     rng=np.random.default_rng(seed))
        low, high = (float(bound) for bound in result.confidence_interval)
        if math.isfinite(low) and math.isfinite(high):
            return Interval(estimate, low, high, f"bootstrap over {what} ({attempt})")
    return Interval(estimate, low, high, f"bootstrap over {what}: undefined")
