"""``predict``'s output: per record, each label's probability, threshold and yes/no decision.

CSV: ``#`` comment lines first (the labels are independent, which thresholds decided
and where they came from, how records were read), then one row per record:
``record, status, reason``, and for each label ``<label>_probability``,
``<label>_threshold``, ``<label>_decision`` (``yes``/``no``; empty for a failed
record). JSON: the same as fields (``multi_label``, ``thresholds``, ``labels``,
``records``, ``summary``). Files are written atomically.

Example:
    >>> from ecg_tl_keras.training.thresholds import Thresholds
    >>> thresholds = Thresholds((0.3,), "--threshold 0.3", {})
    >>> result = Predictions("best.keras", ["AF"], {}, None, thresholds, {},
    ...                      [RecordPrediction("r1.hea", "ok", None, np.array([0.42]))])
    >>> print(to_csv(result).splitlines()[-2:])
    ['record,status,reason,AF_probability,AF_threshold,AF_decision', 'r1.hea,ok,,0.420000,0.3,yes']
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from ecg_tl_keras.training.prediction import STATUS_OK, Predictions, RecordPrediction
from ecg_tl_keras.training.thresholds import DECISION

FORMATS = ("csv", "json")
MULTI_LABEL_NOTE = ("the labels are independent (multi-label): each label is decided on its "
                    "own, so a record may have several labels or none")
COLUMNS = ("probability", "threshold", "decision")


def output_format(out: str | os.PathLike | None, fmt: str | None) -> str:
    """``fmt`` when given, else from ``out``'s extension (``csv`` without ``out``).

    Raises:
        ValueError: an unknown format, or an ``out`` that is neither ``.csv`` nor ``.json``
            without a format.

    Example:
        >>> output_format("preds.json", None), output_format(None, None)
        ('json', 'csv')
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    if out is None:
        return "csv"
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"--out {out}: expected a .csv or .json file name, or --format csv|json")
    return suffix


def render(predictions: Predictions, fmt: str) -> str:
    """The output text in ``fmt`` (``csv`` or ``json``)."""
    if fmt == "json":
        return json.dumps(to_json(predictions), indent=2) + "\n"
    return to_csv(predictions)


def header_lines(predictions: Predictions) -> list[str]:
    """What the output's header says: labels independent, thresholds and their source."""
    lines = [f"ecg-tl-keras predict with {predictions.checkpoint}",
             f"{MULTI_LABEL_NOTE}; decision: {DECISION}",
             f"thresholds: {predictions.thresholds.source}"]
    lines += [f"threshold note: {label}: {note}"
              for label, note in predictions.thresholds.notes.items()]
    if predictions.label_codes:
        system = predictions.label_code_system or "source codes"
        lines.append(f"label codes ({system}): " + "; ".join(
            f"{label}={'|'.join(codes)}" for label, codes in predictions.label_codes.items()))
    lines.append("reading: " + "; ".join(f"{key} {_setting(value)}"
                                         for key, value in predictions.reading.items()
                                         if value is not None))
    return lines


def to_csv(predictions: Predictions) -> str:
    """The CSV text: ``#`` header lines, then one row per record."""
    stream = io.StringIO()
    for line in header_lines(predictions):
        stream.write(f"# {line}\n")
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["record", "status", "reason",
                     *(f"{label}_{column}" for label in predictions.labels for column in COLUMNS)])
    thresholds = predictions.thresholds
    for row in predictions.rows:
        cells = [row.record, row.status, row.reason or ""]
        if row.status == STATUS_OK:
            for probability, threshold, yes in zip(row.probabilities, thresholds.values,
                                                   thresholds.decide(row.probabilities)):
                cells += [f"{probability:.6f}", f"{threshold:g}", _yes_no(yes)]
        else:
            cells += [""] * (len(COLUMNS) * len(predictions.labels))
        writer.writerow(cells)
    return stream.getvalue()


def to_json(predictions: Predictions) -> dict:
    """The JSON document (a dict) of the same content as :func:`to_csv`."""
    thresholds = predictions.thresholds
    failed = len(predictions.failed)
    return {
        "checkpoint": predictions.checkpoint,
        "multi_label": True,
        "note": MULTI_LABEL_NOTE,
        "decision": DECISION,
        "thresholds": {"source": thresholds.source,
                       "values": dict(zip(predictions.labels, thresholds.values)),
                       "notes": thresholds.notes},
        "label_code_system": predictions.label_code_system,
        "labels": [{"name": label, "codes": list(predictions.label_codes.get(label, [])),
                    "threshold": value}
                   for label, value in zip(predictions.labels, thresholds.values)],
        "reading": {key: _setting(value) for key, value in predictions.reading.items()},
        "records": [_json_row(row, predictions) for row in predictions.rows],
        "summary": {"records": len(predictions.rows), "ok": len(predictions.rows) - failed,
                    "failed": failed},
    }


def _json_row(row: RecordPrediction, predictions: Predictions) -> dict:
    entry = {"record": row.record, "status": row.status, "reason": row.reason}
    if row.status == STATUS_OK:
        decisions = predictions.thresholds.decide(row.probabilities)
        entry["labels"] = {
            label: {"probability": round(float(probability), 6), "threshold": threshold,
                    "decision": _yes_no(yes)}
            for label, probability, threshold, yes in zip(
                predictions.labels, row.probabilities, predictions.thresholds.values, decisions)}
    return entry


def _yes_no(decision) -> str:
    return "yes" if bool(decision) else "no"


def _setting(value):
    """A reading setting as text (``I,II``; ``MLII=II``) for the header; JSON keeps None."""
    if isinstance(value, dict):
        return ",".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(str(item) for item in value)
    return value
