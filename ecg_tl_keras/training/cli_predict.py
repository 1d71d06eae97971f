"""Print per-label probabilities of a checkpoint for raw ECG record files.

Records are read, checked and conditioned exactly as the dataset builder does
(header bounds, ``.mat`` format, resampled to 100 Hz, cropped to 10 s, mV), with
``tfrecords_builder.read_any_record``; a bad record is a one-line error naming it.

Example:
    python -m ecg_tl_keras.cli predict --checkpoint runs/r18/best.keras \
        records100/00000/00001_lr.hea
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", "--model", dest="checkpoint", required=True,
                        metavar="CKPT.keras", help="checkpoint to use (--model: old name)")
    parser.add_argument(
        "records",
        nargs="+",
        metavar="RECORD",
        help="WFDB record (.hea/.dat/.mat) or CPSC 2018 .mat file",
    )


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.training.prediction import predict_records

    names, probabilities = predict_records(args.checkpoint, args.records)
    width = max(len(record) for record in args.records)
    print(" ".join([f"{'record':<{width}}", *(f"{name:>8}" for name in names)]))
    for record, row in zip(args.records, probabilities):
        print(" ".join([f"{record:<{width}}", *(f"{value:8.4f}" for value in row)]))
    return 0
