"""CODE test set (Ribeiro et al. 2020): ``ecg_tracings.hdf5`` + ``annotations/gold_standard.csv``.

``tracings`` is N x 4096 x 12 at 400 Hz, 10 s and 7 s exams zero-padded on both
sides to 4096; the padding is stripped before cropping (so 7 s exams are dropped
as too short), unless ``keep_padding`` (``--keep-padding``, the study's code): then
the first 10 s of the 4096 samples, zeros included, make the example and every
exam is kept. The i-th CSV row matches the i-th tracing; each exam is its own
patient. The upstream description gives two lead orders and the unit "1e-4 V"
next to "multiply by 1000 to obtain V", so both are options: ``lead_order``
(default ``DI,DII,DIII,AVR,AVL,AVF,V1,...,V6``) and ``scale`` (multiplier that
turns stored values into mV, default 1.0: values are taken as mV). Every label
cell must be 0 or 1: a row with an empty cell or any other value is skipped with
the reason (it is not read as "not marked").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.signal import RecordRejected, canonical_lead

RIBEIRO_LABELS = ("NORM", "I-AVB", "RBBB", "LBBB", "SB", "AF", "STach")
#: Label -> gold_standard.csv column ("NORM" is the absence of all six).
GOLD_COLUMNS = {"I-AVB": "1dAVb", "RBBB": "RBBB", "LBBB": "LBBB", "SB": "SB", "AF": "AF", "STach": "ST"}
DEFAULT_LEAD_ORDER = ("DI", "DII", "DIII", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
FS = 400.0
#: gold_standard.csv cell -> marked; anything else (empty, 2, "yes") makes the row unusable.
_BINARY = {"0": False, "1": True, "0.0": False, "1.0": True}
#: Samples per tracing accepted (a per-record memory bound).
MAX_SAMPLES = 1 << 20


def strip_zero_padding(tracing: np.ndarray) -> np.ndarray:
    """Drop the zero padding the release adds, equally, at both ends of each exam.

    The padding is symmetric, so the shorter of the two all-zero runs is taken as
    its width: an exam whose own first or last sample happens to be 0 keeps it.
    """
    nonzero = np.flatnonzero(np.any(tracing != 0, axis=1))
    if nonzero.size == 0:
        return tracing[:0]
    pad = min(nonzero[0], len(tracing) - 1 - nonzero[-1])
    return tracing[pad: len(tracing) - pad]


class RibeiroReader(Reader):
    """7 labels from ``gold_standard.csv``; NORM when none of the six abnormalities is marked.

    Args:
        source: the release folder.
        hdf5: the tracings file (default ``SOURCE/ecg_tracings.hdf5``).
        lead_order: the 12 lead names in the file's order.
        scale: factor from stored values to mV.
        keep_padding: keep the release's zero padding as part of the signal (the study's
            code), so 7 s exams are kept instead of dropped as too short.
    """

    name = "ribeiro"
    label_names = RIBEIRO_LABELS
    label_codes = {"NORM": ("no abnormality",), **{k: (v,) for k, v in GOLD_COLUMNS.items()}}
    release_format = "code-test-hdf5"

    def __init__(self, source, hdf5: str | Path | None = None,
                 lead_order: tuple[str, ...] = DEFAULT_LEAD_ORDER, scale: float = 1.0,
                 keep_padding: bool = False):
        super().__init__(source)
        lead_order = tuple(lead_order)
        if len(lead_order) != 12 or len({canonical_lead(lead) for lead in lead_order}) != 12:
            raise ValueError(f"lead_order must name 12 distinct leads, got {lead_order}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite positive number, got {scale}")
        self.lead_order, self.scale = lead_order, float(scale)
        self.keep_padding = bool(keep_padding)
        self.hdf5 = Path(hdf5) if hdf5 else self.source / "ecg_tracings.hdf5"
        if not self.hdf5.is_file():
            raise SourceError(f"{self.hdf5}: not found; expected the CODE tracings file ecg_tracings.hdf5")
        self.gold = self.require_file("annotations/gold_standard.csv", "the annotations gold_standard.csv")
        self._file = None

    def input_paths(self) -> list[Path]:
        return [self.source, self.hdf5]

    @classmethod
    def add_options(cls, parser):
        parser.add_argument("--hdf5", default=None, help="ribeiro: tracings file (default SOURCE/ecg_tracings.hdf5)")
        parser.add_argument("--lead-order", default=",".join(DEFAULT_LEAD_ORDER),
                            help="ribeiro: comma-separated lead names in the file's order "
                                 "(default %(default)s; the release also states DI,DII,DIII,AVL,AVF,AVR,...)")
        parser.add_argument("--scale", type=float, default=1.0,
                            help="ribeiro: multiplier from stored values to mV (default 1.0)")
        parser.add_argument("--keep-padding", action="store_true",
                            help="ribeiro: keep the zero padding as part of the 4096 samples (the "
                                 "study's code), so 7 s exams are kept, not dropped as too short")

    @classmethod
    def options_from_args(cls, args):
        return {"hdf5": args.hdf5, "lead_order": tuple(args.lead_order.split(",")), "scale": args.scale,
                "keep_padding": args.keep_padding}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None  # an open HDF5 handle is reopened in each worker
        return state

    def _tracings(self):
        import h5py

        if self._file is None:
            try:
                self._file = h5py.File(self.hdf5, "r")
            except OSError as error:
                raise SourceError(f"{self.hdf5}: not an HDF5 file h5py can open ({error}); "
                                  f"expected CODE's ecg_tracings.hdf5") from None
        tracings = self._file.get("tracings")
        if not isinstance(tracings, h5py.Dataset):
            found = "nothing" if tracings is None else f"a {type(tracings).__name__}"
            raise SourceError(
                f"{self.hdf5}: 'tracings' is {found}; expected CODE's N x 4096 x 12 dataset")
        return tracings

    def records(self) -> list[RecordRef]:
        gold = self.read_table(self.gold, "gold_standard.csv", dtype=str, keep_default_na=False,
                               skip_blank_lines=False)
        missing = [column for column in GOLD_COLUMNS.values() if column not in gold.columns]
        if missing:
            raise SourceError(f"{self.gold}: missing column(s) {', '.join(missing)}")
        tracings = self._tracings()
        if (tracings.ndim != 3 or tracings.shape[2] != 12 or tracings.dtype.kind not in "iuf"
                or tracings.shape[1] > MAX_SAMPLES):
            raise SourceError(f"{self.hdf5}: tracings is {tracings.dtype} {tracings.shape}, "
                              f"expected N x samples x 12 numbers, at most {MAX_SAMPLES} samples")
        if tracings.shape[0] != len(gold):
            raise SourceError(f"{self.hdf5}: {tracings.shape[0]} tracings but {self.gold} has "
                              f"{len(gold)} rows; the i-th row must match the i-th tracing")
        width = len(str(len(gold)))
        refs = []
        # Column names such as "1dAVb" are not identifiers, so rows are read as dicts.
        for index, row in enumerate(gold[list(GOLD_COLUMNS.values())].to_dict("records")):
            record_id = f"{index:0{width}d}"
            bad = {column: value for column, value in row.items() if value.strip() not in _BINARY}
            if bad:
                column, value = next(iter(bad.items()))
                self.skip(record_id, f"{self.gold} line {index + 2}: {column} is {value!r}; "
                                     f"expected 0 or 1 (a missing value is not 0)")
                continue
            marked = {label for label,
                      column in GOLD_COLUMNS.items() if _BINARY[row[column].strip()]}
            labels = tuple(label for label in RIBEIRO_LABELS if label in marked) or ("NORM",)
            refs.append(RecordRef(record_id=record_id, patient_id=record_id, labels=labels,
                                  location=str(index)))
        return refs

    def describe(self, ref: RecordRef) -> str:
        return f"{self.hdf5} tracing {ref.location}"

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        tracing = np.asarray(self._tracings()[int(ref.location)], dtype=np.float64)
        if not self.keep_padding:
            tracing = strip_zero_padding(tracing)
        if tracing.shape[0] == 0:
            raise RecordRejected("signal is all zeros")
        samples = int(np.ceil(max_seconds * FS))
        return RawSignal(tracing[:samples] * self.scale, FS, self.lead_order)
