"""CPSC 2018, in its original release or the PhysioNet/CinC 2020/2021 WFDB release.

Original: ``A0001.mat`` holds a struct ``ECG`` (``sex``, ``age``, ``data`` 12 x N
at 500 Hz, mV, leads I, II, III, aVR, aVL, aVF, V1-V6) and ``REFERENCE.csv`` gives
up to three labels per recording as numbers 1-9. CinC: ``A0001.hea`` + ``.mat``
with SNOMED codes on ``# Dx:``; when that line is empty, labels come from a
``REFERENCE.csv`` if one is given (``--reference`` or in the source folder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.readers.cinc import SNOMED, CincReader, dx_codes
from tfrecords_builder.signal import STANDARD_LEADS, RecordRejected

CPSC_LABELS = ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
#: REFERENCE.csv class number (1-9) -> label.
REFERENCE_CLASSES = dict(enumerate(CPSC_LABELS, start=1))
ORIGINAL_FS = 500.0


def read_reference(path: Path) -> dict[str, tuple[int, ...]]:
    """``REFERENCE.csv`` as recording -> class numbers (1-9)."""
    table = Reader.read_table(path, "REFERENCE.csv", dtype=str)
    if "Recording" not in table.columns:
        raise SourceError(f"{path}: no 'Recording' column; expected CPSC 2018's REFERENCE.csv "
                          f"(Recording,First_label,Second_label,Third_label)")
    label_columns = [column for column in table.columns if column != "Recording"]
    reference = {}
    for row in table.itertuples(index=False):
        values = [getattr(row, column) for column in label_columns]
        try:
            classes = tuple(int(float(v)) for v in values if isinstance(v, str) and v.strip())
        except ValueError:
            raise SourceError(f"{path}: recording {row.Recording} has non-numeric labels {values}; "
                              f"expected class numbers 1-9") from None
        reference[row.Recording.strip()] = classes
    return reference


def read_original_mat(path: Path, max_seconds: float) -> RawSignal:
    """The first ``max_seconds`` of an original-release recording (struct ``ECG``, field ``data``)."""
    try:
        ecg = scipy.io.loadmat(path, squeeze_me=True)["ECG"]
        data = np.asarray(ecg["data"].item(), dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise RecordRejected(f"{path}: expected a MATLAB struct ECG with a 12 x N field data ({error})")
    if data.ndim != 2 or data.shape[0] != len(STANDARD_LEADS):
        raise RecordRejected(f"{path}: ECG.data has shape {data.shape}, expected 12 x N")
    samples = int(np.ceil(max_seconds * ORIGINAL_FS))
    return RawSignal(data[:, :samples].T, ORIGINAL_FS, STANDARD_LEADS)


class Cpsc2018Reader(CincReader):
    """9 labels; detects which release the source folder holds; a record is its own patient.

    Args:
        source: the release folder.
        reference: a ``REFERENCE.csv``; defaults to the one in ``source`` if present.
    """

    name = "cpsc2018"
    label_names = CPSC_LABELS
    label_codes = {label: SNOMED[label] for label in CPSC_LABELS}

    def __init__(self, source, reference: str | Path | None = None):
        super().__init__(source)
        default_reference = self.source / "REFERENCE.csv"
        if reference is not None and not Path(reference).is_file():
            raise SourceError(f"{reference}: REFERENCE.csv not found")
        reference_path = Path(reference) if reference else (
            default_reference if default_reference.is_file() else None)
        self.reference = read_reference(reference_path) if reference_path else {}
        has_headers = next(self.source.rglob("*.hea"), None) is not None
        self.release_format = "cinc-wfdb" if has_headers else "cpsc2018-original"
        if not has_headers:  # the original release's codes are REFERENCE.csv's class numbers
            self.label_codes = {label: (str(number),) for number, label in REFERENCE_CLASSES.items()}
        if not has_headers:
            if reference_path is None:
                self.require_file("REFERENCE.csv", "the label table REFERENCE.csv (original release)")
            if next(self.source.rglob("A*.mat"), None) is None:
                raise SourceError(f"{self.source}: no A*.mat recordings and no .hea headers; expected the "
                                  f"CPSC 2018 original release (A0001.mat + REFERENCE.csv) or its CinC WFDB release")

    @classmethod
    def add_options(cls, parser):
        parser.add_argument("--reference", default=None,
                            help="cpsc2018: REFERENCE.csv giving labels (default: SOURCE/REFERENCE.csv)")

    @classmethod
    def options_from_args(cls, args):
        return {"reference": args.reference}

    def _reference_labels(self, record_id: str) -> tuple[str, ...]:
        classes = set(self.reference.get(record_id, ()))
        return tuple(REFERENCE_CLASSES[number] for number in sorted(classes) if number in REFERENCE_CLASSES)

    def labels_for(self, header_path: Path) -> tuple[str, ...]:
        codes = dx_codes(header_path)
        return self.labels_from_codes(codes) if codes else self._reference_labels(header_path.stem)

    def records(self) -> list[RecordRef]:
        if self.release_format == "cinc-wfdb":
            return super().records()
        paths = sorted(self.source.rglob("A*.mat"), key=lambda path: (path.stem, str(path)))
        return [RecordRef(record_id=path.stem, patient_id=path.stem,
                          labels=self._reference_labels(path.stem),
                          location=str(path.relative_to(self.source))) for path in paths]

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        if self.release_format == "cinc-wfdb":
            return super().read_signal(ref, max_seconds)
        return read_original_mat(self.source / ref.location, max_seconds)
