"""Shared handling of user errors for the training sub-commands."""

from __future__ import annotations

import functools
import sys
from typing import Callable

USER_ERRORS = (ValueError, FileNotFoundError)


def user_errors(run: Callable) -> Callable:
    """Wraps ``run(args)``: a bad argument or missing file prints one line and returns 2.

    Example:
        >>> @user_errors
        ... def run(args):
        ...     raise ValueError("unknown model 'x'")
        >>> run(None)
        2
    """

    @functools.wraps(run)
    def wrapper(args) -> int:
        try:
            return int(run(args) or 0)
        except USER_ERRORS as error:
            message = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
            print(f"ecg-tl-keras: error: {message}", file=sys.stderr)
            return 2

    return wrapper
