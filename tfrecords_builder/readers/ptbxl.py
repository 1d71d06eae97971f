"""PTB-XL (PhysioNet v1.0.x): ``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``."""

from __future__ import annotations

import ast

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.wfdb_io import read_record

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
_FILENAME_COLUMN = {100: "filename_lr", 500: "filename_hr"}


class PtbxlReader(Reader):
    """The 5 diagnostic superclasses from ``scp_codes`` (statements with ``diagnostic == 1``).

    Patient is ``patient_id``; the release's ``strat_fold`` (1-10) becomes fold
    ``strat_fold - 1`` and, by default, fold 10 is the test split.

    Args:
        source: the release folder.
        sampling_rate: 100 reads ``records100/``, 500 reads ``records500/``.
    """

    name = "ptbxl"
    label_names = SUPERCLASSES
    default_split = "strat_fold"

    def __init__(self, source, sampling_rate: int = 100):
        super().__init__(source)
        if sampling_rate not in _FILENAME_COLUMN:
            raise ValueError(f"sampling_rate must be 100 or 500, got {sampling_rate}")
        self.sampling_rate = sampling_rate
        self.database = self.require_file("ptbxl_database.csv", "the record table ptbxl_database.csv")
        self.statements = self.require_file("scp_statements.csv", "the statement table scp_statements.csv")
        self.release_format = f"ptbxl-wfdb-{sampling_rate}hz"
        records_dir = self.source / f"records{sampling_rate}"
        if not records_dir.is_dir():
            raise SourceError(f"{records_dir}: not found; expected the {sampling_rate} Hz WFDB records "
                              f"(use --sampling-rate to pick records100 or records500)")
        self.label_codes = self._superclass_codes()

    @classmethod
    def add_options(cls, parser):
        parser.add_argument("--sampling-rate", type=int, choices=(100, 500), default=100,
                            help="ptbxl: read records100/ (default) or records500/")

    @classmethod
    def options_from_args(cls, args):
        return {"sampling_rate": args.sampling_rate}

    def _superclass_codes(self) -> dict[str, tuple[str, ...]]:
        table = self.read_table(self.statements, "scp_statements.csv", index_col=0)
        for column in ("diagnostic", "diagnostic_class"):
            if column not in table.columns:
                raise SourceError(f"{self.statements}: no column {column!r}; expected PTB-XL's scp_statements.csv")
        diagnostic = table[table["diagnostic"] == 1]
        return {label: tuple(sorted(diagnostic.index[diagnostic["diagnostic_class"] == label]))
                for label in SUPERCLASSES}

    def records(self) -> list[RecordRef]:
        table = self.read_table(self.database, "ptbxl_database.csv")
        needed = ("ecg_id", "patient_id", "scp_codes", "strat_fold", _FILENAME_COLUMN[self.sampling_rate])
        missing = [column for column in needed if column not in table.columns]
        if missing:
            raise SourceError(f"{self.database}: missing column(s) {', '.join(missing)}; "
                              f"expected PTB-XL's ptbxl_database.csv")
        refs = []
        for row in table.sort_values("ecg_id").itertuples(index=False):
            try:
                codes = ast.literal_eval(row.scp_codes)
            except (ValueError, SyntaxError):
                raise SourceError(f"{self.database}: ecg_id {row.ecg_id} has unreadable "
                                  f"scp_codes {row.scp_codes!r}") from None
            try:
                ids = str(int(row.ecg_id)), str(int(row.patient_id)), int(row.strat_fold) - 1
            except (ValueError, TypeError):
                raise SourceError(f"{self.database}: ecg_id {row.ecg_id} needs whole numbers in "
                                  f"ecg_id, patient_id and strat_fold, got {row.ecg_id!r}, "
                                  f"{row.patient_id!r}, {row.strat_fold!r}") from None
            refs.append(RecordRef(
                record_id=ids[0],
                patient_id=ids[1],
                labels=self.labels_from_codes(codes),
                location=getattr(row, _FILENAME_COLUMN[self.sampling_rate]),
                fold=ids[2],
            ))
        return refs

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        data, fs, leads = read_record(self.source / f"{ref.location}.hea", max_seconds=max_seconds)
        return RawSignal(data, fs, leads)
