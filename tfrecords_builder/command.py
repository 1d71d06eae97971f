"""The one error policy of both commands, ``python -m tfrecords_builder`` and ``ecg-tl-keras``.

Bad input (a ``ValueError`` such as a bad header or a rejected option, a missing or
unreadable file, a build that cannot go on, damaged data) prints one line
``PROG: error: ...`` on standard error and exits 2, the status and format ``argparse``
uses for a bad command line; Ctrl-C prints one line ``PROG: interrupted (...)`` and
exits 130; neither shows a traceback. Any other exception is a bug and keeps its
traceback. This module imports neither TensorFlow nor the builder's readers.

Example:
    >>> def run(args):
    ...     raise ValueError("unknown model 'x'\\nmore detail")
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = run_command(run, None, prog="ecg-tl-keras", interrupted="")
    >>> status, err.getvalue()
    (2, "ecg-tl-keras: error: unknown model 'x'\\n")
"""

from __future__ import annotations

import sys
from typing import Callable

#: The exit status of bad input (as argparse's for a bad command line).
USAGE_ERROR = 2
#: The exit status after Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
#: Exceptions that mean bad input (arguments, files, data), not a bug.
USER_ERRORS = (ValueError, OSError)
#: Bad-input errors of other layers, matched by name (so this module imports neither
#: TensorFlow nor the builder): the builder's and a record's that cannot be used.
USER_ERROR_NAMES = ("BuildError", "RecordRejected")
#: TensorFlow's errors for damaged or vanished input data.
DATA_ERROR_NAMES = ("DataLossError", "NotFoundError")


def error_line(error: BaseException) -> str:
    """The one-line message of an exception (its first line).

    Example:
        >>> error_line(FileNotFoundError(2, "No such file or directory", "x.json"))
        "[Errno 2] No such file or directory: 'x.json'"
    """
    text = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], str) else str(error)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(error).__name__


def user_error_message(error: BaseException) -> str | None:
    """The line to print for an expected error, or None when ``error`` is a bug.

    Example:
        >>> user_error_message(KeyError("x")) is None, user_error_message(OSError("disk full"))
        (True, 'disk full')
    """
    name = type(error).__name__
    if isinstance(error, USER_ERRORS) or name in USER_ERROR_NAMES:
        return error_line(error)
    if name in DATA_ERROR_NAMES:
        return (f"damaged data: {error_line(error)} (check the dataset with its manifest's "
                "sha256, or rebuild it)")
    return None


def fail(prog: str, message: str) -> int:
    """Prints the policy's one error line and returns its exit status, 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def run_command(run: Callable, args, *, prog: str, interrupted: str) -> int:
    """Runs ``run(args)`` under the error policy; returns its exit status.

    Args:
        run: the command; returns its exit status (None: 0).
        args: its parsed arguments.
        prog: the command's name, the start of every error line.
        interrupted: what Ctrl-C leaves behind, shown in parentheses after ``interrupted``.
    """
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted ({interrupted})" if interrupted else f"{prog}: interrupted",
              file=sys.stderr)
        return INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the policy decides, others are re-raised
        message = user_error_message(error)
        if message is None:
            raise
        return fail(prog, message)
