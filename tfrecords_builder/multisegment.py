"""Multi-segment WFDB records, read into one signal by wfdb's own merge.

A multi-segment header (``NAME/SEGMENTS CHANNELS FS LENGTH`` followed by one
``SEGMENT LENGTH`` line per segment) is read with ``wfdb.rdrecord``, which joins
the segments: a fixed layout (every segment has the same channels) and a variable
layout (a layout segment names the channels, a segment lacking one holds NaN there,
which ``--nan-policy`` then handles) alike. Only the first ``max_seconds`` are read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tfrecords_builder.errors import HeaderError
from tfrecords_builder.leads import select_leads, unread_channels
from tfrecords_builder.units import unit_scale


def read_multisegment(header_path: Path, leads, max_seconds: float | None = None, *,
                      lead_map=None, assume_units: str | None = None):
    """The requested ``leads`` of a multi-segment record in mV (see ``wfdb_io.read_leads``).

    Raises:
        HeaderError: wfdb cannot read the record, or a requested lead's unit is not a voltage.
        RecordRejected: a requested lead no channel is, or two are.
    """
    import wfdb

    record_path = str(Path(header_path).with_suffix(""))
    try:
        header = wfdb.rdheader(record_path)
        sampto = None
        if max_seconds is not None and header.sig_len:
            sampto = min(math.ceil(max_seconds * header.fs), header.sig_len)
        record = wfdb.rdrecord(record_path, sampto=sampto, physical=True, return_res=64)
    except Exception as error:  # noqa: BLE001 - wfdb raises many types on malformed files
        raise HeaderError(f"{header_path}: cannot read the multi-segment record "
                          f"({type(error).__name__}: {error})") from None
    names, units = list(record.sig_name), list(record.units)
    indices = select_leads(names, leads, lead_map)
    scale = []
    for i in indices:
        try:
            scale.append(unit_scale(units[i], assume_units))
        except ValueError as error:
            raise HeaderError(f"{header_path}: signal {i + 1} ({names[i]}): {error}") from None
    data = np.asarray(record.p_signal, dtype=np.float64)[:, indices] * np.array(scale)
    return data, float(record.fs), list(leads), unread_channels(names, units, indices)
