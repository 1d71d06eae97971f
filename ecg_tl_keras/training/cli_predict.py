"""Print per-label probabilities of a checkpoint for raw ECG record files.

Records are read, checked and conditioned exactly as the dataset builder does
(header bounds, ``.mat`` format, resampled to 100 Hz, cropped to 10 s, mV), with
``tfrecords_builder.read_any_record``; a bad record is a one-line error naming it.

Example:
    python -m ecg_tl_keras.cli predict --model runs/r18/best.keras records100/00000/00001_lr.hea
"""

from __future__ import annotations

import argparse

import numpy as np

from ecg_tl_keras.training._cli import user_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="CKPT.keras", help="checkpoint to use")
    parser.add_argument(
        "records",
        nargs="+",
        metavar="RECORD",
        help="WFDB record (.hea/.dat/.mat) or CPSC 2018 .mat file",
    )


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

    signals = []
    for record in records:  # read first: a bad record is reported before the model loads
        try:
            signals.append(read_any_record(record))
        except RecordRejected as error:
            raise ValueError(str(error)) from None
    model, metadata = load_checkpoint(checkpoint)
    shape = tuple(model.input_shape[1:])
    for record, signal in zip(records, signals):
        if signal.shape != shape:
            raise ValueError(f"{record} reads as {signal.shape}, the model takes {shape}")
    probabilities = model.predict(np.stack(signals).astype(np.float32), verbose=0)
    return label_names(model, metadata), probabilities


@user_errors
def run(args: argparse.Namespace) -> int:
    names, probabilities = predict_records(args.model, args.records)
    width = max(len(record) for record in args.records)
    print(" ".join([f"{'record':<{width}}", *(f"{name:>8}" for name in names)]))
    for record, row in zip(args.records, probabilities):
        print(" ".join([f"{record:<{width}}", *(f"{value:8.4f}" for value in row)]))
    return 0
