"""Progress over a study's cells: a text bar, the time elapsed and an estimate of what is left.

The estimate assumes that training time is proportional to each cell's work (epochs x train
records): after the first trained cell, what is left is the remaining work at the rate
measured so far. Cells that were already done cost nothing.

Example:
    >>> clock = iter([0.0, 60.0, 60.0]).__next__
    >>> progress = CellProgress([100, 100, 200], clock=clock)
    >>> progress.finished(0, trained=True)
    >>> progress.line()
    '[#######-------------] 1/3 cells | 1:00 elapsed | about 3:00 left'
"""

from __future__ import annotations

import time
from typing import Callable, Sequence


class CellProgress:
    """Tracks which cells are finished and how fast training goes.

    Args:
        work: per cell, its training work (e.g. epochs x train records), in cell order;
            None where it is unknown (a backbone with no measured rate), counted as the
            mean of the known ones.
        width: characters of the bar.
        clock: seconds, monotonic (``time.monotonic``).
    """

    def __init__(self, work: Sequence[float | None], width: int = 20,
                 clock: Callable[[], float] = time.monotonic):
        known = [float(value) for value in work if value is not None]
        unknown = sum(known) / len(known) if known else 1.0
        self.work = [max(unknown if value is None else float(value), 0.0) for value in work]
        self.width = width
        self.clock = clock
        self.started = clock()
        self.done = [False] * len(self.work)
        self.trained_work = 0.0

    def finished(self, index: int, trained: bool) -> None:
        """Mark cell ``index`` finished; ``trained``: it was trained now (not already done)."""
        self.done[index] = True
        if trained:
            self.trained_work += self.work[index]

    def line(self) -> str:
        """``[####------] 3/9 cells | 2:10 elapsed | about 4:05 left``."""
        count, total = sum(self.done), len(self.done)
        filled = round(self.width * count / total) if total else self.width
        elapsed = self.clock() - self.started
        left_work = sum(w for w, done in zip(self.work, self.done) if not done)
        if count == total:
            left = "done"
        elif self.trained_work > 0:
            left = f"about {_minutes(elapsed / self.trained_work * left_work)} left"
        else:
            left = "estimating time left"
        return (f"[{'#' * filled}{'-' * (self.width - filled)}] {count}/{total} cells | "
                f"{_minutes(elapsed)} elapsed | {left}")


def _minutes(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    text = f"{rest // 60}:{rest % 60:02d}"
    return f"{hours}:{text.zfill(5)}" if hours else text
