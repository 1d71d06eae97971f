"""An estimate with its interval, and the one verdict vocabulary of the study and ``advise``.

Example:
    >>> Interval(0.02, 0.01, 0.03, "t-interval over 3 seeds", seeds=3).verdict.value
    'positive'
"""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np

CONFIDENCE = 0.95
N_RESAMPLES = 9999
#: Below this many values per sample, BCa's jackknife is too crude: use percentile intervals.
MIN_VALUES_FOR_BCA = 10
#: What a test-record interval of a single-seed comparison covers.
SINGLE_SEED_LABEL = "test-sample uncertainty only (1 seed)"
#: Values whose standard deviation is at most this (times max(1, |mean|)) have no measured
#: variation: no interval, no verdict.
ZERO_SPREAD = 1e-9


class Verdict(str, enum.Enum):
    """What an interval says about a gain (fine-tune minus scratch), one vocabulary for the
    study report and ``advise``; ``wording`` is how a table says it.

    The values are the strings written to ``findings.json`` and ``advice.json``.

    Example:
        >>> Verdict("not-robust").wording
        'not robust: the t-interval and a check without normality disagree'
        >>> Verdict.POSITIVE == "positive", str(Verdict.NONE), {"none": 1}[Verdict.NONE]
        (True, 'none', 1)
    """

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCLEAR = "unclear"
    SINGLE_SEED = "single-seed"
    NOT_ROBUST = "not-robust"
    NONE = "none"

    def __str__(self) -> str:
        return self.value

    def __hash__(self) -> int:  # equal to its string, so it finds string dict keys too
        return hash(self.value)

    @property
    def wording(self) -> str:
        """The verdict in words, as the report's tables give it."""
        return _WORDING[self]

    @property
    def names_winner(self) -> bool:
        """Whether the verdict names a winner (``positive`` or ``negative``)."""
        return self in (Verdict.POSITIVE, Verdict.NEGATIVE)


_WORDING = {
    Verdict.POSITIVE: "fine-tune better",
    Verdict.NEGATIVE: "scratch better",
    Verdict.UNCLEAR: "no clear difference",
    Verdict.SINGLE_SEED: "single seed: no verdict",
    Verdict.NOT_ROBUST: "not robust: the t-interval and a check without normality disagree",
    Verdict.NONE: "no verdict",
}


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval.

    Attributes:
        estimate: the statistic on the data.
        low, high: the interval's bounds (NaN when it cannot be computed).
        method: how the interval was computed, in words.
        p_value: two-sided p-value of "no difference" (NaN when not computed).
        seeds: the number of seeds behind it, when it is about a training effect; with fewer
            than 2 the verdict is ``single-seed`` whatever the interval.

    Without finite bounds, or with bounds that coincide (no measured variation), the
    verdict is ``none``: zero spread is not certainty.
    """

    estimate: float
    low: float
    high: float
    method: str
    p_value: float = math.nan
    seeds: int | None = None

    @property
    def verdict(self) -> Verdict:
        """``positive``, ``negative`` (interval excludes 0), ``unclear``, ``single-seed``
        (fewer than 2 seeds: no evidence about a training effect) or ``none`` (no interval)."""
        if self.seeds is not None and self.seeds < 2:
            return Verdict.SINGLE_SEED
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low == self.high:
            return Verdict.NONE
        if self.low > 0:
            return Verdict.POSITIVE
        if self.high < 0:
            return Verdict.NEGATIVE
        return Verdict.UNCLEAR


def _finite(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite numbers, got {array.tolist()}")
    return array


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
