"""Predicting raw ECG record files with a checkpoint: a probability and a decision per label.

Records are read, checked and conditioned exactly as the dataset builder does
(header bounds, units, resampled to the build's rate, 100 Hz by default, cropped to its
duration, 10 s by default, zero-padded as it was, mV), with
``tfrecords_builder.read_any_record``, taking the leads, rate, duration, padding,
resampling, NaN policy and lead map of the data the checkpoint was trained on (its
metadata). A record that cannot be read, or reads to another shape than the model's
input, becomes a ``failed`` row with the reason; the other records are predicted all the
same.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ecg_tl_keras.training.thresholds import Thresholds
from tfrecords_builder.signal import DEFAULT_RESAMPLE

STATUS_OK, STATUS_FAILED = "ok", "failed"
#: Records read and predicted at a time (bounds the memory a large folder takes).
CHUNK_RECORDS = 256


@dataclasses.dataclass(frozen=True)
class RecordPrediction:
    """One record's result.

    Attributes:
        record: the record's path, as given or found.
        status: ``"ok"`` or ``"failed"``.
        reason: why the record failed (None when ok).
        probabilities: one per label (None when failed).
    """

    record: str
    status: str
    reason: str | None = None
    probabilities: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Predictions:
    """A batch's results with what decides them.

    Attributes:
        checkpoint: the checkpoint's path.
        labels: the label names, in output order.
        label_codes: label -> its source codes (from the checkpoint; {} when unknown).
        label_code_system: what the codes are (``"SNOMED CT"``, ...), or None.
        thresholds: the thresholds decided with, and where they came from.
        reading: how records were read (``leads``, ``resample``, ``nan_policy``,
            ``lead_map``, ``assume_units``).
        rows: one per record, in input order.
    """

    checkpoint: str
    labels: list[str]
    label_codes: dict
    label_code_system: str | None
    thresholds: Thresholds
    reading: dict
    rows: list[RecordPrediction]

    @property
    def failed(self) -> list[RecordPrediction]:
        """The rows of records that could not be predicted."""
        return [row for row in self.rows if row.status == STATUS_FAILED]


def predict_batch(checkpoint: str, records: Sequence[str], *, thresholds: str = "val",
                  threshold: float | None = None, lead_map: str | dict | None = None,
                  assume_units: str | None = None) -> Predictions:
    """Probabilities and decisions of a checkpoint for record files; bad records become rows.

    Args:
        checkpoint: a ``.keras`` checkpoint.
        records: record files (see :func:`ecg_tl_keras.training.record_files.find_records`).
        thresholds: ``"val"`` (the checkpoint's stored thresholds) or ``"0.5"``.
        threshold: one threshold for every label (overrides ``thresholds``).
        lead_map: record channel name -> standard lead, or its text ``MLII=II,V=V5``
            (default: the checkpoint's, when its training data had one).
        assume_units: the unit of requested leads whose header gives none or a non-ECG one.

    Raises:
        FileNotFoundError: missing checkpoint.
        ValueError: unloadable checkpoint, bad threshold arguments, a malformed lead map or
            unit (all before any record is read).

    Example:
        >>> result = predict_batch("runs/a/best.keras", ["00001_lr.hea"])  # doctest: +SKIP
        >>> result.rows[0].status, result.thresholds.source  # doctest: +SKIP
        ('ok', 'the checkpoint: max F1 per label on the selection split (val ...)')
    """
    from ecg_tl_keras.training.checkpoints import label_names, load_checkpoint
    from ecg_tl_keras.training.thresholds import resolve_thresholds

    model, metadata = load_checkpoint(checkpoint)
    labels = label_names(model, metadata)
    decision = resolve_thresholds(metadata, labels, thresholds, threshold)
    reading = reading_options(metadata, lead_map=lead_map, assume_units=assume_units)
    shape = tuple(model.input_shape[1:])
    rows: list[RecordPrediction] = []
    for start in range(0, len(records), CHUNK_RECORDS):
        rows += _predict_chunk(model, shape, records[start:start + CHUNK_RECORDS], reading)
    return Predictions(str(checkpoint), labels, dict(metadata.get("label_codes") or {}),
                       metadata.get("label_code_system"), decision, reading, rows)


def predict_records(checkpoint: str, records: list[str]) -> tuple[list[str], np.ndarray]:
    """``(label_names, probabilities (records, labels))`` of a checkpoint for raw record files.

    Raises:
        FileNotFoundError: missing checkpoint.
        ValueError: unloadable checkpoint, or the first record that could not be predicted.

    Example:
        >>> names, probs = predict_records("runs/a/best.keras", ["00001_lr.hea"])  # doctest: +SKIP
    """
    result = predict_batch(checkpoint, records)
    if result.failed:
        raise ValueError(result.failed[0].reason)
    return result.labels, np.stack([row.probabilities for row in result.rows])


def reading_options(metadata: dict, *, lead_map: str | dict | None = None,
                    assume_units: str | None = None) -> dict:
    """How to read records for a checkpoint: its training data's leads, rate, duration,
    padding, resampling, NaN policy and lead map (a build's defaults where its metadata does
    not say), with the given lead map and unit assumption instead when given.

    Raises:
        ValueError: a malformed lead map or unit (before any record is read).

    Example:
        >>> reading_options({"leads": ["II"], "lead_map": {"MLII": "II"}})["lead_map"]
        {'MLII': 'II'}
    """
    from tfrecords_builder.leads import STANDARD_LEADS, parse_lead_map
    from tfrecords_builder.units import check_assume_units

    lead_map = lead_map if lead_map is not None else metadata.get("lead_map")
    return {"leads": tuple(metadata.get("leads") or STANDARD_LEADS),
            "resample": metadata.get("resample") or DEFAULT_RESAMPLE,
            "rate": metadata.get("fs"), "seconds": metadata.get("seconds"),
            "pad_to": metadata.get("pad_to"),
            "nan_policy": metadata.get("nan_policy") or "drop",
            "lead_map": parse_lead_map(lead_map) or None,
            "assume_units": check_assume_units(assume_units)}


def _predict_chunk(model, shape, records: Sequence[str], reading: dict) -> list[RecordPrediction]:
    rows, signals = [], []
    for record in records:
        signal, reason = _read(record, reading)
        if reason is None and signal.shape != shape:
            reason = f"{record} reads as {signal.shape}, the model takes {shape}"
        rows.append(RecordPrediction(record, STATUS_OK if reason is None else STATUS_FAILED,
                                     reason))
        if reason is None:
            signals.append(signal)
    if not signals:
        return rows
    probabilities = iter(model.predict(np.stack(signals).astype(np.float32), verbose=0))
    return [dataclasses.replace(row, probabilities=next(probabilities))
            if row.status == STATUS_OK else row for row in rows]


def _read(record: str, reading: dict) -> tuple[np.ndarray | None, str | None]:
    """``(signal, None)``, or ``(None, reason)`` for a record that cannot be read.

    Any error reading one record is that record's reason (with the error's type when it
    is not a reading error), so one malformed file never stops a batch.
    """
    from tfrecords_builder import read_any_record
    from tfrecords_builder.signal import RecordRejected

    options = {key: value for key, value in reading.items() if value is not None}
    try:
        return read_any_record(record, **options), None
    except (RecordRejected, ValueError, OSError) as error:
        return None, _with_record(record, _first_line(error))
    except Exception as error:  # noqa: BLE001 - a malformed file may raise anything in wfdb
        return None, _with_record(record, f"{type(error).__name__}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _with_record(record: str, reason: str) -> str:
    return reason if record in reason else f"{record}: {reason}"
