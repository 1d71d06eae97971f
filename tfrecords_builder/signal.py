"""Per-record signal conditioning: lead order, unit, resampling, cropping.

Every record leaves this module as float32 millivolts, leads ordered
``I, II, III, aVR, aVL, aVF, V1-V6``, 100 Hz, exactly ``TARGET_SAMPLES`` long.

Example:
>>> import numpy as np
>>> conditioner = SignalConditioner(fs_in=500)
>>> raw = np.zeros((5000, 12), dtype=np.float32)
>>> conditioner.input_samples_needed
5050
>>> conditioner(raw, STANDARD_LEADS).shape
(1000, 12)
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np
from scipy.signal import firwin, resample_poly

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF",
                  "V1", "V2", "V3", "V4", "V5", "V6")
TARGET_FS = 100
TARGET_SECONDS = 10
TARGET_SAMPLES = TARGET_FS * TARGET_SECONDS
UNIT = "mV"

# Names some releases use for the limb leads (CODE: DI, DII, DIII).
_LEAD_ALIASES = {"di": "i", "dii": "ii", "diii": "iii"}
NAN_POLICIES = ("drop", "interpolate", "zero")
#: ``poly``: scipy's polyphase anti-aliasing resampler; ``decimate``: every q-th sample, no
#: filter, as the study's code did (500 Hz -> every 5th sample).
RESAMPLERS = ("poly", "decimate")
#: The resampler of a build that names none (and of builds made before the option existed).
DEFAULT_RESAMPLE = RESAMPLERS[0]


class RecordRejected(Exception):
    """A record that cannot become a training example; the message is the reason."""


def canonical_lead(name: str) -> str:
    """Lower-case lead name with release-specific aliases folded in."""
    key = name.strip().lower()
    return _LEAD_ALIASES.get(key, key)


_STANDARD_KEYS = tuple(canonical_lead(lead) for lead in STANDARD_LEADS)


def standard_lead_indices(lead_names: Sequence[str],
                          leads: Sequence[str] = STANDARD_LEADS) -> list[int]:
    """Column index of each of ``leads`` (default: the 12 standard leads) in ``lead_names``.

    Leads are matched by name (case-insensitive, aliases folded).

    Raises:
        RecordRejected: a wanted lead is absent, or named twice (which one is meant is unknown).
    """
    wanted = {canonical_lead(lead) for lead in leads}
    position: dict[str, int] = {}
    for i, name in enumerate(lead_names):
        key = canonical_lead(name)
        if key in position and key in wanted:
            raise RecordRejected(f"lead {name} appears twice (signals {position[key] + 1} and "
                                 f"{i + 1}); which one is meant is ambiguous")
        position.setdefault(key, i)
    missing = [lead for lead in leads if canonical_lead(lead) not in position]
    if missing:
        raise RecordRejected(
            f"missing lead(s) {', '.join(missing)}; record has {', '.join(lead_names)}")
    return [position[canonical_lead(lead)] for lead in leads]


def standard_lead_subset(names: Sequence[str]) -> tuple[str, ...]:
    """Standard lead names, in the given order, for user-given names (any case, aliases folded).

    Raises:
        ValueError: a name is not a standard lead, or is given twice.

    Example:
    >>> standard_lead_subset(["ii", "DI", "V1"])
    ('II', 'I', 'V1')
    """
    by_key = dict(zip(_STANDARD_KEYS, STANDARD_LEADS))
    unknown = [name for name in names if canonical_lead(name) not in by_key]
    if unknown or not names:
        raise ValueError(f"leads must be standard lead names ({', '.join(STANDARD_LEADS)}); "
                         f"got {', '.join(map(repr, unknown or names)) or 'none'}")
    subset = tuple(by_key[canonical_lead(name)] for name in names)
    if len(set(subset)) != len(subset):
        raise ValueError(f"leads {', '.join(names)} name a lead twice")
    return subset


def repair_non_finite(signal: np.ndarray, policy: str) -> np.ndarray:
    """Apply ``policy`` to NaN/inf samples (``drop`` rejects the record)."""
    bad = ~np.isfinite(signal)
    if not bad.any():
        return signal
    count = int(bad.sum())
    if policy == "drop":
        raise RecordRejected(f"{count} non-finite sample(s) (use --nan-policy to repair)")
    repaired = np.array(signal, dtype=np.float64)
    if policy == "zero":
        repaired[bad] = 0.0
        return repaired
    samples = np.arange(repaired.shape[0])
    for lead in range(repaired.shape[1]):
        lead_bad = bad[:, lead]
        if lead_bad.all():
            raise RecordRejected(f"lead {lead} has no finite sample to interpolate from")
        if lead_bad.any():
            repaired[lead_bad, lead] = np.interp(
                samples[lead_bad], samples[~lead_bad], repaired[~lead_bad, lead])
    return repaired


class SignalConditioner:
    """Resample to 100 Hz with scipy's polyphase anti-aliasing filter and crop to 10 s.

    The FIR filter is designed once per input rate, exactly as
    ``scipy.signal.resample_poly`` designs it, so the output equals
    ``resample_poly(x, up, down)[:1000]`` to float rounding. Only the input
    needed for the first 10 s (plus the filter's half length) is used.
    With ``resample="decimate"`` (the study's code) the output is
    ``x[::q][:1000]`` for a rate of ``q`` x 100 Hz, with no anti-alias filter;
    a rate that is not a whole multiple of 100 Hz is rejected.

    Args:
        fs_in: sampling rate of the records, Hz.
        nan_policy: what to do with non-finite samples: ``drop`` the record,
            ``interpolate`` linearly per lead, or set them to ``zero``.
        leads: the leads of each example, in order (the 12 standard leads by default).
        resample: ``"poly"`` (default) or ``"decimate"`` (see ``RESAMPLERS``).

    Raises:
        RecordRejected: ``fs_in`` is below 100 Hz (records are never upsampled), or is not
            a whole multiple of 100 Hz under ``resample="decimate"``.
    """

    def __init__(self, fs_in: float, nan_policy: str = "drop",
                 leads: Sequence[str] = STANDARD_LEADS, resample: str = "poly"):
        if not (math.isfinite(fs_in) and fs_in > 0):
            raise ValueError(f"fs_in must be a finite positive rate, got {fs_in}")
        if fs_in < TARGET_FS:
            raise RecordRejected(f"sampling rate {fs_in:g} Hz is below {TARGET_FS} Hz")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        if resample not in RESAMPLERS:
            raise ValueError(f"resample must be one of {RESAMPLERS}, got {resample!r}")
        self.leads = tuple(leads)
        ratio = Fraction(TARGET_FS) / Fraction(fs_in).limit_denominator(1000)
        self.fs_in = fs_in
        self.nan_policy = nan_policy
        self.resample = resample
        self.up, self.down = ratio.numerator, ratio.denominator
        if resample == "decimate" and self.up != 1:
            raise RecordRejected(
                f"--resample decimate keeps every q-th sample, so it needs a rate that is a whole "
                f"multiple of {TARGET_FS} Hz; this record is at {fs_in:g} Hz (use --resample poly)")
        self._fir = None
        half_len = 0
        if (self.up, self.down) != (1, 1) and resample == "poly":
            max_rate = max(self.up, self.down)
            half_len = 10 * max_rate
            self._fir = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))
        self.min_input_samples = math.ceil(TARGET_SAMPLES * self.down / self.up)
        self.input_samples_needed = self.min_input_samples + math.ceil(half_len / self.up)

    def __call__(self, signal: np.ndarray, lead_names: Sequence[str]) -> np.ndarray:
        """Return the (1000, len(leads)) float32 mV example for a (samples, leads) mV signal."""
        if signal.ndim != 2 or signal.shape[1] != len(lead_names):
            raise RecordRejected(
                f"signal shape {signal.shape} does not match {len(lead_names)} lead names")
        length = signal.shape[0]
        if length < self.min_input_samples:
            raise RecordRejected(
                f"too short: {length / self.fs_in:.2f} s < {TARGET_SECONDS} s")
        leads = signal[: self.input_samples_needed, standard_lead_indices(lead_names, self.leads)]
        leads = repair_non_finite(leads, self.nan_policy)
        if self.resample == "decimate":
            leads = leads[:: self.down]
        elif self._fir is not None:
            leads = resample_poly(leads.astype(np.float64), self.up, self.down, axis=0,
                                  window=self._fir)
        return np.ascontiguousarray(leads[:TARGET_SAMPLES], dtype=np.float32)
