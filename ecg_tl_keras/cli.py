"""The ``ecg-tl-keras`` command: one sub-command per module.

Each sub-command module defines ``add_arguments(parser)`` and ``run(args) -> int``;
its help line is in ``COMMAND_HELP``. Modules are imported only when their command
runs, so ``ecg-tl-keras --help`` stays fast. TensorFlow's own C++ log lines are hidden
(``ecg_tl_keras.console``) unless ``--verbose`` is given, before or after the command.

Every command shares one error policy (:func:`run_command`), the one of
``python -m tfrecords_builder`` too (:mod:`tfrecords_builder.command`): bad input
(``ValueError``, a missing or unreadable file, a damaged shard) prints one line
``ecg-tl-keras: error: ...`` and exits 2; Ctrl-C prints one line and exits 130; neither
shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ecg_tl_keras.console import quiet_tensorflow
from ecg_tl_keras.extensions import import_extensions
from tfrecords_builder import command
from tfrecords_builder.command import error_line
from tfrecords_builder.extensions import split_imports

COMMANDS = {
    "train": "ecg_tl_keras.training.cli_train",
    "evaluate": "ecg_tl_keras.training.cli_evaluate",
    "predict": "ecg_tl_keras.training.cli_predict",
    "study": "ecg_tl_keras.study.cli",
    "demo": "ecg_tl_keras.demo",
    "advise": "ecg_tl_keras.advise.cli",
    "import": "ecg_tl_keras.importers.cli",
}

#: Commands that run under the TensorFlow or the JAX backend (``backends.TRAINING_BACKENDS``),
#: the latter without TensorFlow (``study`` checks when it trains a cell).
TRAINING_COMMANDS = ("train", "evaluate", "predict", "demo", "advise")

COMMAND_HELP = {
    "train": "train a backbone from scratch or fine-tune it from a .keras checkpoint",
    "evaluate": "evaluate a .keras checkpoint on a split of a built dataset",
    "predict": "per-label probabilities, thresholds and yes/no decisions for ECG records or folders",
    "study": "run the study's experiment grid (study run) and report on it (study report)",
    "demo": "build the bundled sample, pre-train, fine-tune and report, end to end",
    "advise": "rank candidate checkpoints on your dataset and measure whether pre-training helps",
    "import": "convert a published foundation model (ECGFounder, Ribeiro et al.) into a preset",
}


VERBOSE_HELP = "also show TensorFlow's own log lines (hidden by default)"


def build_parser(argv_command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecg-tl-keras",
        description="Transfer learning for 12-lead ECG diagnosis (Keras 3).")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="import MODULE (a module name or a .py file) "
                        "first, e.g. to register your own backbones; repeatable")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, module_name in COMMANDS.items():
        sub = subparsers.add_parser(name, help=COMMAND_HELP[name], description=COMMAND_HELP[name])
        if name == argv_command:
            importlib.import_module(module_name).add_arguments(sub)
        if "--verbose" not in sub._option_string_actions:
            sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                             help=VERBOSE_HELP)
    return parser


PROG = "ecg-tl-keras"


def run_command(run, args) -> int:
    """Runs ``run(args)`` under the error policy every command shares
    (:func:`tfrecords_builder.command.run_command`, the builder's too).

    Example:
        >>> def run(args):
        ...     raise ValueError("unknown model 'x'")
        >>> run_command(run, None)
        2
    """
    return command.run_command(run, args, prog=PROG,
                               interrupted="run the same command again to resume")


def fail(message: str) -> int:
    """Prints the one error line of the policy and returns its exit status, 2."""
    return command.fail(PROG, message)


def main(argv: list[str] | None = None) -> int:
    """Run a command; ``argv=None`` means this process is the command (``sys.argv``)."""
    is_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(arg == "--verbose" or arg.startswith("--verbose=") for arg in argv):
        quiet_tensorflow(filter_stderr=is_process)
    modules, rest = split_imports(argv)
    try:
        import_extensions(modules)
    except ValueError as error:
        return fail(error_line(error))
    command = next((arg for arg in rest if not arg.startswith("-")), None)
    command = command if command in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    if args.command in TRAINING_COMMANDS:
        from ecg_tl_keras.backends import require_training_backend

        try:
            require_training_backend(f"ecg-tl-keras {args.command}")
        except ValueError as error:
            return fail(error_line(error))
    module = importlib.import_module(COMMANDS[args.command])
    return run_command(module.run, args)


if __name__ == "__main__":
    sys.exit(main())
