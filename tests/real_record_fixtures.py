"""Records as other people's tools write them, made from the real Georgia samples with wfdb.

Monitoring layouts (``MLII``/``V`` beside an ``ABP`` channel in mmHg), headers without a
sample count, two-segment records and EDF files, written with ``wfdb.wrsamp`` and
``wfdb.io.convert.edf.wfdb_to_edf``. References are computed independently of the builder:
``wfdb.rdrecord`` / ``wfdb.rdsamp`` and ``scipy.signal.resample_poly``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

FS = 500
GAIN = 1000.0


def real_leads(sample_data: Path, record: str = "E07501", leads=("II", "V5")) -> np.ndarray:
    """(samples, leads) mV of a real Georgia record (500 Hz, 10 s), picked by name with wfdb."""
    import wfdb

    signal, fields = wfdb.rdsamp(str(sample_data / "georgia" / record))
    return signal[:, [fields["sig_name"].index(lead) for lead in leads]]


def long_real_leads(sample_data: Path, leads=("II", "V5")) -> np.ndarray:
    """20 s: two real Georgia records one after the other."""
    return np.concatenate([real_leads(sample_data, record, leads)
                           for record in ("E07501", "E07502")])


def blood_pressure(samples: int) -> np.ndarray:
    """An arterial pressure trace in mmHg (80-120)."""
    t = np.arange(samples) / FS
    return 100 + 20 * np.sin(2 * np.pi * 1.2 * t)


def write_monitoring_record(directory: Path, name: str, ecg: np.ndarray,
                            ecg_names=("MLII", "V"), ecg_units=("mV", "mV"),
                            fmt: str = "16", abp_fmt: str | None = None,
                            gain: float = GAIN) -> Path:
    """ECG channels plus an ABP channel in mmHg, written with ``wfdb.wrsamp``; the ``.hea``.

    An ``abp_fmt`` other than ``fmt`` puts ABP in a data file of its own (``NAME_2.dat``).
    """
    import wfdb

    directory.mkdir(parents=True, exist_ok=True)
    signal = np.column_stack([ecg, blood_pressure(len(ecg))])
    count = signal.shape[1]
    wfdb.wrsamp(name, fs=FS, units=[*ecg_units, "mmHg"], sig_name=[*ecg_names, "ABP"],
                p_signal=signal, fmt=[fmt] * (count - 1) + [abp_fmt or fmt],
                adc_gain=[gain] * (count - 1) + [10.0],
                baseline=[0] * count, write_dir=str(directory))
    return directory / f"{name}.hea"


def drop_sample_count(header: Path) -> None:
    """Rewrite the record line without its sample count (legal WFDB)."""
    lines = header.read_text().splitlines()
    lines[0] = " ".join(lines[0].split()[:3])
    header.write_text("\n".join(lines) + "\n")


def write_two_segments(directory: Path, name: str, ecg: np.ndarray) -> Path:
    """A fixed-layout two-segment record of ``ecg`` split in halves; the master ``.hea``."""
    import wfdb

    half = len(ecg) // 2
    lines = [f"{name}/2 {ecg.shape[1] + 1} {FS} {len(ecg)}"]
    for index, part in enumerate((ecg[:half], ecg[half:])):
        segment = f"{name}_{index + 1}"
        write_monitoring_record(directory, segment, part, fmt="212")
        lines.append(f"{segment} {len(part)}")
    (directory / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return directory / f"{name}.hea"


def write_edf_copy(header: Path) -> Path:
    """The WFDB record of ``header`` converted to EDF by wfdb; the ``.edf`` path."""
    from wfdb.io.convert.edf import wfdb_to_edf

    edf = header.with_suffix(".edf")
    wfdb_to_edf(str(header.with_suffix("")), output_filename=str(edf))
    return edf


def reference(header: Path, channel: str, seconds: float = 10.0) -> np.ndarray:
    """wfdb's physical read of one channel (multi-segment records merged), resampled to
    100 Hz with ``resample_poly`` and cut to ``seconds``: the example a build must write."""
    import wfdb

    record = wfdb.rdrecord(str(header.with_suffix("")))
    column = record.p_signal[:, record.sig_name.index(channel)]
    return resample_poly(column, 100, int(record.fs))[: int(100 * seconds)]


def write_edf_with_slow_channel(path: Path, ecg: np.ndarray, names, slow: np.ndarray,
                                slow_name: str, slow_unit: str) -> None:
    """An EDF file of ``ecg`` (mV, 500 Hz, 1 s data records) plus one channel at 1 Hz
    (SpO2-like), written by the EDF specification: 16-bit samples, each signal's own range."""
    seconds = len(ecg) // FS
    signals = [ecg[: seconds * FS, i] for i in range(ecg.shape[1])] + [slow[:seconds]]
    per_record = [FS] * ecg.shape[1] + [1]
    labels, units = [*names, slow_name], ["mV"] * ecg.shape[1] + [slow_unit]
    low = [float(np.floor(s.min())) - 1 for s in signals]
    high = [float(np.ceil(s.max())) + 1 for s in signals]
    digital = [np.round((s - lo) / (hi - lo) * 65535 - 32768).astype("<i2")
               for s, lo, hi in zip(signals, low, high)]

    def field(value, width):
        return str(value)[:width].ljust(width).encode("ascii")

    count = len(signals)
    header = b"".join([field(0, 8), field("X", 80), field("X", 80), field("01.01.20", 8),
                       field("00.00.00", 8), field(256 * (count + 1), 8), field("", 44),
                       field(seconds, 8), field(1, 8), field(count, 4)])
    columns = [[field(label, 16) for label in labels], [field("", 80)] * count,
               [field(unit, 8) for unit in units], [field(f"{v:g}", 8) for v in low],
               [field(f"{v:g}", 8) for v in high], [field(-32768, 8)] * count,
               [field(32767, 8)] * count, [field("", 80)] * count,
               [field(n, 8) for n in per_record], [field("", 32)] * count]
    records = b"".join(
        b"".join(d[second * n:(second + 1) * n].tobytes() for d, n in zip(digital, per_record))
        for second in range(seconds))
    path.write_bytes(header + b"".join(b"".join(c) for c in columns) + records)
