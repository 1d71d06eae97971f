"""Predicting raw ECG record files with a checkpoint.

Records are read, checked and conditioned exactly as the dataset builder does
(header bounds, ``.mat`` format, resampled to the build's rate, 100 Hz by default, cropped
to its duration, 10 s by default, zero-padded as it was, mV), with
``tfrecords_builder.read_any_record``, taking the leads and the resampling of the data
the checkpoint was trained on (its metadata); a bad record is a one-line error naming it.
"""

from __future__ import annotations

import zipfile

import numpy as np


def predict_records(checkpoint: str, records: list[str]) -> tuple[list[str], np.ndarray]:
    """``(label_names, probabilities (records, labels))`` of a checkpoint for raw record files.

    Raises:
        FileNotFoundError: missing checkpoint.
        ValueError: unloadable checkpoint, unreadable record, or a record whose
            shape differs from the model's input.

    Example:
        >>> names, probs = predict_records("runs/a/best.keras", ["00001_lr.hea"])  # doctest: +SKIP
    """
    from tfrecords_builder import read_any_record
    from tfrecords_builder.signal import RecordRejected

    from ecg_tl_keras.training.checkpoints import label_names, load_checkpoint

    conditioning = _build_conditioning(checkpoint)
    signals = []
    for record in records:  # read first: a bad record is reported before the model loads
        try:
            signals.append(read_any_record(record, **conditioning))
        except RecordRejected as error:
            raise ValueError(str(error)) from None
    model, metadata = load_checkpoint(checkpoint)
    shape = tuple(model.input_shape[1:])
    for record, signal in zip(records, signals):
        if signal.shape != shape:
            raise ValueError(f"{record} reads as {signal.shape}, the model takes {shape}")
    probabilities = model.predict(np.stack(signals).astype(np.float32), verbose=0)
    return label_names(model, metadata), probabilities


def _build_conditioning(checkpoint: str) -> dict:
    """The leads and resampling of the data the checkpoint was trained on, from its metadata.

    A build's defaults (the 12 standard leads, ``poly``) for a checkpoint that does not
    say, or that cannot be read yet: loading it then reports why.
    """
    from tfrecords_builder.signal import STANDARD_LEADS

    from ecg_tl_keras.training.checkpoints import read_metadata

    try:
        metadata = read_metadata(checkpoint)
    except (OSError, ValueError, zipfile.BadZipFile):
        metadata = {}
    return {"leads": tuple(metadata.get("leads") or STANDARD_LEADS),
            "resample": metadata.get("resample") or "poly",
            "rate": metadata.get("fs"), "seconds": metadata.get("seconds"),
            "pad_to": metadata.get("pad_to")}
