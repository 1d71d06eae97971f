"""Named fault points of a training run, for testing that every interruption is survived.

The trainer calls :func:`point` at each step of an epoch boundary (``epoch_end``,
``backup_weights``, ``backup_state``, ``backup_renamed``, ``history``) and of the
finish (``finish_checkpoint``, ``finish_metrics``). Nothing happens unless the
environment variable ``ECG_TL_KERAS_FAULT`` is ``POINT:EPOCH``, in which case the
process ends there at once with exit code :data:`EXIT_CODE` (``os._exit``: no
cleanup, as a killed process), or, with ``POINT:EPOCH:raise``, raises
:class:`InjectedFault` (for in-process tests).

Example:
    >>> point("backup_state", 1)  # no ECG_TL_KERAS_FAULT set: nothing happens
"""

from __future__ import annotations

import os

ENV = "ECG_TL_KERAS_FAULT"
EXIT_CODE = 97
POINTS = ("epoch_end", "backup_weights", "backup_state", "backup_renamed", "history",
          "finish_checkpoint", "finish_metrics")


class InjectedFault(BaseException):
    """Raised at a fault point in ``raise`` mode (a BaseException, so nothing catches it)."""


def point(name: str, epoch: int) -> None:
    """Ends the process (or raises) when ``ECG_TL_KERAS_FAULT`` names this point and epoch."""
    spec = os.environ.get(ENV)
    if spec == f"{name}:{epoch}":
        os._exit(EXIT_CODE)
    if spec == f"{name}:{epoch}:raise":
        raise InjectedFault(f"injected fault at {name}, epoch {epoch}")
