"""Per-label probabilities, thresholds and yes/no decisions of a checkpoint for raw ECG records.

Records are read, checked and conditioned exactly as the dataset builder does
(header bounds, units, resampled to 100 Hz, cropped to 10 s, mV), with
``tfrecords_builder.read_any_record``. A folder stands for every record in it. A
record that cannot be read gets a ``failed`` row with the reason and the others are
written all the same; the exit status is then 1 (0 when every record was predicted,
2 for a bad checkpoint or bad arguments, with nothing written).

Example:
    python -m ecg_tl_keras.cli predict --checkpoint runs/r18/best.keras \
        records100/00000/00001_lr.hea --out preds.csv
"""

from __future__ import annotations

import argparse
import sys

from ecg_tl_keras.training.prediction_output import FORMATS
from ecg_tl_keras.training.thresholds import CHOICES


EXIT_STATUS = ("exit status: 0 every record predicted; 1 some record failed (its row says why, the "
               "others are written); 2 bad checkpoint or arguments (nothing written)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_STATUS
    parser.add_argument("--checkpoint", "--model", dest="checkpoint", required=True,
                        metavar="CKPT.keras", help="checkpoint to use (--model: old name)")
    parser.add_argument(
        "records",
        nargs="+",
        metavar="RECORD",
        help="WFDB record (.hea/.dat/.mat), EDF file (.edf), CPSC 2018 .mat file, or a folder "
             "(every record in it)",
    )
    parser.add_argument("--out", metavar="PREDS.csv|PREDS.json",
                        help="write here (format from the extension); default: standard output")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="csv or json (default: from --out's extension, else csv)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--thresholds", choices=CHOICES, default=None,
                        help="val: the checkpoint's per-label thresholds, chosen on the "
                             "selection split (default); 0.5: 0.5 for every label")
    choice.add_argument("--threshold", type=float, default=None, metavar="X",
                        help="one threshold in [0, 1] for every label")
    parser.add_argument("--lead-map", default=None, metavar="NAME=LEAD,...",
                        help="record channel names to standard leads, e.g. MLII=II,V=V5 "
                             "(default: the lead map of the checkpoint's training data, if any)")
    parser.add_argument("--assume-units", default=None, metavar="UNIT",
                        help="unit of requested leads whose header gives no ECG unit "
                             "(NU, empty), e.g. mV")


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.training.prediction import predict_batch
    from ecg_tl_keras.training.prediction_output import output_format, render
    from ecg_tl_keras.training.record_files import find_records
    from ecg_tl_keras.training.rundir import write_text_atomic

    fmt = output_format(args.out, args.format)
    predictions = predict_batch(
        args.checkpoint, find_records(args.records), thresholds=args.thresholds or "val",
        threshold=args.threshold, lead_map=args.lead_map,
        assume_units=args.assume_units)
    text = render(predictions, fmt)
    if args.out:
        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    failed = predictions.failed
    total = len(predictions.rows)
    where = f" -> {args.out}" if args.out else ""
    print(f"predicted {total - len(failed)} of {total} records{where}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} record(s) failed (status 'failed', reason in the output), "
              f"first: {failed[0].reason}", file=sys.stderr)
        return 1
    return 0

