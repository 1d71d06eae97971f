"""PTB-XL (PhysioNet v1.0.x): ``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``."""

from __future__ import annotations

import ast

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")


def _is_whole(value) -> bool:
    try:
        return float(value).is_integer()
    except (TypeError, ValueError):
        return False


def _whole(value, field: str, low: int, high: int | None = None) -> int:
    """``value`` as a whole number in ``low``-``high``; ValueError naming ``field`` otherwise."""
    number = int(float(value)) if _is_whole(value) else None
    if number is None or number < low or (high is not None and number > high):
        bounds = f"{low}-{high}" if high is not None else f">= {low}"
        raise ValueError(f"{field} is {value!r}; expected a whole number {bounds}")
    return number


_FILENAME_COLUMN = {100: "filename_lr", 500: "filename_hr"}


def _scp_codes(text) -> dict | None:
    """The ``scp_codes`` cell as a dict of SCP codes, or None when it is not one."""
    try:
        codes = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError):
        return None
    if isinstance(codes, dict) and all(isinstance(code, str) for code in codes):
        return codes
    return None


def _empty_rows(table) -> list[bool]:
    """Per row of ``table``: whether every cell is missing or blank."""
    def blank(values):
        return values.isna() | (values.astype(str).str.strip() == "")

    empty = blank(table["ecg_id"])  # a row with an ecg_id is not empty: look no further
    for column in table.columns:
        if not empty.any():
            break
        empty[empty] &= blank(table.loc[empty, column])
    return empty.tolist()


class PtbxlReader(Reader):
    """The 5 diagnostic superclasses from ``scp_codes`` (statements with ``diagnostic == 1``).

    Patient is ``patient_id``; the release's ``strat_fold`` (1-10) becomes fold
    ``strat_fold - 1`` and, by default, fold 10 is the test split. A row with an
    empty, non-whole or out-of-range id or fold, or ``scp_codes`` that is not a dict
    of codes, is skipped with the reason; SCP codes outside ``scp_statements.csv``'s
    diagnostic statements are counted in ``unknown_codes``.

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
        self.database = self.require_file("ptbxl_database.csv",
                                          "the record table ptbxl_database.csv")
        self.statements = self.require_file("scp_statements.csv",
                                            "the statement table scp_statements.csv")
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
                raise SourceError(
                    f"{self.statements}: no column {column!r}; expected PTB-XL's scp_statements.csv")
        diagnostic = table[table["diagnostic"] == 1]
        return {label: tuple(sorted(diagnostic.index[diagnostic["diagnostic_class"] == label]))
                for label in SUPERCLASSES}

    def records(self) -> list[RecordRef]:
        table = self.read_table(self.database, "ptbxl_database.csv")
        needed = ("ecg_id", "patient_id", "scp_codes", "strat_fold",
                  _FILENAME_COLUMN[self.sampling_rate])
        missing = [column for column in needed if column not in table.columns]
        if missing:
            raise SourceError(f"{self.database}: missing column(s) {', '.join(missing)}; "
                              f"expected PTB-XL's ptbxl_database.csv")
        empty = _empty_rows(table)
        codes_of: dict = {}  # scp_codes text -> its codes: the release repeats many texts
        refs = []
        rows = table[list(needed)].to_dict("records")
        for row_number, (row, is_empty) in enumerate(zip(rows, empty), start=2):  # line 1: header
            try:
                if is_empty:
                    raise ValueError("empty row")
                refs.append(self._record(row, codes_of))
            except ValueError as error:
                record_id = _whole(row["ecg_id"], "ecg_id", 1) if _is_whole(row["ecg_id"]) else None
                where = f"ecg_id {record_id}" if record_id is not None else f"line {row_number}"
                self.skip(str(record_id) if record_id is not None else f"row {row_number}",
                          f"{self.database} {where}: {error}")
        return sorted(refs, key=lambda ref: int(ref.record_id))

    def _record(self, row: dict, codes_of: dict) -> RecordRef:
        """One table row as a record; ValueError naming the field and value when unusable."""
        filename = row[_FILENAME_COLUMN[self.sampling_rate]]
        if not isinstance(filename, str) or not filename.strip():
            raise ValueError(
                f"{_FILENAME_COLUMN[self.sampling_rate]} is {filename!r}; expected a record path")
        text = row["scp_codes"]
        if not isinstance(text, str) or text not in codes_of:
            codes_of[text] = _scp_codes(text)
        codes = codes_of[text]
        if codes is None:
            raise ValueError(f"scp_codes is {row['scp_codes']!r}; expected a dict of SCP codes "
                             f"such as {{'NORM': 100.0}}")
        return RecordRef(
            record_id=str(_whole(row["ecg_id"], "ecg_id", 1)),
            patient_id=str(_whole(row["patient_id"], "patient_id", 0)),
            labels=self.labels_from_codes(codes),
            location=filename.strip(),
            fold=_whole(row["strat_fold"], "strat_fold", 1, 10) - 1,
        )

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        return self.read_file(self.source / f"{ref.location}.hea", max_seconds)
