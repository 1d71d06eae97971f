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

from tfrecords_builder.errors import RecordRejected
from tfrecords_builder.leads import (  # noqa: F401 - re-exported: imported from here elsewhere
    STANDARD_LEADS, canonical_lead, select_leads, standard_lead_subset)

TARGET_FS = 100
TARGET_SECONDS = 10
TARGET_SAMPLES = TARGET_FS * TARGET_SECONDS
UNIT = "mV"

NAN_POLICIES = ("drop", "interpolate", "zero")
#: ``poly``: scipy's polyphase anti-aliasing resampler; ``decimate``: every q-th sample, no
#: filter, as the study's code did (500 Hz -> every 5th sample).
RESAMPLERS = ("poly", "decimate")
#: The resampler of a build that names none (and of builds made before the option existed).
DEFAULT_RESAMPLE = RESAMPLERS[0]


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


def target_samples(rate: int = TARGET_FS, seconds: float = TARGET_SECONDS,
                   pad_to: int | None = None) -> int:
    """Samples of a built example: ``rate x seconds``, or ``pad_to`` when padded.

    Raises:
        ValueError: a rate or duration that is not positive, a length below one sample, or a
            ``pad_to`` shorter than ``rate x seconds``.

    Example:
        >>> target_samples(), target_samples(400, 10, pad_to=4096)
        (1000, 4096)
    """
    if isinstance(rate, float) and rate.is_integer():  # 500.0 from a JSON file
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise ValueError(f"rate must be a whole number of Hz >= 1, got {rate!r}")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    samples = round(rate * seconds)
    if samples < 1:
        raise ValueError(f"{seconds:g} s at {rate} Hz is less than one sample")
    if pad_to is None:
        return samples
    if isinstance(pad_to, bool) or not isinstance(pad_to, int) or pad_to < samples:
        raise ValueError(f"pad_to must be a whole number of samples >= {samples} "
                         f"({seconds:g} s at {rate} Hz), got {pad_to!r}")
    return pad_to


class SignalConditioner:
    """Resample to 100 Hz with scipy's polyphase anti-aliasing filter and crop to 10 s.

    (Or to ``rate`` Hz and ``seconds`` s, zero-padded to ``pad_to`` samples when given:
    the padding is split equally before and after the signal, as Ribeiro et al. padded.)

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
                 leads: Sequence[str] = STANDARD_LEADS, resample: str = DEFAULT_RESAMPLE, *,
                 rate: int = TARGET_FS, seconds: float = TARGET_SECONDS,
                 pad_to: int | None = None):
        if not (math.isfinite(fs_in) and fs_in > 0):
            raise ValueError(f"fs_in must be a finite positive rate, got {fs_in}")
        self.samples = target_samples(rate, seconds, pad_to)
        self.rate, self.seconds, self.cropped = rate, seconds, round(rate * seconds)
        if fs_in < rate:
            raise RecordRejected(f"sampling rate {fs_in:g} Hz is below {rate} Hz")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        if resample not in RESAMPLERS:
            raise ValueError(f"resample must be one of {RESAMPLERS}, got {resample!r}")
        self.leads = tuple(leads)
        ratio = Fraction(rate) / Fraction(fs_in).limit_denominator(1000)
        self.fs_in = fs_in
        self.nan_policy = nan_policy
        self.resample = resample
        self.up, self.down = ratio.numerator, ratio.denominator
        if resample == "decimate" and self.up != 1:
            raise RecordRejected(
                f"--resample decimate keeps every q-th sample, so it needs a rate that is a whole "
                f"multiple of {rate} Hz; this record is at {fs_in:g} Hz (use --resample poly)")
        self._fir = None
        half_len = 0
        if (self.up, self.down) != (1, 1) and resample == "poly":
            max_rate = max(self.up, self.down)
            half_len = 10 * max_rate
            # imported here: a build that never resamples skips scipy.signal's import (about
            # 1.5 s in the main process and in each worker)
            from scipy.signal import firwin

            self._fir = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))
        self.min_input_samples = math.ceil(self.cropped * self.down / self.up)
        self.input_samples_needed = self.min_input_samples + math.ceil(half_len / self.up)

    def __call__(self, signal: np.ndarray, lead_names: Sequence[str]) -> np.ndarray:
        """Return the (samples, len(leads)) float32 mV example for a (samples, leads) mV signal
        (1000 samples by default)."""
        if signal.ndim != 2 or signal.shape[1] != len(lead_names):
            raise RecordRejected(
                f"signal shape {signal.shape} does not match {len(lead_names)} lead names")
        length = signal.shape[0]
        if length < self.min_input_samples:
            raise RecordRejected(
                f"too short: {length / self.fs_in:.2f} s < {self.seconds:g} s")
        order = select_leads(lead_names, self.leads)
        # already in order (as a reader's records come): a view; the float32 copy below is new
        leads = signal[: self.input_samples_needed]
        if order != list(range(signal.shape[1])):
            leads = leads[:, order]
        leads = repair_non_finite(leads, self.nan_policy)
        if self.resample == "decimate":
            leads = leads[:: self.down]
        elif self._fir is not None:
            from scipy.signal import resample_poly

            leads = resample_poly(leads.astype(np.float64), self.up, self.down, axis=0,
                                  window=self._fir)
        leads = leads[:self.cropped]
        if self.samples > self.cropped:
            before = (self.samples - self.cropped) // 2
            leads = np.pad(leads, ((before, self.samples - self.cropped - before), (0, 0)))
        return np.ascontiguousarray(leads, dtype=np.float32)
