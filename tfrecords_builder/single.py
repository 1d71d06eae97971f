"""Condition one raw record file exactly as a build would (for ``ecg-tl-keras predict``).

Example:
>>> signal = read_any_record("ecg_tl_keras/sample_data/ptbxl/records100/00000/00008_lr.hea")
>>> signal.shape, signal.dtype
((1000, 12), dtype('float32'))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from tfrecords_builder.build import READ_MARGIN_SECONDS, READ_SECONDS
from tfrecords_builder.checks import signal_flags
from tfrecords_builder.leads import parse_lead_map
from tfrecords_builder.reading import (
    EDF_SUFFIXES, WFDB_SUFFIXES, read_signal_file, wfdb_header_path)
from tfrecords_builder.readers.base import RawSignal
from tfrecords_builder.readers.cpsc2018 import read_original_mat
from tfrecords_builder.signal import (DEFAULT_RESAMPLE, STANDARD_LEADS, RecordRejected,
                                      SignalConditioner)
from tfrecords_builder.units import check_assume_units


def read_raw(path: str | os.PathLike, leads: Sequence[str] = STANDARD_LEADS, *,
             lead_map: Mapping[str, str] | None = None,
             assume_units: str | None = None, seconds: float | None = None) -> RawSignal:
    """A WFDB record (``.hea``, or its ``.dat``/``.mat``, or the bare record name), an EDF
    file or an original CPSC 2018 ``.mat``, as read by the builder's readers.

    Raises:
        ValueError: the file is none of those.
    """
    path = Path(path)
    read_seconds = READ_SECONDS if seconds is None else seconds + READ_MARGIN_SECONDS
    if path.suffix not in WFDB_SUFFIXES + EDF_SUFFIXES:
        raise ValueError(
            f"{path}: expected a WFDB record (.hea/.dat/.mat), an EDF file (.edf) or a "
            f"CPSC 2018 .mat file")
    options = {"lead_map": lead_map, "assume_units": assume_units}
    if path.suffix in EDF_SUFFIXES:
        if not path.is_file():
            raise ValueError(f"{path}: EDF file not found")
        return read_signal_file(path, leads, read_seconds, **options)
    if wfdb_header_path(path).is_file():
        return read_signal_file(path, leads, read_seconds, **options)
    if path.suffix == ".mat" and path.is_file():
        return read_original_mat(path, read_seconds)
    raise ValueError(f"{path}: no WFDB header {wfdb_header_path(path).name} next to it and not "
                     f"a CPSC 2018 .mat file")


def read_any_record(path: str | os.PathLike, nan_policy: str = "drop",
                    leads: Sequence[str] = STANDARD_LEADS, resample: str = DEFAULT_RESAMPLE, *,
                    lead_map: Mapping[str, str] | None = None,
                    assume_units: str | None = None, rate: int | None = None,
                    seconds: float | None = None, pad_to: int | None = None) -> np.ndarray:
    """The (1000, len(leads)) float32 mV example a build would write for the record at ``path``,
    after the same checks (header bounds, ``.mat`` format, units, all-zero signal).

    ``leads`` (picked by name, in this order), ``resample``, ``lead_map`` and
    ``assume_units`` are those of the build (the manifest's ``leads``, ``resample``,
    ``lead_map`` and ``assume_units``). Only the requested leads are checked and read.

    Args:
        path: a WFDB record (``.hea``/``.dat``/``.mat`` or bare name), an ``.edf`` file, or
            an original CPSC 2018 ``.mat``.
        nan_policy: ``drop``, ``interpolate`` or ``zero`` (as ``--nan-policy``).
        leads: standard lead names.
        resample: ``poly`` or ``decimate``.
        lead_map: ``{channel: standard lead}`` (or its ``--lead-map`` text ``MLII=II,V=V5``).
        assume_units: the unit of a requested lead whose own unit is not a voltage (``mV``).
        rate, seconds, pad_to: the build's (the manifest's ``fs``, ``seconds``, ``pad_to``);
            None: 100 Hz, 10 s, no padding.

    Raises:
        ValueError: unreadable file, a header value out of bounds, or a requested lead in a
            unit that is not a voltage (a ``HeaderError`` naming the file, field and value);
            a malformed ``lead_map`` or ``assume_units``;
        RecordRejected: too short, missing or duplicated leads, NaN, all zeros (the message
            starts with the file).
    """
    lead_map = parse_lead_map(lead_map)
    assume_units = check_assume_units(assume_units)
    try:
        raw = read_raw(path, leads, lead_map=lead_map, assume_units=assume_units,
                       seconds=seconds)
        shape = {name: value for name, value in
                 (("rate", rate), ("seconds", seconds), ("pad_to", pad_to)) if value is not None}
        signal = SignalConditioner(raw.fs, nan_policy, leads, resample, **shape)(
            raw.data, raw.lead_names)
        signal_flags(signal)  # rejects an all-zero signal, as a build does
    except RecordRejected as error:
        raise RecordRejected(f"{path}: {error}") from None
    return signal
