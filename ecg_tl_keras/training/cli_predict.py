"""Per-label probabilities, thresholds and yes/no decisions of a checkpoint for raw ECG records.

Records are read, checked and conditioned exactly as the dataset builder does
(header bounds, units, resampled to 100 Hz, cropped to 10 s, mV), with
``tfrecords_builder.read_any_record``. A folder stands for every record in it. A
record that cannot be read gets a ``failed`` row with the reason and the others are
written all the same; the exit status is then 1 (0 when every record was predicted,
2 for a bad checkpoint or bad arguments, with nothing written).

Example:
    python -m ecg_tl_keras.cli predict --checkpoint runs/r18/best.keras \
        records100/00000/00001_lr.hea --predictions-file preds.csv
"""

from __future__ import annotations

import argparse
import sys

from ecg_tl_keras.training.command_options import PredictOptions
from tfrecords_builder.flags import add_flags


EXIT_STATUS = ("exit status: 0 every record predicted; 1 some record failed (its row says why, the "
               "others are written); 2 bad checkpoint or arguments (nothing written)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of :class:`~ecg_tl_keras.training.command_options.PredictOptions`."""
    parser.epilog = EXIT_STATUS
    add_flags(parser, PredictOptions)


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

