"""Multi-label classification metrics used for model selection and reporting.

All functions take ``y_true`` (multi-hot, shape ``(n, k)``) and ``y_prob``
(sigmoid outputs, same shape) as array-likes. Predictions are binarised the
way ``keras.metrics.F1Score(threshold=0.5)`` does it: a label is predicted
when its probability is strictly greater than the threshold. F1 values equal
scikit-learn's ``f1_score(..., zero_division=0)`` on those binarised
predictions (without Keras' epsilon).

Example:
    >>> import numpy as np
    >>> y_true = np.array([[1, 0], [0, 1], [1, 1]])
    >>> y_prob = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.1]])
    >>> round(weighted_f1(y_true, y_prob), 4)
    0.8333
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_THRESHOLD = 0.5


def _as_pair(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_prob.shape:
        raise ValueError(
            f"y_true and y_prob must both have shape (records, labels); got {y_true.shape} "
            f"and {y_prob.shape}"
        )
    return (y_true > 0.5).astype(np.int64), y_prob


def confusion_counts(y_true, y_prob, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Per-label ``(tp, fp, fn)`` counts, shape ``(3, k)``.

    Example:
        >>> confusion_counts([[1, 0], [0, 1]], [[0.9, 0.8], [0.1, 0.2]]).tolist()
        [[1, 0], [0, 1], [0, 1]]
    """
    y_true, y_prob = _as_pair(y_true, y_prob)
    y_pred = (y_prob > threshold).astype(np.int64)
    return np.stack([(y_true * y_pred).sum(axis=0), ((1 - y_true) * y_pred).sum(axis=0),
                     (y_true * (1 - y_pred)).sum(axis=0)])


def f1_from_counts(tp, fp, fn) -> np.ndarray:
    """Per-label F1 from counts (0 where a label has no positives and no predictions).

    Any leading axes are batch axes (the bootstrap in ``ecg_tl_keras.study.stats`` uses them).

    Example:
        >>> f1_from_counts(np.array([1, 0]), np.array([0, 1]), np.array([0, 0])).tolist()
        [1.0, 0.0]
    """
    tp, fp, fn = (np.asarray(value, dtype=np.float64) for value in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)


def weighted_f1_from_counts(tp, fp, fn) -> np.ndarray:
    """Support-weighted mean F1 from per-label counts (last axis: labels; leading: batch).

    0 where no label has a positive.

    Example:
        >>> float(weighted_f1_from_counts(np.array([1, 1]), np.array([0, 1]), np.array([1, 0])))
        0.6666666666666666
    """
    f1 = f1_from_counts(tp, fp, fn)
    support = np.asarray(tp, dtype=np.float64) + np.asarray(fn, dtype=np.float64)
    total = support.sum(axis=-1)
    return np.divide((f1 * support).sum(axis=-1), total, out=np.zeros(total.shape),
                     where=total > 0)


def per_label_f1(y_true, y_prob, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """F1 of each label (0 where a label has no positives and no predictions).

    Args:
        y_true: multi-hot targets, shape ``(n, k)``.
        y_prob: predicted probabilities, shape ``(n, k)``.
        threshold: a label is predicted when its probability is ``> threshold``.

    Returns:
        Float array of shape ``(k,)``.

    Example:
        >>> per_label_f1([[1, 0], [0, 0]], [[0.8, 0.9], [0.1, 0.2]]).tolist()
        [1.0, 0.0]
    """
    return f1_from_counts(*confusion_counts(y_true, y_prob, threshold))


def weighted_f1(y_true, y_prob, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Support-weighted mean of per-label F1 (sklearn ``average="weighted"``).

    Returns 0.0 when no label has a positive example.

    Example:
        >>> weighted_f1([[1, 0], [1, 1]], [[0.9, 0.1], [0.8, 0.3]])
        0.6666666666666666
    """
    return float(weighted_f1_from_counts(*confusion_counts(y_true, y_prob, threshold)))


def macro_f1(y_true, y_prob, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Unweighted mean of per-label F1 (sklearn ``average="macro"``).

    Example:
        >>> macro_f1([[1, 0], [1, 1]], [[0.9, 0.1], [0.8, 0.3]])
        0.5
    """
    return float(per_label_f1(y_true, y_prob, threshold).mean())


def macro_auc(y_true, y_prob, label_names: Sequence[str] | None = None) -> dict:
    """Macro ROC AUC over the labels that have both classes in ``y_true``.

    Labels with only positives or only negatives have no defined AUC; they are
    skipped and listed, as sklearn would otherwise raise.

    Args:
        y_true: multi-hot targets, shape ``(n, k)``.
        y_prob: predicted probabilities, shape ``(n, k)``.
        label_names: names of the ``k`` labels (defaults to their indices).

    Returns:
        ``{"macro_auc": float or None, "auc_labels": [...], "auc_skipped_labels": [...]}``;
        ``macro_auc`` is None when no label qualifies.

    Example:
        >>> macro_auc([[1, 1], [0, 1]], [[0.9, 0.5], [0.2, 0.4]], ["A", "B"])
        {'macro_auc': 1.0, 'auc_labels': ['A'], 'auc_skipped_labels': ['B']}
    """
    from sklearn.metrics import roc_auc_score

    y_true, y_prob = _as_pair(y_true, y_prob)
    names = [str(i) for i in range(y_true.shape[1])] if label_names is None else list(label_names)
    if len(names) != y_true.shape[1]:
        raise ValueError(f"{len(names)} label names for {y_true.shape[1]} labels")
    positives = y_true.sum(axis=0)
    usable = (positives > 0) & (positives < len(y_true))
    value = None
    if usable.any():
        value = float(roc_auc_score(y_true[:, usable], y_prob[:, usable], average="macro"))
    return {
        "macro_auc": value,
        "auc_labels": [n for n, ok in zip(names, usable) if ok],
        "auc_skipped_labels": [n for n, ok in zip(names, usable) if not ok],
    }


def classification_report(
    y_true, y_prob, label_names: Sequence[str], threshold: float = DEFAULT_THRESHOLD
) -> dict:
    """Every reported test metric of a set of predictions, JSON-ready.

    Returns:
        Dict with ``weighted_f1``, ``macro_f1``, ``per_label_f1`` ({name: f1}),
        ``macro_auc``, ``auc_labels``, ``auc_skipped_labels``, ``records``, ``threshold``.

    Example:
        >>> report = classification_report([[1, 0], [0, 1]], [[0.7, 0.2], [0.1, 0.9]], ["A", "B"])
        >>> report["weighted_f1"], report["per_label_f1"]
        (1.0, {'A': 1.0, 'B': 1.0})
    """
    per_label = per_label_f1(y_true, y_prob, threshold)
    if len(label_names) != len(per_label):
        raise ValueError(f"{len(label_names)} label names for {len(per_label)} labels")
    return {
        "weighted_f1": weighted_f1(y_true, y_prob, threshold),
        "macro_f1": float(per_label.mean()),
        "per_label_f1": {str(n): float(v) for n, v in zip(label_names, per_label)},
        **macro_auc(y_true, y_prob, label_names),
        "records": int(np.shape(y_true)[0]),
        "threshold": threshold,
    }
