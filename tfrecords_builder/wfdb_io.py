"""Reading WFDB records: a fast path for the layouts the ECG releases use, wfdb for the rest.

PTB-XL, PTB and the PhysioNet/CinC releases store format-16 samples, either in
``.dat`` files or in MATLAB v4 ``.mat`` files whose header gives a byte offset
(``16x1+24``). For those, the header is parsed with a small parser and the
samples are read with one ``numpy.fromfile`` call: ``wfdb.rdsamp`` spends most
of its time parsing headers (about 300 records/s here). Every other storage
format is handed to ``wfdb.rdrecord``. The early CinC 2020 headers, whose first
line names the file (``E00001.mat 12 500 5000``) and which ``wfdb`` rejects,
are read by the fast path. A ``.mat`` file is read by its own format
(:mod:`tfrecords_builder.matfile`), not trusted to be v4 int16 at the header's offset.

Every header is checked against physical bounds before any sample is read: the
record line (sampling rate finite and within ``MIN_FS``-``MAX_FS``, 1-``MAX_SIGNALS``
signals, a non-negative sample count; a header without one is legal and read), and
the signal lines of the requested leads only (:func:`read_leads`): a known storage
format, a finite non-zero gain (no WFDB default of 200 is assumed), a baseline within
the format's range and a voltage unit (:mod:`tfrecords_builder.units`). Other channels
are neither checked nor read. A violation is a :class:`HeaderError` naming the file,
the field and its value. A data file must exist under the exact name the header gives
(:func:`require_data_file`). Multi-segment records are read by
:mod:`tfrecords_builder.multisegment`.

Example:
>>> header = parse_header("00001_lr 1 100 2\\n00001_lr.dat 16 1000.0(0)/mV 16 0 0 0 0 I\\n")
>>> header.fs, header.n_samples, header.signals[0].gain
(100.0, 2, 1000.0)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from pathlib import Path

import numpy as np

from tfrecords_builder.errors import HeaderError, RecordRejected
from tfrecords_builder.leads import select_leads, unread_channels
from tfrecords_builder.matfile import read_val
from tfrecords_builder.units import UNIT_TO_MV, unit_scale

__all__ = ["HeaderError", "UNIT_TO_MV", "parse_header", "read_header", "read_leads",
           "read_record"]

# Digital value WFDB reserves for "no sample", per storage format (signal(5); format 8 has none).
_INVALID_SAMPLE = {80: -128, 160: -32768, 212: -2048, 310: -512, 311: -512, 16: -32768, 61: -32768,
                   24: -(1 << 23), 32: -(1 << 31), 508: -128, 516: -32768, 524: -(1 << 23)}
#: Bits of a digital sample per storage format (signal(5)); a baseline must fit in them.
_FORMAT_BITS = {8: 8, 80: 8, 16: 16, 61: 16, 160: 16, 212: 12, 310: 10, 311: 10, 24: 24, 32: 32,
                508: 8, 516: 16, 524: 24}
#: Physical bounds a header must respect before anything is read (ECG recorders: 100-10000 Hz).
MIN_FS, MAX_FS = 50.0, 20000.0
MAX_SIGNALS = 64
_FORMAT_FIELD = re.compile(
    r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$")
_GAIN_FIELD = re.compile(
    r"^(?P<gain>[-+\d.eE]+)(?:\((?P<baseline>[-+\d]+)\))?(?:/(?P<units>\S*))?$")
_RECORD_EXTENSIONS = (".mat", ".dat", ".hea")


@dataclasses.dataclass(frozen=True)
class SignalSpec:
    file_name: str
    fmt: int
    samples_per_frame: int
    skew: int
    byte_offset: int
    gain: float
    baseline: int
    units: str
    name: str
    #: Why the line cannot be used (raised only when the signal is read), or None.
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class Header:
    record_name: str
    fs: float
    n_samples: int | None
    signals: tuple[SignalSpec, ...]
    comments: tuple[str, ...]

    @property
    def lead_names(self) -> list[str]:
        return [signal.name for signal in self.signals]

    def comment_value(self, key: str) -> str | None:
        """Value of a ``# Key: value`` comment line (case-insensitive key), or None."""
        wanted = key.lower()
        for comment in self.comments:
            name, sep, value = comment.partition(":")
            if sep and name.strip().lower() == wanted:
                return value.strip()
        return None


def _parse_signal_line(line: str, index: int) -> SignalSpec:
    """One signal line; a field that cannot be used is kept as the spec's ``problem``, raised
    only when the signal is requested (an unrequested channel never drops a record)."""
    fields = line.split(maxsplit=8)
    name = fields[8].strip() if len(fields) > 8 else f"ch{index + 1}"
    # Only the file name, initial value and checksum change from record to record of a
    # release: the other fields' parse is cached (a quarter of a PTB-XL record's reading time).
    return SignalSpec(fields[0], *_signal_fields(tuple(fields[1:5]), index, name,
                                                 line if len(fields) < 2 else ""))


@functools.lru_cache(maxsize=4096)
def _signal_fields(fields: tuple[str, ...], index: int, name: str, line: str) -> tuple:
    """``SignalSpec``'s fields after the file name, from a signal line's fields 2-5."""
    where = f"signal line {index + 1}"
    match = _FORMAT_FIELD.match(fields[0]) if fields else None
    gain_match = _GAIN_FIELD.match(fields[1]) if match and len(fields) > 1 else None
    problem = None
    if not fields:
        problem = f"{where} has no storage format: {line!r}"
    elif not match:
        problem = f"{where} has an unreadable format field {fields[0]!r}"
    elif len(fields) < 2:
        # WFDB would assume 200 units/mV; a guessed scale is a silently wrong signal.
        problem = f"{where} has no gain field; expected e.g. 1000.0(0)/mV"
    elif not gain_match:
        problem = f"{where} has an unreadable gain {fields[1]!r}"
    if problem:
        return 16, 1, 0, 0, math.nan, 0, "mV", name, problem
    baseline = int(gain_match["baseline"]) if gain_match["baseline"] else None
    adc_zero = int(fields[3]) if len(fields) > 3 else 0
    # No unit field: WFDB's default, millivolts; an empty one ("200/") names no unit.
    units = gain_match["units"] if gain_match["units"] is not None else (
        "" if fields[1].endswith("/") else "mV")
    return (int(match["fmt"]), int(match["spf"] or 1), int(match["skew"] or 0),
            int(match["offset"] or 0), float(gain_match["gain"]),
            adc_zero if baseline is None else baseline, units, name, None)


def _check_signal(spec: SignalSpec, index: int, assume_units: str | None = None) -> float:
    """Physical bounds of one requested signal line; its scale from digital units to mV.

    Raises:
        HeaderError: without the file name.
    """
    if spec.problem:
        raise HeaderError(spec.problem)
    where = f"signal {index + 1} ({spec.name})"
    if spec.fmt not in _FORMAT_BITS:
        raise HeaderError(f"{where}: storage format {spec.fmt} is not a WFDB sample format")
    if not math.isfinite(spec.gain) or spec.gain == 0:
        raise HeaderError(f"{where}: gain {spec.gain:g} is not a usable scale; expected a finite, "
                          f"non-zero number of ADC units per {spec.units} (WFDB's default 200 "
                          f"is not assumed)")
    limit = 1 << _FORMAT_BITS[spec.fmt]
    if not -limit <= spec.baseline <= limit:
        raise HeaderError(f"{where}: baseline {spec.baseline} is outside the "
                          f"{_FORMAT_BITS[spec.fmt]}-bit range of format {spec.fmt}")
    try:
        return unit_scale(spec.units, assume_units) / spec.gain
    except ValueError as error:
        raise HeaderError(f"{where}: {error}") from None


def _check_record_line(fs: float, n_signals: int, n_samples: int | None) -> None:
    """Physical bounds of the record line, checked before any sample is read."""
    if not (math.isfinite(fs) and MIN_FS <= fs <= MAX_FS):
        raise HeaderError(f"sampling rate {fs:g} Hz is outside {MIN_FS:g}-{MAX_FS:g} Hz")
    if not 1 <= n_signals <= MAX_SIGNALS:
        raise HeaderError(f"{n_signals} signals; expected 1-{MAX_SIGNALS}")
    if n_samples is not None and n_samples < 0:
        raise HeaderError(f"sample count {n_samples} is negative")


def _strip_record_extension(name: str) -> str:
    for extension in _RECORD_EXTENSIONS:
        if name.endswith(extension):
            return name[: -len(extension)]
    return name


def parse_header(text: str, source: str = "<header>") -> Header:
    """Parse the text of a single-segment WFDB header.

    Raises:
        HeaderError: the text is not a WFDB header (``source`` names the file).
    """
    lines = [line.strip() for line in text.splitlines()]
    comments = tuple(line.lstrip("#").strip() for line in lines if line.startswith("#"))
    body = [line for line in lines if line and not line.startswith("#")]
    if not body:
        raise HeaderError(f"{source}: empty WFDB header")
    record = body[0].split()
    try:
        if "/" in record[0]:
            raise HeaderError(f"{source}: a multi-segment record; this parser reads "
                              f"single-segment headers (read_leads reads multi-segment records "
                              f"through wfdb)")
        n_signals = int(record[1])
        fs = float(record[2].split("/")[0].split("(")[0]) if len(record) > 2 else 250.0
        n_samples = int(record[3]) if len(record) > 3 else None
        _check_record_line(fs, n_signals, n_samples)
        if len(body) < 1 + n_signals:
            raise HeaderError(
                f"{source}: header declares {n_signals} signals but has {len(body) - 1} signal lines")
        signals = tuple(_parse_signal_line(line, i) for i, line in enumerate(body[1:1 + n_signals]))
    except HeaderError as error:
        if str(error).startswith(source):
            raise
        raise HeaderError(f"{source}: {error}") from None
    except (IndexError, ValueError) as error:
        raise HeaderError(f"{source}: unreadable WFDB record line {body[0]!r} ({error})") from None
    return Header(_strip_record_extension(record[0]), fs, n_samples, signals, comments)


def _header_text(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text(encoding="latin-1")
    except OSError as error:
        raise HeaderError(f"{path}: cannot read header ({error.strerror})") from None


def read_header(path: str | os.PathLike) -> Header:
    """Read and parse the ``.hea`` file at ``path``."""
    return parse_header(_header_text(path), str(path))


def is_multisegment(text: str) -> bool:
    """Whether a header's record line is ``NAME/SEGMENTS ...`` (a multi-segment record)."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return "/" in line.split()[0]
    return False


def _is_fast_path(header: Header, indices: list[int]) -> bool:
    """Format 16 ``.dat`` files, or ``.mat`` files (whatever format the header gives them)."""
    return all(s.samples_per_frame == 1 and s.skew == 0
               and (s.fmt == 16 or s.file_name.endswith(".mat"))
               for s in (header.signals[i] for i in indices))


def _read_dat16(path: Path, n_signals: int, offset: int, max_samples: int | None) -> np.ndarray:
    count = -1 if max_samples is None else max_samples * n_signals
    try:
        raw = np.fromfile(path, dtype="<i2", count=count, offset=offset)
    except OSError as error:
        raise HeaderError(f"{path}: cannot read samples ({error.strerror})") from None
    if raw.size % n_signals:
        raise HeaderError(
            f"{path}: {raw.size} samples is not a whole number of {n_signals}-signal frames")
    return raw.reshape(-1, n_signals)


def _read_fast(directory: Path, header: Header, indices: list[int], max_samples: int | None):
    """Digital samples of the signals at ``indices``, file by file."""
    by_file: dict[str, list[int]] = {}
    for i, signal in enumerate(header.signals):
        by_file.setdefault(signal.file_name, []).append(i)
    wanted = set(indices)
    columns: dict[int, np.ndarray] = {}
    for file_name, members in by_file.items():
        if not wanted.intersection(members):
            continue
        path = directory / file_name
        offset = header.signals[members[0]].byte_offset
        if path.suffix == ".mat":  # a MATLAB file says itself what it holds
            frames = read_val(path, len(members), offset, max_samples)
        else:
            frames = _read_dat16(path, len(members), offset, max_samples)
        if members == indices:  # the file holds exactly the wanted signals, in order
            return frames
        for column, i in enumerate(members):
            if i in wanted:
                columns[i] = frames[:, column]
    lengths = {len(column) for column in columns.values()}
    if len(lengths) != 1:
        raise HeaderError(f"{directory / header.record_name}: signal files have different lengths")
    return np.stack([columns[i] for i in indices], axis=1)


def _read_with_wfdb(directory: Path, header: Header, indices: list[int], max_samples: int | None):
    import wfdb  # imported lazily: it is slow to import and only needed off the fast path

    path = directory / header.record_name
    # wfdb compares sampto with the header's sample count: without one (legal WFDB) the whole
    # record is read, then cut.
    sampto = max_samples if header.n_samples is not None else None
    try:
        record = wfdb.rdrecord(str(path), channels=indices, sampto=sampto, physical=False,
                               return_res=64)
    except Exception as error:  # noqa: BLE001 - wfdb raises many types on malformed files
        raise HeaderError(f"{path}: cannot read samples ({type(error).__name__}: {error})") from None
    return record.d_signal if max_samples is None else record.d_signal[:max_samples]


def _with_nan_gaps(digital: np.ndarray, formats: list[int]) -> np.ndarray:
    """Digital samples as float64, NaN where a signal holds its format's "no sample" value."""
    values = digital.astype(np.float64)
    # One comparison for all signals (a format without a "no sample" value gets NaN, which
    # equals nothing); most records have no gap, and then nothing more is done.
    invalid = np.array([_INVALID_SAMPLE.get(fmt, np.nan) for fmt in formats])
    gaps = values == invalid
    if gaps.any():
        values[gaps] = np.nan
    return values


def _max_samples(fs: float, max_seconds: float | None, n_samples: int | None) -> int | None:
    max_samples = None if max_seconds is None else math.ceil(max_seconds * fs)
    if n_samples is not None and max_samples is not None:
        max_samples = min(max_samples, n_samples)
    return max_samples


def _physical(header_path: Path, header: Header, indices: list[int], max_seconds: float | None,
              assume_units: str | None) -> np.ndarray:
    """The signals at ``indices`` in mV, after checking only those signals' header fields."""
    try:
        scale = np.array([_check_signal(header.signals[i], i, assume_units) for i in indices])
    except HeaderError as error:
        raise HeaderError(f"{header_path}: {error}") from None
    directory = header_path.parent
    for file_name in {header.signals[i].file_name for i in indices}:
        require_data_file(directory, file_name, header_path.name)
    max_samples = _max_samples(header.fs, max_seconds, header.n_samples)
    reader = _read_fast if _is_fast_path(header, indices) else _read_with_wfdb
    digital = reader(directory, header, indices, max_samples)
    expected = header.n_samples if max_samples is None else max_samples
    if header.n_samples is not None and digital.shape[0] != expected:
        raise HeaderError(
            f"{header_path}: signal length mismatch: expected {expected} samples per signal "
            f"(header: {header.n_samples}), the sample file holds {digital.shape[0]}")
    specs = [header.signals[i] for i in indices]
    values = _with_nan_gaps(digital, [s.fmt for s in specs])  # a new float64 array
    values -= np.array([s.baseline for s in specs], dtype=np.float64)
    values *= scale
    return values


def read_record(header_path: str | os.PathLike, leads: list[str] | None = None,
                max_seconds: float | None = None) -> tuple[np.ndarray, float, list[str]]:
    """Read a single-segment WFDB record as physical values in millivolts.

    Args:
        header_path: the record's ``.hea`` file.
        leads: names of the signals to return (all when None), matched exactly.
        max_seconds: read at most this many seconds of each signal.

    Returns:
        ``(signal, fs, lead_names)``: float64 array (samples, leads), NaN where
        the record marks a sample invalid.

    Raises:
        HeaderError: unreadable header or sample file, or a length mismatch.
    """
    header_path = header_path if isinstance(header_path, Path) else Path(header_path)
    header = read_header(header_path)
    names = header.lead_names
    indices = list(range(len(names))) if leads is None else [names.index(lead) for lead in leads]
    data = _physical(header_path, header, indices, max_seconds, None)
    return data, header.fs, [names[i] for i in indices]


def read_leads(header_path: str | os.PathLike, leads, max_seconds: float | None = None, *,
               lead_map=None, assume_units: str | None = None):
    """The requested ``leads`` of a WFDB record (single- or multi-segment) in mV.

    Only the requested leads' header fields are checked and only their sample files read.

    Returns:
        ``(signal (samples, leads), fs, lead names, ignored)``: ``ignored`` lists the other
        channels as ``(name, unit)``.

    Raises:
        HeaderError: unreadable header or sample file, a requested signal's field out of
            bounds or in a unit that is not a voltage (see :mod:`tfrecords_builder.units`).
        RecordRejected: a requested lead no channel is, or two are.
    """
    header_path = header_path if isinstance(header_path, Path) else Path(header_path)
    text = _header_text(header_path)
    if is_multisegment(text):
        from tfrecords_builder.multisegment import read_multisegment

        return read_multisegment(header_path, leads, max_seconds, lead_map=lead_map,
                                 assume_units=assume_units)
    header = parse_header(text, str(header_path))
    try:
        indices = select_leads(header.lead_names, leads, lead_map)
    except RecordRejected:
        # a signal line too broken to carry a name may be the missing lead: say what is wrong
        for i, spec in enumerate(header.signals):
            if spec.problem and spec.name == f"ch{i + 1}":
                raise HeaderError(f"{header_path}: {spec.problem}") from None
        raise
    data = _physical(header_path, header, indices, max_seconds, assume_units)
    units = [spec.units for spec in header.signals]
    return data, header.fs, list(leads), unread_channels(header.lead_names, units, indices)


@functools.lru_cache(maxsize=256)
def _listing(directory: str, modified_ns: int) -> frozenset[str]:
    return frozenset(os.listdir(directory))


def names_in(directory: Path) -> frozenset[str]:
    """The exact file names in ``directory`` (cached while its modification time stays).

    Raises:
        OSError: the folder cannot be listed.
    """
    return _listing(str(directory), directory.stat().st_mtime_ns)


def other_case(names: frozenset[str], wanted: str) -> str | None:
    """The name in ``names`` that differs from ``wanted`` only in case, or None."""
    matches = sorted(name for name in names if name.lower() == wanted.lower() and name != wanted)
    return matches[0] if matches else None


def require_data_file(directory: Path, file_name: str, header_name: str) -> None:
    """A data file the header names must exist under exactly that name, on every platform.

    Raises:
        HeaderError: not there; when a file of the same name in another case is, the message
            names it ("found r.DAT; expected r.dat").
    """
    path = directory / file_name
    folder = path.parent
    try:
        names = names_in(folder)
        if path.name not in names:  # the listing may be older than the file: look again
            names = frozenset(os.listdir(folder))
    except OSError as error:
        raise HeaderError(f"{path}: cannot read its folder ({error.strerror})") from None
    if path.name in names:
        return
    found = other_case(names, path.name)
    found = f"found {found}; expected {path.name}" if found else "no such file"
    raise HeaderError(f"{path}: data file named by {header_name} not found ({found})")
