"""Bootstrap confidence intervals for the study's comparisons.

* over seeds: :func:`bootstrap_mean_ci` of per-seed differences (``scipy.stats.bootstrap``;
  BCa from 10 values on, percentile below that or when BCa is undefined, e.g. all values
  equal; with 2 or 3 seeds the interval is little more than their range);
* over test records: :func:`paired_bootstrap_f1_difference`, the weighted-F1 difference of
  two models' predictions on the same records, resampling records (percentile interval);
* between groups: :func:`bootstrap_mean_difference_ci` (e.g. CNN gains vs RNN gains).

Example:
    >>> import numpy as np
    >>> interval = bootstrap_mean_ci(np.random.default_rng(0).normal(1.0, 0.1, 50))
    >>> interval.low < 1.0 < interval.high
    True
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from ecg_tl_keras.metrics import DEFAULT_THRESHOLD

CONFIDENCE = 0.95
N_RESAMPLES = 9999
#: Below this many values per sample, BCa's jackknife is too crude: use percentile intervals.
MIN_VALUES_FOR_BCA = 10


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval.

    Attributes:
        estimate: the statistic on the data.
        low, high: the interval's bounds (NaN when it cannot be computed).
        method: how the interval was computed, in words.
    """

    estimate: float
    low: float
    high: float
    method: str

    @property
    def verdict(self) -> str:
        """``"positive"``, ``"negative"`` (interval excludes 0) or ``"unclear"``."""
        if self.low > 0:
            return "positive"
        if self.high < 0:
            return "negative"
        return "unclear"


def bootstrap_mean_ci(values: Sequence[float], confidence: float = CONFIDENCE,
                      n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """The mean of ``values`` with a bootstrap confidence interval.

    Example:
        >>> bootstrap_mean_ci([0.02, 0.02, 0.02])
        Interval(estimate=0.02, low=0.02, high=0.02, method='bootstrap over 3 values (percentile)')
    """
    values = np.asarray(values, dtype=float)
    return _bootstrap((values,), _mean, confidence, n_resamples, seed, f"{len(values)} values")


def bootstrap_mean_difference_ci(first: Sequence[float], second: Sequence[float],
                                 confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES,
                                 seed: int = 0) -> Interval:
    """mean(first) - mean(second), resampling the two groups independently.

    Example:
        >>> bootstrap_mean_difference_ci([1.0, 1.1, 0.9], [0.0, 0.1, -0.1]).estimate
        1.0
    """
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    return _bootstrap((first, second), _mean_difference, confidence, n_resamples, seed,
                      f"{len(first)} and {len(second)} values")


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Support-weighted F1 of multi-hot labels over the last two axes (records, labels).

    Leading axes are batch axes. Labels without positives weigh 0; the score is 0 when no
    label has a positive (as in :func:`ecg_tl_keras.metrics.weighted_f1`).

    Example:
        >>> float(weighted_f1(np.array([[1, 0], [0, 1]]), np.array([[1, 0], [1, 1]])))
        0.8333333333333333
    """
    counts = _confusion_counts(np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool))
    return _weighted_f1_from_totals(counts.sum(axis=-3))


def _confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per record and label: stacked (tp, fp, fn) indicators, shape (..., records, 3, labels)."""
    return np.stack([y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred], axis=-2)


def _weighted_f1_from_totals(totals: np.ndarray) -> np.ndarray:
    """Weighted F1 from summed counts of shape (..., 3, labels)."""
    tp, fp, fn = np.moveaxis(totals, -2, 0)
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)
    support = tp + fn
    total = support.sum(axis=-1)
    return np.divide((f1 * support).sum(axis=-1), total, out=np.zeros(total.shape),
                     where=total > 0)


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
