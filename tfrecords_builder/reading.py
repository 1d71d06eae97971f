"""The one reading path of the builder's readers, ``folder`` and ``predict``: a record file's
requested leads, in millivolts, and the channels it did not read.

A WFDB record (its ``.hea``, ``.dat`` or ``.mat``, or the bare record name; single- or
multi-segment) or an EDF file (``.edf``). Only the requested leads are checked and read:
channels no requested lead maps to (blood pressure, respiration, annotations) are listed
in ``RawSignal.ignored`` as ``(name, unit)`` and never drop a record.

Example:
>>> raw = read_signal_file("ecg_tl_keras/sample_data/ptbxl/records100/00000/00008_lr.hea",
...                        ("II", "V1"), max_seconds=10.5)
>>> raw.data.shape, raw.fs, list(raw.lead_names), raw.ignored[:2]
((1000, 2), 100.0, ['II', 'V1'], (('I', 'mV'), ('III', 'mV')))
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from tfrecords_builder.edf import read_edf_leads
from tfrecords_builder.leads import STANDARD_LEADS
from tfrecords_builder.wfdb_io import read_leads

EDF_SUFFIXES = (".edf", ".EDF")
WFDB_SUFFIXES = (".hea", ".dat", ".mat", "")


@dataclasses.dataclass(frozen=True)
class RawSignal:
    """A record's signal as read: (samples, leads) in mV, its rate and lead names, and the
    channels not read (``(name, unit)``; the manifest's ``ignored_channels`` counts them)."""

    data: np.ndarray
    fs: float
    lead_names: Sequence[str]
    ignored: tuple[tuple[str, str], ...] = ()


def wfdb_header_path(path: str | os.PathLike) -> Path:
    """The ``.hea`` of a WFDB record given by its header, a data file or its bare name."""
    path = path if isinstance(path, Path) else Path(path)
    if path.suffix == ".hea":
        return path
    return path.with_suffix(".hea") if path.suffix else path.with_name(path.name + ".hea")


def read_signal_file(path: str | os.PathLike, leads: Sequence[str] = STANDARD_LEADS,
                     max_seconds: float | None = None, *,
                     lead_map: Mapping[str, str] | None = None,
                     assume_units: str | None = None) -> RawSignal:
    """The requested ``leads`` (in this order) of the record at ``path``, in mV.

    Args:
        path: an ``.edf`` file, or a WFDB record (``.hea``, ``.dat``, ``.mat`` or no suffix).
        leads: standard lead names.
        max_seconds: read at most this many seconds (all when None).
        lead_map: ``{channel name: standard lead}`` for channels not named as leads.
        assume_units: the unit of a requested lead whose own unit is not a voltage.

    Raises:
        HeaderError: an unreadable file, or a requested lead's header field out of bounds
            or in a unit that is not a voltage; the message starts with the file.
        RecordRejected: a requested lead no channel is, or two channels are.
    """
    path = path if isinstance(path, Path) else Path(path)
    options = {"lead_map": lead_map, "assume_units": assume_units}
    if path.suffix in EDF_SUFFIXES:
        data, fs, names, ignored = read_edf_leads(path, leads, max_seconds, **options)
    else:
        data, fs, names, ignored = read_leads(wfdb_header_path(path), leads, max_seconds,
                                              **options)
    return RawSignal(data, fs, names, tuple(ignored))
