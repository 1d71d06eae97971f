"""Your own records: a folder of WFDB or EDF files plus a ``labels.csv``.

``labels.csv`` has one row per record:

- ``record``: the record's path under the source folder, without extension
  (``site1/r001`` for ``SOURCE/site1/r001.hea`` or ``SOURCE/site1/r001.edf``);
  it becomes the example's ``record_id``;
- ``patient`` (optional): the example's ``patient_id`` (default: the record);
- the labels, either one 0/1 column per label, or one ``labels`` column of
  label names separated by ``;`` (empty: no label);
- ``split`` (optional): ``train`` or ``test``, to keep your own split
  (otherwise the patient-wise random split with ``--test-size``).

Records are any WFDB record :mod:`wfdb` reads (``.hea`` + ``.dat`` in any
storage format, CinC ``.hea`` + ``.mat``, multi-segment records) or EDF files
(``.edf``), at any rate of at least 100 Hz, read by
:func:`tfrecords_builder.reading.read_signal_file`: only the requested ``leads``
are read, other channels are listed in the manifest's ``ignored_channels``.
``lead_map`` (``--lead-map MLII=II,V=V5``) names the standard lead a channel is;
``assume_units`` (``--assume-units mV``) is the unit of a requested lead whose own
unit is not a voltage (``NU``, empty). A row without a positive label is a negative
example, not an unlabeled one: it is kept.

Example:
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "labels.csv").write_text("record,patient,labels\\nr1,p1,AF;PVC\\nr2,p2,\\n")
>>> reader = FolderReader(folder, labels=folder / "labels.csv", name="mine")
>>> reader.label_names, reader.dataset_name, reader.default_split
(('AF', 'PVC'), 'mine', 'random')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.leads import STANDARD_LEADS, parse_lead_map, standard_lead_subset
from tfrecords_builder.units import check_assume_units
from tfrecords_builder.wfdb_io import names_in, other_case

if TYPE_CHECKING:
    import pandas as pd

RECORD, PATIENT, LABELS, SPLIT = "record", "patient", "labels", "split"
SPLIT_VALUES = ("train", "test")
LABEL_SEPARATOR = ";"
#: Record file extensions tried, in order, for a ``record`` value.
WFDB_HEADER, EDF_EXTENSIONS = ".hea", (".edf", ".EDF")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class LabelTable:
    """A parsed and checked ``labels.csv``.

    Attributes:
        path: the file.
        label_names: label names (0/1 column order, or sorted names of the ``labels`` column).
        rows: per row ``(line, record, patient, labels, split or None)``; ``line`` is
            the CSV line number (the header is line 1).
        has_split: the table has a ``split`` column.

    Raises:
        SourceError: one line naming the file, the line and what was expected.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: labels file not found")
        table = Reader.read_table(self.path, "labels table", dtype=str, keep_default_na=False,
                                  skipinitialspace=True, encoding="utf-8-sig").fillna("")
        table.columns = [str(column).strip() for column in table.columns]
        self._check_columns(table)
        self.has_split = SPLIT in table.columns
        label_columns = [c for c in table.columns if c not in (RECORD, PATIENT, SPLIT)]
        by_name = LABELS in table.columns
        self.label_names = (self._names_in_column(table) if by_name else tuple(label_columns))
        if not self.label_names:
            raise SourceError(f"{self.path}: no labels: expected 0/1 label columns or a "
                              f"{LABELS!r} column of names separated by {LABEL_SEPARATOR!r}")
        self.rows = [self._row(line, row, by_name) for line, row in
                     zip(range(2, len(table) + 2), table.to_dict("records"))]
        self._check_unique_records()
        self._check_split_patients()

    def _check_columns(self, table: pd.DataFrame) -> None:
        if RECORD not in table.columns:
            raise SourceError(f"{self.path}: no {RECORD!r} column; columns are "
                              f"{', '.join(table.columns)}")
        duplicated = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
        if duplicated:
            raise SourceError(f"{self.path}: column(s) {', '.join(duplicated)} given twice")
        if LABELS in table.columns:
            extra = [c for c in table.columns if c not in (RECORD, PATIENT, SPLIT, LABELS)]
            if extra:
                raise SourceError(f"{self.path}: column(s) {', '.join(extra)} next to a {LABELS!r} "
                                  f"column; give labels either as names in {LABELS!r} or as 0/1 "
                                  f"columns, not both")
        if table.empty:
            raise SourceError(f"{self.path}: no rows")

    def _names_in_column(self, table: pd.DataFrame) -> tuple[str, ...]:
        return tuple(sorted({name for value in table[LABELS] for name in _split_names(value)}))

    def _row(self, line: int, row: dict, by_name: bool):
        where = f"{self.path} line {line}"
        record = row[RECORD].strip()
        if not record:
            raise SourceError(f"{where}: empty {RECORD!r}")
        if Path(record).is_absolute() or ".." in Path(record).parts:
            raise SourceError(f"{where}: record {record!r} must be a path under the source folder")
        patient = row.get(PATIENT, "").strip() or record
        if by_name:
            labels = tuple(name for name in self.label_names if name in _split_names(row[LABELS]))
        else:
            labels = tuple(name for name in self.label_names if _binary(row[name], where, name))
        split = None
        if self.has_split:
            split = row[SPLIT].strip().lower()
            if split not in SPLIT_VALUES:
                raise SourceError(f"{where}: split is {row[SPLIT]!r}; expected train or test")
        return line, record, patient, labels, split

    def _check_unique_records(self) -> None:
        first_line: dict[str, int] = {}
        for line, record, *_ in self.rows:
            if record in first_line:
                raise SourceError(f"{self.path} line {line}: record {record!r} is also on line "
                                  f"{first_line[record]}; expected one row per record")
            first_line[record] = line

    def _check_split_patients(self) -> None:
        seen: dict[str, tuple[str, int]] = {}
        for line, _, patient, _, split in self.rows:
            if split is None:
                continue
            other = seen.setdefault(patient, (split, line))
            if other[0] != split:
                raise SourceError(f"{self.path} line {line}: patient {patient!r} is in {split} "
                                  f"but in {other[0]} on line {other[1]}; a patient's records "
                                  f"must all be in one split")


def _split_names(value: str) -> list[str]:
    return [name.strip() for name in value.split(LABEL_SEPARATOR) if name.strip()]


def _binary(value: str, where: str, column: str) -> bool:
    text = value.strip()
    if text not in ("0", "1"):
        raise SourceError(f"{where}: label {column} is {value!r}; expected 0 or 1")
    return text == "1"


def _lead_subset(leads) -> tuple[str, ...]:
    if leads is None:
        return STANDARD_LEADS
    names = leads.split(",") if isinstance(leads, str) else list(leads)
    try:
        return standard_lead_subset([name.strip() for name in names if name.strip()])
    except ValueError as error:
        raise SourceError(f"--leads: {error}") from None


def _test_size(test_size) -> float | None:
    if test_size is None:
        return None
    if not isinstance(test_size, (int, float)) or isinstance(test_size, bool) \
            or not 0 < test_size < 1:
        raise SourceError(f"--test-size must be a fraction between 0 and 1, got {test_size!r}")
    return float(test_size)


class FolderReader(Reader):
    """Your own WFDB/EDF records with a labels.csv (see the module docstring).

    Args:
        source: the folder the ``record`` paths are relative to.
        labels: the ``labels.csv`` file.
        name: the dataset's name: the output goes to ``OUT/NAME``.
        leads: comma-separated standard lead names to keep (default: all 12).
        test_size: share of patients in test under the random split (default 0.33).
        lead_map: ``"MLII=II,V=V5"`` (or a dict): the standard lead a record's channel is.
        assume_units: the unit of a requested lead whose own unit is not a voltage.
    """

    name = "folder"
    label_names: tuple[str, ...] = ()
    label_codes: dict[str, tuple[str, ...]] = {}
    release_format = "folder"
    labels_are_complete = True

    def __init__(self, source, labels=None, name=None, leads=None, test_size=None,
                 lead_map=None, assume_units=None):
        super().__init__(source)
        if labels is None:
            raise SourceError("the folder reader needs --labels labels.csv")
        if name is None or not _NAME.match(str(name)):
            raise SourceError(f"--name must be a folder name (letters, digits, '.', '_', '-'), "
                              f"got {name!r}")
        self._name = str(name)
        self.leads = _lead_subset(leads)
        self.test_size = _test_size(test_size)
        try:
            self.lead_map = parse_lead_map(lead_map) or None
            self.assume_units = check_assume_units(assume_units)
        except ValueError as error:
            raise SourceError(str(error)) from None
        self.table = LabelTable(labels)
        self.label_names = self.table.label_names
        self.label_codes = {label: (label,) for label in self.label_names}
        self.default_split = "given" if self.table.has_split else "random"

    @property
    def dataset_name(self) -> str:
        return self._name

    def input_paths(self) -> list[Path]:
        return [self.source, self.table.path]

    @classmethod
    def add_options(cls, parser) -> None:
        parser.add_argument("--labels", required=True,
                            help="labels.csv: record, optional patient and split, 0/1 label "
                                 "columns or one 'labels' column of names separated by ';'")
        parser.add_argument("--name", required=True,
                            help="dataset name; the output goes to OUT/NAME")
        parser.add_argument("--leads", default=None,
                            help="comma-separated leads to keep, e.g. I,II,V1 (default: all 12)")
        parser.add_argument("--test-size", type=float, default=None,
                            help="share of patients in test under the random split (default 0.33)")
        parser.add_argument("--lead-map", default=None,
                            help="the standard lead a record's channel is, e.g. "
                                 "MLII=II,MLIII=III,V=V5 (recorded in the manifest)")
        parser.add_argument("--assume-units", default=None,
                            help="unit of a requested lead whose own unit is not a voltage "
                                 "(NU, none), e.g. mV (recorded in the manifest)")

    @classmethod
    def options_from_args(cls, args) -> dict:
        return {"labels": str(Path(args.labels).resolve()), "name": args.name,
                "leads": args.leads, "test_size": args.test_size, "lead_map": args.lead_map,
                "assume_units": args.assume_units}

    def _location(self, line: int, record: str) -> str:
        """The record's file under its exact name (on every platform, case-insensitive file
        systems included); a file whose name differs only in case is named in the error."""
        folder = (self.source / record).parent
        try:
            names = names_in(folder)
        except OSError:
            names = frozenset()
        extensions = (WFDB_HEADER, *EDF_EXTENSIONS)
        candidates = [Path(record).name + extension for extension in extensions]
        for candidate, extension in zip(candidates, extensions):
            if candidate in names and (folder / candidate).is_file():
                return record + extension
        found = [name for name in (other_case(names, c) for c in candidates) if name]
        hint = f" (found {found[0]}; names differ in case)" if found else ""
        raise SourceError(f"{self.table.path} line {line}: record {record!r} not found: expected "
                          f"{self.source / record}.hea (WFDB) or {self.source / record}.edf{hint}")

    def records(self) -> list[RecordRef]:
        return [RecordRef(record_id=record, patient_id=patient, labels=labels,
                          location=self._location(line, record), split=split)
                for line, record, patient, labels, split in self.table.rows]

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        return self.read_file(self.source / ref.location, max_seconds)
