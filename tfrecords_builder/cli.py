"""``python -m tfrecords_builder DATASET --source DIR --out DIR [options]``.

The common flags are generated from the fields of
:class:`~tfrecords_builder.options.BuildOptions` and
:class:`~tfrecords_builder.options.RunOptions`; each reader adds its own. Errors follow
the one policy of both commands (:mod:`tfrecords_builder.command`).
"""

from __future__ import annotations

import argparse
import sys

from tfrecords_builder.build import build_dataset
from tfrecords_builder.command import error_line, fail, run_command
from tfrecords_builder.extensions import import_modules, split_imports
from tfrecords_builder.flags import add_flags, values_from_args
from tfrecords_builder.options import BuildOptions, RunOptions
from tfrecords_builder.readers import READERS, get_reader

PROG = "python -m tfrecords_builder"


def add_options(parser: argparse.ArgumentParser, dataset: str) -> None:
    """The flags of one DATASET: the common ones, then its reader's own."""
    add_flags(parser, BuildOptions)
    add_flags(parser, RunOptions)
    get_reader(dataset).add_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
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
        add_options(subparsers.add_parser(name, help=(reader.__doc__ or "").split("\n")[0]), name)
    return parser


def command_flags(dataset: str, options: dict) -> str:
    """The flags that ask ``python -m tfrecords_builder DATASET`` for these option values.

    Args:
        dataset: the reader's name; another name is a dataset of the ``folder`` reader
            (``--name NAME``).
        options: option values by name (``BuildOptions`` fields or the reader's options).

    Raises:
        ValueError: an option that is not one of DATASET's flags.

    Example:
        >>> command_flags("ribeiro", {"split": "random", "keep_padding": True, "seed": 3})
        '--split-policy random --keep-padding --seed 3'
    """
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    add_options(parser, dataset if dataset in READERS else "folder")
    actions = {action.dest: action for action in parser._actions}
    flags = []
    for name, value in options.items():
        if name not in actions:
            raise ValueError(f"{PROG} {dataset} has no option {name!r}")
        action = actions[name]
        if action.nargs == 0:  # a switch: store_true / store_false
            if value == action.const:
                flags.append(action.option_strings[0])
            continue
        if value is not None:
            shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            flags.append(f"{action.option_strings[0]} {shown}")
    return " ".join(flags)


def _build(args: argparse.Namespace) -> int:
    build = values_from_args(BuildOptions, args)
    run = values_from_args(RunOptions, args)
    build_dataset(args.dataset, build.pop("source"), run.pop("out"), **build, **run,
                  **READERS[args.dataset].options_from_args(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # before the full parser: a module may add a DATASET
        import_modules(split_imports(argv)[0])
    except ValueError as error:
        return fail(PROG, error_line(error))
    args = build_parser().parse_args(argv)
    return run_command(_build, args, prog=PROG,
                       interrupted=f"nothing written to {args.out}; a re-run starts over")
