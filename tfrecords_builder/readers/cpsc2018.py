"""CPSC 2018, in its original release or the PhysioNet/CinC 2020/2021 WFDB release.

Original: ``A0001.mat`` holds a struct ``ECG`` (``sex``, ``age``, ``data`` 12 x N
at 500 Hz, mV, leads I, II, III, aVR, aVL, aVF, V1-V6) and ``REFERENCE.csv`` gives
up to three labels per recording as numbers 1-9. CinC: ``A0001.hea`` + ``.mat``
with SNOMED codes on ``# Dx:``; when that line is empty, labels come from a
``REFERENCE.csv`` if one is given (``--reference`` or in the source folder).

The layout is decided per record: a ``.mat`` with a ``.hea`` beside it is a CinC
record, a ``.mat`` without one an original recording, so a folder mixing both
loses neither (its ``release_format`` says ``mixed``). ``REFERENCE.csv`` is
checked row by row: class numbers must be whole numbers 1-9, and a recording
listed twice with different labels, or a row without a recording name, is
skipped with the reason rather than letting one row win.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfrecords_builder.matfile import load_struct_field, samples_by_leads
from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.readers.cinc import SNOMED, CincReader, dx_codes
from tfrecords_builder.signal import STANDARD_LEADS

CPSC_LABELS = ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
#: REFERENCE.csv class number (1-9) -> label.
REFERENCE_CLASSES = dict(enumerate(CPSC_LABELS, start=1))
ORIGINAL_FS = 500.0


def _class_number(value: str) -> int:
    """A REFERENCE.csv class number: a whole number 1-9 (``"2"`` or ``"2.0"``), else ValueError."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(value) from None
    if not number.is_integer() or number not in REFERENCE_CLASSES:
        raise ValueError(value)
    return int(number)


def read_reference(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """``REFERENCE.csv`` as recording -> class numbers (1-9), and recording (or ``row N``) ->
    the reason its labels cannot be used."""
    table = Reader.read_table(path, "REFERENCE.csv", dtype=str, keep_default_na=False)
    if "Recording" not in table.columns:
        raise SourceError(f"{path}: no 'Recording' column; expected CPSC 2018's REFERENCE.csv "
                          f"(Recording,First_label,Second_label,Third_label)")
    label_columns = [column for column in table.columns if column != "Recording"]
    reference: dict[str, tuple[int, ...]] = {}
    problems: dict[str, str] = {}
    for row_number, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        recording = row["Recording"].strip()
        values = {column: row[column].strip() for column in label_columns if row[column].strip()}
        if not recording:
            problems[f"row {row_number}"] = (f"{path} line {row_number}: no recording name "
                                             f"(labels {values or 'none'})")
            continue
        try:
            classes = tuple(sorted({_class_number(value) for value in values.values()}))
        except ValueError as error:
            column = next(c for c, v in values.items() if v == error.args[0])
            problems[recording] = (f"{path} line {row_number}: {column} is {error.args[0]!r}; "
                                   f"expected a class number 1-9")
            continue
        if recording in reference and reference[recording] != classes:
            problems[recording] = (f"{path}: {recording} is listed twice with different labels "
                                   f"({list(reference[recording])} and {list(classes)})")
        reference.setdefault(recording, classes)
    return reference, problems


def read_original_mat(path: Path, max_seconds: float) -> RawSignal:
    """The first ``max_seconds`` of an original-release recording (struct ``ECG``, field ``data``,
    12 x N mV; a transposed N x 12 ``data`` is read as such)."""
    data = samples_by_leads(load_struct_field(path, "ECG", "data"), len(STANDARD_LEADS),
                            f"{path}: ECG.data")
    samples = int(np.ceil(max_seconds * ORIGINAL_FS))
    return RawSignal(np.asarray(data[:samples], dtype=np.float64), ORIGINAL_FS, STANDARD_LEADS)


class Cpsc2018Reader(CincReader):
    """9 labels; reads original and CinC records, detected per record; a record is its own patient.

    Args:
        source: the release folder.
        reference: a ``REFERENCE.csv``; defaults to the one in ``source`` if present.
    """

    name = "cpsc2018"
    label_names = CPSC_LABELS

    def __init__(self, source, reference: str | Path | None = None):
        super().__init__(source)
        default_reference = self.source / "REFERENCE.csv"
        if reference is not None and not Path(reference).is_file():
            raise SourceError(f"{reference}: REFERENCE.csv not found")
        reference_path = Path(reference) if reference else (
            default_reference if default_reference.is_file() else None)
        self.reference_path = reference_path
        self.reference, self.reference_problems = read_reference(
            reference_path) if reference_path else ({}, {})
        has_headers = next(self.source.rglob("*.hea"), None) is not None
        has_originals = any(not path.with_suffix(".hea").exists()
                            for path in self.source.rglob("*.mat"))
        if not (has_headers or has_originals):
            raise SourceError(f"{self.source}: no .mat recordings and no .hea headers; expected "
                              f"the CPSC 2018 original release (A0001.mat + REFERENCE.csv) or "
                              f"its CinC WFDB release")
        if has_originals and reference_path is None:
            self.require_file("REFERENCE.csv", "the label table REFERENCE.csv (original release)")
        self.release_format = ("mixed: cinc-wfdb + cpsc2018-original"
                               if has_headers and has_originals else "cinc-wfdb" if has_headers else "cpsc2018-original")
        # The original release's codes are REFERENCE.csv's class numbers, the CinC
        # release's SNOMED codes.
        numbers = {label: (str(number),) for number, label in REFERENCE_CLASSES.items()}
        self.label_codes = {label: (SNOMED[label] if has_headers else ())
                            + (numbers[label] if has_originals else ()) for label in CPSC_LABELS}

    def input_paths(self) -> list[Path]:
        return [self.source] + ([self.reference_path] if self.reference_path else [])

    @classmethod
    def add_options(cls, parser):
        parser.add_argument("--reference", default=None,
                            help="cpsc2018: REFERENCE.csv giving labels (default: SOURCE/REFERENCE.csv)")

    @classmethod
    def options_from_args(cls, args):
        return {"reference": args.reference}

    def _reference_labels(self, record_id: str) -> tuple[str, ...] | None:
        """Labels from REFERENCE.csv, or None (and the record skipped) when its row is unusable."""
        if record_id in self.reference_problems:
            self.skip(record_id, self.reference_problems[record_id])
            return None
        classes = self.reference.get(record_id, ())
        return tuple(REFERENCE_CLASSES[number] for number in classes)

    def labels_for(self, header_path: Path) -> tuple[str, ...] | None:
        codes = dx_codes(header_path)
        return self.labels_from_codes(codes) if codes else self._reference_labels(header_path.stem)

    def records(self) -> list[RecordRef]:
        refs = super().records() if next(self.source.rglob("*.hea"), None) is not None else []
        for path in sorted(self.source.rglob("*.mat"), key=lambda path: (path.stem, str(path))):
            if path.with_suffix(".hea").exists():
                continue
            labels = self._reference_labels(path.stem)
            if labels is not None:
                refs.append(RecordRef(record_id=path.stem, patient_id=path.stem, labels=labels,
                                      location=str(path.relative_to(self.source))))
        for key, reason in self.reference_problems.items():
            if key.startswith("row "):
                self.skip(key, reason)
        return sorted(refs, key=lambda ref: (ref.record_id, ref.location))

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        if ref.location.endswith(".hea"):
            return super().read_signal(ref, max_seconds)
        return read_original_mat(self.source / ref.location, max_seconds)
