"""The ``ecg-tl-keras`` command: one sub-command per module.

Each sub-command module defines ``add_arguments(parser)`` and ``run(args) -> int``;
its help line is in ``COMMAND_HELP``. Modules are imported only when their command
runs, so ``ecg-tl-keras --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ecg_tl_keras.extensions import import_extensions

COMMANDS = {
    "train": "ecg_tl_keras.training.cli_train",
    "evaluate": "ecg_tl_keras.training.cli_evaluate",
    "predict": "ecg_tl_keras.training.cli_predict",
    "study": "ecg_tl_keras.study.cli",
    "demo": "ecg_tl_keras.demo",
    "advise": "ecg_tl_keras.advise.cli",
}

COMMAND_HELP = {
    "train": "train a backbone from scratch or fine-tune it from a .keras checkpoint",
    "evaluate": "evaluate a .keras checkpoint on a split of a built dataset",
    "predict": "print per-label probabilities for raw ECG record files",
    "study": "run the study's experiment grid (study run) and report on it (study report)",
    "demo": "build the bundled sample, pre-train, fine-tune and report, end to end",
    "advise": "rank candidate checkpoints on your dataset and measure whether pre-training helps",
}


def build_parser(argv_command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecg-tl-keras",
        description="Transfer learning for 12-lead ECG diagnosis (Keras 3).")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="import MODULE (a module name or a .py file) "
                        "first, e.g. to register your own backbones; repeatable")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, module_name in COMMANDS.items():
        sub = subparsers.add_parser(name, help=COMMAND_HELP[name], description=COMMAND_HELP[name])
        if name == argv_command:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    imports = argparse.ArgumentParser(add_help=False)
    imports.add_argument("--import", dest="imports", action="append", default=[])
    known, rest = imports.parse_known_args(argv)
    try:
        import_extensions(known.imports)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = rest[0] if rest and rest[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
