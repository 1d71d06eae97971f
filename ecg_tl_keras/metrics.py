"""Multi-label classification metrics used for model selection and reporting.

Every metric a run logs per epoch is registered in :data:`METRICS` (a
:class:`~ecg_tl_keras.registry.Registry`): the built-in ``weighted_f1``, ``macro_f1`` and
``macro_auc``, and any added with :func:`register_metric`. Training logs each one on
every scored split as ``<split>_<name>`` (``val_<name>`` in ``history.csv``, usable as
``--monitor val_<name>``), and ``evaluate`` shows each one.

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

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from tfrecords_builder.registry import WORD, Registry

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
        ``macro_auc``, ``auc_labels``, ``auc_skipped_labels``, ``records``, ``threshold``,
        and ``metrics``: every registered metric (:func:`compute_metrics`; None where
        undefined), the built-in ones included.

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
        "metrics": {name: None if math.isnan(value) else value
                    for name, value in compute_metrics(y_true, y_prob).items()},
    }


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A registered metric: ``fn(y_true, y_prob) -> float`` on a split's NumPy arrays.

    Attributes:
        name: The registry name; training logs it as ``<split>_<name>``.
        fn: ``fn(y_true, y_prob) -> float``, ``y_true`` multi-hot ``(records, labels)``,
            ``y_prob`` the predicted probabilities of the same shape. ``None`` or NaN
            means undefined on that split (e.g. an AUC without both classes).
        higher_is_better: Whether selection maximises it (``--monitor val_<name>``
            then keeps the epoch with the highest value) or minimises it.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True

    @property
    def mode(self) -> str:
        """``"max"`` or ``"min"``: the better direction, as Keras callbacks spell it."""
        return "max" if self.higher_is_better else "min"

    def __call__(self, y_true, y_prob) -> float:
        """The metric's value as a float (NaN when undefined).

        Raises:
            ValueError: ``fn`` returned something that is not a number.
        """
        value = self.fn(np.asarray(y_true), np.asarray(y_prob))
        if value is None:
            return math.nan
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"metric {self.name!r} returned {value!r}, not a number") from None


#: The registered metrics: name -> ``fn``, each entry's spec a :class:`MetricSpec`.
METRICS: Registry[Callable] = Registry(
    "metric", pattern=WORD,
    hint="(a metric registered in your own module needs `ecg-tl-keras --import MODULE`)")


def register_metric(name: str, fn: Callable, *, higher_is_better: bool = True,
                    override: bool = False) -> Callable:
    """Registers ``fn(y_true, y_prob) -> float`` as a metric every run logs and evaluates.

    Args:
        name: A lower-case word; training logs ``val_<name>`` (and ``test_<name>``).
        fn: The metric, on the NumPy arrays of a whole split (see :class:`MetricSpec`).
        higher_is_better: The direction ``--monitor val_<name>`` selects in.
        override: Replace a metric registered under ``name`` (a built-in one stays).

    Returns:
        ``fn``, unchanged.

    Raises:
        ValueError: A name that is not a lower-case word, ``loss`` (the loss has its own
            key), a name already registered, or ``fn`` not callable.

    Example:
        >>> def top_label_recall(y_true, y_prob):
        ...     top = y_prob.argmax(axis=1)
        ...     return float(y_true[np.arange(len(top)), top].mean())
        >>> _ = register_metric("top_label_recall", top_label_recall)
        >>> compute_metrics([[1, 0], [0, 1]], [[0.9, 0.2], [0.6, 0.4]])["top_label_recall"]
        0.5
        >>> unregister_metric("top_label_recall")  # leave the registry as it was
    """
    METRICS.check_name(name)
    if name == "loss" or name.endswith("_loss"):
        raise ValueError(f"metric name {name!r} is reserved: <split>_loss is the training loss")
    if not callable(fn):
        raise ValueError(f"metric {name!r}: fn must be callable (y_true, y_prob) -> float, "
                         f"got {fn!r}")
    if not isinstance(higher_is_better, bool):
        raise ValueError(f"metric {name!r}: higher_is_better must be True or False, "
                         f"got {higher_is_better!r}")
    return METRICS.register(name, fn, spec=MetricSpec(name, fn, higher_is_better),
                            override=override)


def unregister_metric(name: str) -> None:
    """Removes a metric added with :func:`register_metric` (ValueError for a built-in one)."""
    METRICS.unregister(name)


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``name`` (ValueError listing the metrics if unknown).

    Example:
        >>> get_metric("macro_auc").mode
        'max'
    """
    return METRICS.spec(name)


def metric_names() -> tuple[str, ...]:
    """The registered metric names, built-in first.

    Example:
        >>> metric_names()[:3]
        ('weighted_f1', 'macro_f1', 'macro_auc')
    """
    return METRICS.names()


def compute_metrics(y_true, y_prob) -> dict[str, float]:
    """Every registered metric of one split's predictions (NaN where undefined).

    Example:
        >>> values = compute_metrics([[1, 0], [0, 1]], [[0.9, 0.2], [0.3, 0.8]])
        >>> sorted(values)[:3], values["weighted_f1"]
        (['macro_auc', 'macro_f1', 'weighted_f1'], 1.0)
    """
    y_true, y_prob = _as_pair(y_true, y_prob)
    return {entry.name: entry.spec(y_true, y_prob) for entry in METRICS.entries()}


def _macro_auc_value(y_true, y_prob) -> float | None:
    return macro_auc(y_true, y_prob)["macro_auc"]


register_metric("weighted_f1", weighted_f1)
register_metric("macro_f1", macro_f1)
register_metric("macro_auc", _macro_auc_value)
METRICS.mark_builtin()
