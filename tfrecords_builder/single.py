"""Condition one raw record file exactly as a build would (for ``ecg-tl-keras predict``).

Example:
>>> signal = read_any_record("ecg_tl_keras/sample_data/ptbxl/records100/00000/00008_lr.hea")
>>> signal.shape, signal.dtype
((1000, 12), dtype('float32'))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from tfrecords_builder.build import READ_SECONDS
from tfrecords_builder.readers.base import RawSignal
from tfrecords_builder.readers.cpsc2018 import read_original_mat
from tfrecords_builder.checks import signal_flags
from tfrecords_builder.signal import STANDARD_LEADS, RecordRejected, SignalConditioner
from tfrecords_builder.wfdb_io import read_record

RECORD_SUFFIXES = (".hea", ".dat", ".mat", "")


def read_raw(path: str | os.PathLike) -> RawSignal:
    """A WFDB record (``.hea``, or its ``.dat``/``.mat``, or the bare record name) or an
    original CPSC 2018 ``.mat``, as read by the builder's readers.

    Raises:
        ValueError: the file is none of those.
    """
    path = Path(path)
    if path.suffix not in RECORD_SUFFIXES:
        raise ValueError(
            f"{path}: expected a WFDB record (.hea/.dat/.mat) or a CPSC 2018 .mat file")
    header = path.with_suffix(".hea") if path.suffix else path.with_name(path.name + ".hea")
    if header.is_file():
        return RawSignal(*read_record(header, max_seconds=READ_SECONDS))
    if path.suffix == ".mat" and path.is_file():
        return read_original_mat(path, READ_SECONDS)
    raise ValueError(
        f"{path}: no WFDB header {header.name} next to it and not a CPSC 2018 .mat file")


def read_any_record(path: str | os.PathLike, nan_policy: str = "drop",
                    leads: Sequence[str] = STANDARD_LEADS, resample: str = "poly") -> np.ndarray:
    """The (1000, len(leads)) float32 mV example a build would write for the record at ``path``,
    after the same checks (header bounds, ``.mat`` format, all-zero signal).

    ``leads`` (picked by name, in this order) and ``resample`` are those of the build
    (the manifest's ``leads`` and ``resample``).

    Raises:
        ValueError: unreadable file or a header value out of bounds (a
            ``HeaderError`` naming the file, field and value);
        RecordRejected: too short, missing or duplicated leads, NaN, all zeros.
    """
    raw = read_raw(path)
    try:
        signal = SignalConditioner(raw.fs, nan_policy, leads, resample)(raw.data, raw.lead_names)
        signal_flags(signal)  # rejects an all-zero signal, as a build does
    except RecordRejected as error:
        raise RecordRejected(f"{path}: {error}") from None
    return signal
