"""Decision thresholds: chosen on the selection split at training, resolved for ``predict``.

Each label is decided on its own (multi-label): ``yes`` when its probability is
strictly greater than its threshold, as the metrics binarise predictions. Training
stores, in the checkpoint's metadata, the threshold of each label that maximises that
label's F1 on the selection split (:func:`max_f1_thresholds`), never on the test split;
``predict`` uses them unless told otherwise (:func:`resolve_thresholds`).

Example:
    >>> entry = max_f1_thresholds([[1], [1], [0], [0]], [[0.9], [0.4], [0.3], [0.1]], ["AF"],
    ...                           split="val")
    >>> entry["values"], entry["selection_f1"], entry["f1_at_0.5"]
    ([0.35], [1.0], [0.666667])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ecg_tl_keras.metrics import DEFAULT_THRESHOLD, per_label_f1

MAX_F1_RULE = "max F1 per label on the selection split"
FIXED_RULE = f"{DEFAULT_THRESHOLD} for every label (not chosen)"
DECISION = "yes when probability > threshold"
#: Stored thresholds are rounded to this many decimals (their F1 is scored after rounding).
DECIMALS = 6
#: ``--thresholds`` choices: the checkpoint's stored thresholds, or 0.5 for every label.
CHOICES = ("val", "0.5")


def max_f1_thresholds(y_true, y_prob, labels, *, split: str) -> dict:
    """The metadata entry of per-label thresholds maximising each label's F1 on ``split``.

    A label's candidates are the midpoints between consecutive distinct probabilities
    (and half the lowest one); ties in F1 go to the candidate closest to 0.5. A label
    without a positive record in the split, or whose probabilities are all 0 there (a
    collapsed model), keeps 0.5, with a note.

    Args:
        y_true: multi-hot targets of the selection split, ``(records, labels)``.
        y_prob: the model's probabilities for them.
        labels: the label names, in output order.
        split: a description of the selection split (recorded).

    Returns:
        ``rule``, ``split``, ``records``, ``decision``, ``values`` (label order),
        ``selection_f1`` (each label's F1 at its threshold), ``f1_at_0.5``,
        ``positives`` and ``notes`` (label -> why it kept 0.5).

    Raises:
        ValueError: shapes differ, or not one label name per column.
    """
    y_true = np.asarray(y_true) > 0.5
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_prob.shape or y_true.shape[1] != len(labels):
        raise ValueError(f"need targets and probabilities of shape (records, {len(labels)}); "
                         f"got {y_true.shape} and {y_prob.shape}")
    values, notes = [], {}
    for column, label in enumerate(labels):
        threshold, reason = _best_threshold(y_true[:, column], y_prob[:, column])
        if threshold is None:
            notes[label] = f"{reason}: {DEFAULT_THRESHOLD}"
            threshold = DEFAULT_THRESHOLD
        values.append(round(float(threshold), DECIMALS))
    return {
        "rule": MAX_F1_RULE,
        "split": split,
        "records": int(y_true.shape[0]),
        "decision": DECISION,
        "values": values,
        "selection_f1": _rounded(_f1_per_label(y_true, y_prob, values)),
        "f1_at_0.5": _rounded(per_label_f1(y_true, y_prob, DEFAULT_THRESHOLD)),
        "positives": [int(count) for count in y_true.sum(axis=0)],
        "notes": notes,
    }


def fixed_thresholds(labels, reason: str) -> dict:
    """The metadata entry of a run that chose no thresholds: 0.5 for every label, and why.

    Example:
        >>> fixed_thresholds(["AF"], "selected on test")["values"]
        [0.5]
    """
    return {"rule": FIXED_RULE, "split": None, "decision": DECISION,
            "values": [DEFAULT_THRESHOLD] * len(labels), "notes": {"all": reason}}


def _best_threshold(truth: np.ndarray, prob: np.ndarray) -> tuple[float | None, str | None]:
    """``(threshold, None)``: the F1-maximising threshold of one label; ``(None, reason)``
    when no threshold predicts a positive record (none in the split, or every probability 0).
    """
    positives = int(truth.sum())
    if positives == 0:
        return None, "no positive record in the selection split"
    order = np.argsort(-prob, kind="stable")
    prob, truth = prob[order], truth[order]
    true_positives = np.cumsum(truth)
    predicted = np.arange(1, len(prob) + 1)
    f1 = 2 * true_positives / (predicted + positives)  # 2tp / (2tp + fp + fn)
    below = np.append(prob[1:], 0.0)  # the next lower probability (0 after the lowest)
    cuts = np.flatnonzero(prob > below)  # predicting the records down to this one
    if not cuts.size:  # "yes" needs a probability above the threshold, and 0 is the lowest
        return None, "every probability in the selection split is 0"
    candidates = (prob[cuts] + below[cuts]) / 2
    best = np.flatnonzero(f1[cuts] >= f1[cuts].max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]]), None


def _f1_per_label(y_true, y_prob, thresholds) -> np.ndarray:
    return np.array([per_label_f1(y_true[:, [i]], y_prob[:, [i]], value)[0]
                     for i, value in enumerate(thresholds)])


def _rounded(values) -> list[float]:
    return [round(float(value), DECIMALS) for value in values]


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The thresholds ``predict`` decides with, and where they came from.

    Attributes:
        values: one per label, in output order.
        source: one line saying where they come from (for the output's header).
        notes: label -> note (a label that kept 0.5, a checkpoint without thresholds).
    """

    values: tuple[float, ...]
    source: str
    notes: dict

    def decide(self, probabilities) -> np.ndarray:
        """Boolean decisions, ``probability > threshold`` per label.

        Example:
            >>> Thresholds((0.5, 0.2), "x", {}).decide([[0.6, 0.1]]).tolist()
            [[True, False]]
        """
        return np.asarray(probabilities) > np.asarray(self.values)


def resolve_thresholds(metadata: dict, labels, choice: str = "val",
                       threshold: float | None = None) -> Thresholds:
    """The thresholds to decide with: ``threshold`` for all labels when given, else ``choice``.

    Args:
        metadata: the checkpoint's metadata (its ``thresholds`` entry, when any).
        labels: the label names, in output order.
        choice: ``"val"``: the checkpoint's stored thresholds (0.5, with a note, for a
            checkpoint that stores none); ``"0.5"``: 0.5 for every label.
        threshold: one threshold for every label (``--threshold``), in [0, 1].

    Raises:
        ValueError: a threshold outside [0, 1], an unknown choice, or stored thresholds
            that are not one per label.

    Example:
        >>> resolve_thresholds({}, ["AF", "PVC"]).values
        (0.5, 0.5)
        >>> resolve_thresholds({}, ["AF"], threshold=0.3).source
        '--threshold 0.3 (one for all labels)'
    """
    if threshold is not None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"--threshold must be a probability in [0, 1], got {threshold:g}")
        return Thresholds((float(threshold),) * len(labels),
                          f"--threshold {threshold:g} (one for all labels)", {})
    if choice not in CHOICES:
        raise ValueError(f"--thresholds must be one of {', '.join(CHOICES)}, got {choice!r}")
    if choice == "0.5":
        return Thresholds((DEFAULT_THRESHOLD,) * len(labels), "--thresholds 0.5 (fixed)", {})
    stored = metadata.get("thresholds")
    if stored is None:
        return Thresholds((DEFAULT_THRESHOLD,) * len(labels),
                          f"{DEFAULT_THRESHOLD} for every label: the checkpoint stores no "
                          f"decision thresholds (trained before they were stored)",
                          {"all": "no thresholds in the checkpoint"})
    values = tuple(float(value) for value in stored["values"])
    if len(values) != len(labels):
        raise ValueError(f"the checkpoint stores {len(values)} thresholds for {len(labels)} "
                         f"labels")
    where = f"the checkpoint: {stored['rule']}"
    if stored.get("split"):
        where += f" ({stored['split']}, {stored.get('records', '?')} records)"
    return Thresholds(values, where, dict(stored.get("notes") or {}))
