"""A run's per-epoch selection-split curve, and what the report reads off two of them.

A curve is the run's selection-split score per epoch from its ``history``, oriented so that
higher is better (a monitored loss is negated). The report compares a fine-tune's curve with
its scratch run's: when each reaches the other's best, and their mean over the epochs both
have.

Example:
    >>> curve = oriented_selection_curve({"metrics": {"selection_metric": "val_loss"},
    ...                                   "history": [{"val_loss": 0.9}, {"val_loss": 0.5}]})
    >>> curve, best_score(curve), first_epoch_reaching(curve, -0.6)
    ([-0.9, -0.5], -0.5, 2)
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: history.csv columns of the selection split's score start with this (older result files).
HISTORY_SELECTION_PREFIX = "selection_"
NEVER = "never"
#: A run whose history has no selection column has no curve to reach anything on.
NO_CURVE = "no curve"


def oriented_selection_curve(result: dict) -> list[float] | None:
    """The run's per-epoch selection-split score, oriented so that higher is better (a
    monitored loss is negated); None when the history has no selection column.

    Example:
        >>> oriented_selection_curve({"metrics": {"selection_metric": "val_loss"},
        ...                           "history": [{"val_loss": 0.9}, {"val_loss": 0.5}]})
        [-0.9, -0.5]
    """
    from ecg_tl_keras.training.config import monitor_mode

    history = result.get("history") or []
    columns = history[0].keys() if history else ()
    named = (result.get("metrics") or {}).get("selection_metric")
    column = named if named in columns else next(
        (c for c in columns if c.startswith(HISTORY_SELECTION_PREFIX)), None)
    if column is None:
        return None
    sign = -1.0 if monitor_mode(column) == "min" else 1.0
    return [sign * row.get(column, math.nan) for row in history]


def first_epoch_reaching(curve: Sequence[float] | None, target: float) -> int | str:
    """The first epoch (1-based) at which ``curve`` reaches ``target``, else ``"never"``;
    ``"no curve"`` without a curve.

    Example:
        >>> first_epoch_reaching([0.2, 0.5, 0.8], 0.5), first_epoch_reaching([0.3] * 9, 0.5)
        (2, 'never')
        >>> first_epoch_reaching(None, 0.5)
        'no curve'
    """
    if curve is None or not math.isfinite(target):
        return NO_CURVE
    reached = np.flatnonzero(np.asarray(curve, dtype=float) >= target)
    return int(reached[0]) + 1 if len(reached) else NEVER


def best_score(curve: Sequence[float] | None) -> float:
    """The best (highest) finite value of an oriented curve; NaN without one.

    Example:
        >>> best_score([0.2, float("nan"), 0.5]), best_score(None)
        (0.5, nan)
    """
    if curve is None:
        return math.nan
    values = np.asarray(curve, dtype=float)
    return float(np.nanmax(values)) if np.isfinite(values).any() else math.nan


def common_area(first: Sequence[float], second: Sequence[float]) -> tuple[float, float]:
    """Mean per epoch of two curves over the epochs both have a score for.

    Example:
        >>> common_area([0.2, 0.4, 0.6], [0.1, 0.3])
        (0.3, 0.2)
    """
    length = min(len(first), len(second))
    a, b = (np.asarray(c[:length], dtype=float) for c in (first, second))
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return math.nan, math.nan
    return round(float(a[both].mean()), 12), round(float(b[both].mean()), 12)


def as_float(value) -> float:
    """A result file's number as a float; NaN for a missing or unreadable value.

    Example:
        >>> as_float("0.5"), as_float(None), as_float("n/a")
        (0.5, nan, nan)
    """
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan
