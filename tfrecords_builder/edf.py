"""EDF files (European Data Format), read by the EDF specification, requested signals only.

An EDF file is a 256-byte header, 256 bytes per signal (label, transducer, physical
dimension, physical and digital minimum and maximum, samples per data record), then
data records of little-endian int16 samples, signal after signal. A sample's physical
value is ``(d - digital_min) * (physical_max - physical_min) / (digital_max - digital_min)
+ physical_min``. Only the requested signals need a voltage unit and one common rate:
an ``EDF Annotations`` channel or a 1 Hz SpO2 beside the ECG never drops a file.
BDF (24-bit) and discontinuous EDF+ (``EDF+D``) files are refused with that reason.

Example:
>>> header = parse_edf_header(b"0".ljust(184) + b"512".ljust(8) + b"".ljust(44) + b"1".ljust(8)
...     + b"1".ljust(8) + b"1".ljust(4) + b"".join(value.ljust(width) for value, width in [
...     (b"ECG II", 16), (b"", 80), (b"mV", 8), (b"-5", 8), (b"5", 8), (b"-32768", 8),
...     (b"32767", 8), (b"", 80), (b"250", 8), (b"", 32)]), "x.edf")
>>> header.labels, header.units, header.rate(0)
(['ECG II'], ['mV'], 250.0)
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from tfrecords_builder.errors import HeaderError
from tfrecords_builder.leads import select_leads, unread_channels
from tfrecords_builder.units import unit_scale

#: The per-signal header fields, in file order, with their widths in bytes.
_SIGNAL_FIELDS = (("label", 16), ("transducer", 80), ("unit", 8), ("physical_min", 8),
                  ("physical_max", 8), ("digital_min", 8), ("digital_max", 8),
                  ("prefiltering", 80), ("samples", 8), ("reserved", 32))


@dataclasses.dataclass(frozen=True)
class EdfHeader:
    header_bytes: int
    n_records: int
    record_seconds: float
    labels: list[str]
    units: list[str]
    physical_min: np.ndarray
    physical_max: np.ndarray
    digital_min: np.ndarray
    digital_max: np.ndarray
    samples: np.ndarray  # per data record, per signal

    def rate(self, index: int) -> float:
        return float(self.samples[index]) / self.record_seconds


def _number(text: str, what: str, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise HeaderError(f"{source}: EDF {what} is {text!r}; expected a number") from None
    if not math.isfinite(value):
        raise HeaderError(f"{source}: EDF {what} is {text!r}; expected a finite number")
    return value


def parse_edf_header(head: bytes, source: str) -> EdfHeader:
    """The header of an EDF file from its first bytes (the whole header).

    Raises:
        HeaderError: not EDF, BDF, discontinuous EDF+, or a field that is not a number.
    """
    if head[:1] == b"\xff":
        raise HeaderError(f"{source}: a BDF (24-bit) file; expected EDF (16-bit)")
    if len(head) < 256 or head[:8].strip() != b"0":
        raise HeaderError(f"{source}: not an EDF file (starts with {head[:8]!r})")
    text = head.decode("latin-1")
    if text[192:236].strip().startswith("EDF+D"):
        raise HeaderError(f"{source}: discontinuous EDF+ (EDF+D) file; expected a continuous "
                          f"recording")
    count = int(_number(text[252:256], "number of signals", source))
    header_bytes = int(_number(text[184:192], "header size", source))
    if count < 1 or header_bytes != 256 * (count + 1) or len(head) < header_bytes:
        raise HeaderError(f"{source}: EDF header declares {count} signals and {header_bytes} "
                          f"header bytes; expected 256 x (signals + 1)")
    fields, offset = {}, 256
    for name, width in _SIGNAL_FIELDS:
        fields[name] = [text[offset + i * width: offset + (i + 1) * width].strip()
                        for i in range(count)]
        offset += width * count

    def numbers(name):
        return np.array([_number(value, f"{name} of {label!r}", source)
                         for value, label in zip(fields[name], fields["label"])])

    header = EdfHeader(header_bytes, int(_number(text[236:244], "number of data records", source)),
                       _number(text[244:252], "data record duration", source), fields["label"],
                       fields["unit"], numbers("physical_min"), numbers("physical_max"),
                       numbers("digital_min"), numbers("digital_max"),
                       numbers("samples").astype(np.int64))
    if header.record_seconds <= 0 or (header.samples < 1).any():
        raise HeaderError(f"{source}: EDF data record duration {header.record_seconds:g} s with "
                          f"{header.samples.tolist()} samples per signal; expected positive values")
    return header


def _check_signal(header: EdfHeader, i: int, assume_units: str | None, source: str) -> float:
    """The unit scale of requested signal ``i`` after checking its ranges."""
    where = f"{source}: signal {i + 1} ({header.labels[i]})"
    if header.digital_max[i] <= header.digital_min[i] or \
            header.physical_max[i] == header.physical_min[i]:
        raise HeaderError(f"{where}: digital range {header.digital_min[i]:g}.."
                          f"{header.digital_max[i]:g} and physical range "
                          f"{header.physical_min[i]:g}..{header.physical_max[i]:g} give no scale")
    try:
        return unit_scale(header.units[i], assume_units)
    except ValueError as error:
        raise HeaderError(f"{where}: {error}") from None


def read_edf_leads(path: str | os.PathLike, leads, max_seconds: float | None = None, *,
                   lead_map=None, assume_units: str | None = None):
    """The requested ``leads`` of an EDF file in mV (see ``wfdb_io.read_leads``).

    Raises:
        HeaderError: not a readable EDF file, requested signals at different rates, a
            requested signal's range or unit unusable.
        RecordRejected: a requested lead no signal is, or two are.
    """
    path = Path(path)
    source = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
            count = int(head[252:256].strip() or 0) if len(head) == 256 else 0
            head += handle.read(256 * max(count, 0))
        size = path.stat().st_size
    except (OSError, ValueError) as error:
        raise HeaderError(f"{source}: cannot read EDF ({error})") from None
    header = parse_edf_header(head, source)
    indices = select_leads(header.labels, leads, lead_map)
    scale = np.array([_check_signal(header, i, assume_units, source) for i in indices])
    rates = {header.rate(i) for i in indices}
    if len(rates) > 1:
        raise HeaderError(f"{source}: the requested signals have different sampling rates "
                          f"({', '.join(f'{rate:g}' for rate in sorted(rates))} Hz); expected one")
    record_values = int(header.samples.sum())
    on_disk = (size - header.header_bytes) // (2 * record_values)
    n_records = on_disk if header.n_records < 0 else min(header.n_records, on_disk)
    if max_seconds is not None:
        n_records = min(n_records, math.ceil(max_seconds / header.record_seconds))
    raw = np.fromfile(path, dtype="<i2", count=n_records * record_values,
                      offset=header.header_bytes).reshape(n_records, record_values)
    starts = np.concatenate([[0], np.cumsum(header.samples)])
    columns = []
    for i in indices:
        digital = raw[:, starts[i]:starts[i + 1]].reshape(-1).astype(np.float64)
        step = (header.physical_max[i] - header.physical_min[i]) / \
            (header.digital_max[i] - header.digital_min[i])
        columns.append((digital - header.digital_min[i]) * step + header.physical_min[i])
    data = np.stack(columns, axis=1) * scale if columns else np.zeros((0, 0))
    return (data, header.rate(indices[0]), list(leads),
            unread_channels(header.labels, header.units, indices))
