"""``python -m tfrecords_builder DATASET --source DIR --out DIR [options]``."""

from __future__ import annotations

import argparse
import sys

from tfrecords_builder.build import DEFAULT_SHARD_SIZE, BuildError, build_dataset
from tfrecords_builder.extensions import import_modules, split_imports
from tfrecords_builder.readers import READERS, SourceError
from tfrecords_builder.signal import (DEFAULT_RESAMPLE, NAN_POLICIES, RESAMPLERS, TARGET_FS,
                                      TARGET_SECONDS)
from tfrecords_builder.split import SPLIT_POLICIES
from tfrecords_builder.errors import HeaderError


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, help="the release folder, as downloaded")
    parser.add_argument("--out", required=True, help="output root; the dataset goes to OUT/DATASET")
    parser.add_argument("--split", choices=SPLIT_POLICIES, default=None,
                        help="random: patient-wise, 33%% test; strat_fold: PTB-XL's folds, fold 10 is test "
                             "(default: strat_fold for ptbxl, random otherwise)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random split and folds (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="rebuild a finished output")
    parser.add_argument("--strict", action="store_true", help="fail instead of skipping a record")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: all cores)")
    parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                        help="records per shard (default %(default)s)")
    parser.add_argument("--nan-policy", choices=NAN_POLICIES, default="drop",
                        help="records with NaN/inf samples: drop them (default), or repair by linear "
                             "interpolation per lead or by zeros")
    parser.add_argument("--keep-unlabeled", "--keep-other", dest="keep_unlabeled", action="store_true",
                        help="keep records with none of the study's labels (ptb: other diagnoses) "
                             "with all-zero labels")
    parser.add_argument("--resample", choices=RESAMPLERS, default=DEFAULT_RESAMPLE,
                        help="poly: scipy's anti-aliasing resample_poly (default); decimate: every "
                             "q-th sample of a q x 100 Hz record, no filter (the study's code)")
    parser.add_argument("--drop-flagged", action="store_true",
                        help="drop records a suspicious-signal check flags (flat lead, amplitude "
                             "beyond +-20 mV, identical leads) instead of only listing them")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar")
    parser.add_argument("--rate", type=int, default=TARGET_FS, metavar="HZ",
                        help=f"sampling rate of the examples (default {TARGET_FS}; e.g. 500 for "
                             "ECGFounder, 400 for Ribeiro et al.); records are never upsampled")
    parser.add_argument("--seconds", type=float, default=TARGET_SECONDS, metavar="S",
                        help=f"duration of the examples (default {TARGET_SECONDS})")
    parser.add_argument("--pad-to", type=int, default=None, metavar="N",
                        help="zero-pad each example to N samples, equally before and after "
                             "(Ribeiro et al.: --rate 400 --pad-to 4096)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfrecords_builder",
        description="Convert a public 12-lead ECG release into sharded TFRecords (100 Hz, 10 s, "
                    "mV by default) plus manifest.json.")
    parser.add_argument("--import", dest="modules", action="append", default=[],
                        metavar="MODULE",
                        help="import MODULE (a dotted name or a .py file) first: a module that "
                             "registers its own reader (register_reader); repeatable")
    subparsers = parser.add_subparsers(dest="dataset", metavar="DATASET",
                                       help=f"one of: {', '.join(READERS)}")
    subparsers.required = True
    for name, reader in READERS.items():
        sub = subparsers.add_parser(name, help=(reader.__doc__ or "").split("\n")[0])
        _add_common_options(sub)
        reader.add_options(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # before the full parser: a module may add a DATASET
        import_modules(split_imports(argv)[0])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    reader_options = READERS[args.dataset].options_from_args(args)
    try:
        build_dataset(args.dataset, args.source, args.out, split=args.split, seed=args.seed,
                      overwrite=args.overwrite, strict=args.strict, workers=args.workers,
                      shard_size=args.shard_size, nan_policy=args.nan_policy,
                      keep_unlabeled=args.keep_unlabeled, drop_flagged=args.drop_flagged,
                      progress=args.progress, resample=args.resample, rate=args.rate,
                      seconds=args.seconds, pad_to=args.pad_to, **reader_options)
    except (BuildError, SourceError, HeaderError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: nothing written to {args.out} (a re-run starts over)", file=sys.stderr)
        return 130
    return 0
