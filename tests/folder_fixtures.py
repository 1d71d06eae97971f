"""A folder of "your own" records made from the real samples, in every format the reader reads.

``make_folder_release`` copies real PTB-XL (WFDB format 16, 100 Hz) and Georgia
(CinC ``.hea`` + ``.mat``, 500 Hz) records, rewrites some PTB-XL records in
WFDB format 212 with ``wfdb.wrsamp`` and some Georgia records as EDF with the
small EDF writer below (written independently of the reader), and writes a
``labels.csv``. Labels come from the releases' own codes: NORM when PTB-XL's
``scp_codes`` or Georgia's ``# Dx:`` say normal / sinus rhythm, ABN otherwise.

Example:
>>> release = make_folder_release(tmp_path, sample_data)  # doctest: +SKIP
>>> release.labels.read_text().splitlines()[0]  # doctest: +SKIP
'record,patient,NORM,ABN'
"""

from __future__ import annotations

import ast
import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

GEORGIA_NORMAL = "426783006"


@dataclasses.dataclass
class FolderRelease:
    source: Path
    labels: Path
    rows: pd.DataFrame
    #: record -> (the original record path without extension, its format)
    origin: dict


def write_edf(path: Path, signal: np.ndarray, fs: int, names, unit: str = "mV") -> None:
    """A minimal EDF file: one data record holding the whole (samples, signals) ``signal``."""
    samples, count = signal.shape
    low = np.floor(signal.min(axis=0) * 1000) / 1000 - 0.001
    high = np.ceil(signal.max(axis=0) * 1000) / 1000 + 0.001
    digital_low, digital_high = -32768, 32767
    scale = (high - low) / (digital_high - digital_low)
    digital = np.round((signal - low) / scale + digital_low).astype("<i2")

    def field(value, width):
        text = str(value)[:width]
        return text.ljust(width).encode("ascii")

    header = b"".join([
        field(0, 8), field("X X X X", 80), field("Startdate 01-JAN-2020 X X X", 80),
        field("01.01.20", 8), field("00.00.00", 8), field(256 * (count + 1), 8), field("", 44),
        field(1, 8), field(f"{samples / fs:g}", 8), field(count, 4)])
    columns = [
        [field(name, 16) for name in names], [field("", 80)] * count, [field(unit, 8)] * count,
        [field(f"{value:.3f}", 8) for value in low], [field(f"{value:.3f}", 8) for value in high],
        [field(digital_low, 8)] * count, [field(digital_high, 8)] * count, [field("", 80)] * count,
        [field(samples, 8)] * count, [field("", 32)] * count]
    body = b"".join(b"".join(column) for column in columns)
    path.write_bytes(header + body + digital.T.tobytes())


def _ptbxl_rows(ptbxl: Path, count: int) -> pd.DataFrame:
    table = pd.read_csv(ptbxl / "ptbxl_database.csv").sort_values("ecg_id").head(count)
    table["normal"] = [("NORM" in ast.literal_eval(codes)) for codes in table["scp_codes"]]
    return table


def make_folder_release(root: Path, sample_data: Path, ptbxl_count: int = 40,
                        fmt212_count: int = 10, edf_count: int = 5) -> FolderRelease:
    """Real records in four formats under ``root/records`` plus ``root/labels.csv``."""
    import wfdb

    source = root / "records"
    rows, origin = [], {}
    ptbxl = sample_data / "ptbxl"
    table = _ptbxl_rows(ptbxl, ptbxl_count)
    for position, row in enumerate(table.itertuples()):
        original = ptbxl / row.filename_lr
        if position < ptbxl_count - fmt212_count:
            record = f"ptbxl/{original.name}"
            (source / "ptbxl").mkdir(parents=True, exist_ok=True)
            for extension in (".hea", ".dat"):
                shutil.copy(original.with_suffix(extension), source / (record + extension))
            origin[record] = (original, "wfdb-16")
        else:
            record = f"fmt212/{original.name}"
            (source / "fmt212").mkdir(parents=True, exist_ok=True)
            signal, fields = wfdb.rdsamp(str(original))
            wfdb.wrsamp(original.name, fs=fields["fs"], units=fields["units"],
                        sig_name=fields["sig_name"], p_signal=signal, fmt=["212"] * signal.shape[1],
                        adc_gain=[200.0] * signal.shape[1], baseline=[0] * signal.shape[1],
                        write_dir=str(source / "fmt212"))
            origin[record] = (original, "wfdb-212")
        rows.append({"record": record, "patient": f"ptbxl-{int(row.patient_id)}",
                     "NORM": int(row.normal), "ABN": int(not row.normal)})
    headers = sorted((sample_data / "georgia").glob("*.hea"))
    for position, header in enumerate(headers):
        original = header.with_suffix("")
        dx = wfdb.rdheader(str(original)).comments
        normal = any(GEORGIA_NORMAL in line for line in dx if line.startswith("Dx"))
        if position < len(headers) - edf_count:
            record = f"georgia/{original.name}"
            (source / "georgia").mkdir(parents=True, exist_ok=True)
            for extension in (".hea", ".mat"):
                shutil.copy(original.with_suffix(extension), source / (record + extension))
            origin[record] = (original, "cinc-mat")
        else:
            record = f"edf/{original.name}"
            (source / "edf").mkdir(parents=True, exist_ok=True)
            signal, fields = wfdb.rdsamp(str(original))
            write_edf(source / (record + ".edf"), signal, int(fields["fs"]), fields["sig_name"])
            origin[record] = (original, "edf")
        rows.append({"record": record, "patient": f"georgia-{original.name}",
                     "NORM": int(normal), "ABN": int(not normal)})
    frame = pd.DataFrame(rows)
    labels = root / "labels.csv"
    frame.to_csv(labels, index=False)
    return FolderRelease(source, labels, frame, origin)
