"""The interface every dataset reader implements.

A reader turns one public release, in its published layout, into
:class:`RecordRef` entries (id, patient, labels, where to find the signal) and
reads one record's signal on demand. Readers are pickled to worker processes,
so they hold plain data only (paths, options, small tables).
"""

from __future__ import annotations

import abc
import collections
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tfrecords_builder.reading import RawSignal, read_signal_file
from tfrecords_builder.signal import STANDARD_LEADS

if TYPE_CHECKING:  # pandas is imported where a table is read: worker processes never need it
    import pandas as pd

__all__ = ["RawSignal", "Reader", "RecordRef", "SourceError"]


class SourceError(ValueError):
    """The source folder is not the release the reader expects; the message names the file."""


@dataclasses.dataclass(frozen=True)
class RecordRef:
    """One record of a release.

    Attributes:
        record_id: the release's own id (e.g. ``"8"`` for PTB-XL ecg_id 8, ``"A1980"``).
        patient_id: the patient; a record is its own patient where the release has no ids.
        labels: the study's label names the record carries (may be empty).
        location: what :meth:`Reader.read_signal` needs to find the signal.
        fold: a fold the release defines (PTB-XL ``strat_fold - 1``), or None.
        split: the split the user gave the record (``"train"``/``"test"``), or None.
    """

    record_id: str
    patient_id: str
    labels: tuple[str, ...]
    location: str
    fold: int | None = None
    split: str | None = None


class Reader(abc.ABC):
    """Base class of the dataset readers.

    Subclasses set ``name``, ``label_names``, ``label_codes`` (label name ->
    the release's codes that map to it) and ``release_format`` (on the class,
    or in ``__init__`` when it depends on the source) and implement
    :meth:`records` and :meth:`read_signal`.

    A record whose metadata is unusable (an unreadable header, a label value
    outside its table's vocabulary, an empty row) is left out of
    :meth:`records` and listed with :meth:`skip` (``skipped``, which the build
    adds to the manifest's ``dropped``). Source codes that map to none of the
    study's labels are counted in ``unknown_codes`` (the manifest lists them).
    """

    name: ClassVar[str]
    label_names: ClassVar[tuple[str, ...]]
    label_codes: ClassVar[dict[str, tuple[str, ...]]]
    #: Split policy when the user does not ask for one: ``"random"`` or a reader-specific name.
    default_split: ClassVar[str] = "random"
    #: The layout of the release read (written to the manifest).
    release_format: str
    #: The leads each example holds, in order (a reader of the user's records may take a subset).
    leads: tuple[str, ...] = STANDARD_LEADS
    #: Share of patients in test under the random split (None: ``split.TEST_SIZE``).
    test_size: float | None = None
    #: True when a record without a positive label is a negative example, not an unlabeled one.
    labels_are_complete: ClassVar[bool] = False
    #: ``{channel name: standard lead}`` applied to every record (None: names as they are).
    lead_map: dict[str, str] | None = None
    #: The unit taken for a requested lead whose own unit is not a voltage (None: refused).
    assume_units: str | None = None

    def read_file(self, path: Path, max_seconds: float) -> RawSignal:
        """The reader's leads of the record file at ``path`` (WFDB or EDF), with the reader's
        lead map and assumed units (see :func:`tfrecords_builder.reading.read_signal_file`)."""
        return read_signal_file(path, self.leads, max_seconds, lead_map=self.lead_map,
                                assume_units=self.assume_units)

    @property
    def dataset_name(self) -> str:
        """The output folder name and the manifest's ``dataset`` (the reader's name by default)."""
        return self.name

    def __init__(self, source: str | Path):
        self.source = Path(source)
        if not self.source.is_dir():
            raise SourceError(f"{self.source}: source folder not found")
        self.skipped: list[dict] = []
        self.unknown_codes: collections.Counter = collections.Counter()

    def input_paths(self) -> list[Path]:
        """The files and folders a build of this reader reads (the source folder by default).

        A finished build is reused only while their state is the one it was built from
        (:func:`tfrecords_builder.fingerprint.source_fingerprint`): a reader that reads a
        file outside ``source`` (a label table given by path) lists it here.
        """
        return [self.source]

    def skip(self, record_id: str, reason: str) -> None:
        """Leave a record out of :meth:`records`, with the reason (file, field, value)."""
        self.skipped.append({"record_id": record_id, "reason": reason})

    @classmethod
    def add_options(cls, parser) -> None:
        """Add this reader's command-line options to an argparse parser."""

    @classmethod
    def options_from_args(cls, args) -> dict:
        """This reader's keyword options from parsed command-line arguments."""
        return {}

    def describe(self, ref: RecordRef) -> str:
        """Where a record is, for messages (its file)."""
        return str(self.source / ref.location)

    def require_file(self, relative: str, what: str) -> Path:
        """Path of a file the release must contain, or a SourceError naming it."""
        path = self.source / relative
        if not path.is_file():
            raise SourceError(
                f"{path}: not found; expected {what} in the {self.name} release folder")
        return path

    @staticmethod
    def read_table(path: Path, what: str, **read_csv_options) -> pd.DataFrame:
        """A CSV table of the release, or a SourceError naming the file when it cannot be parsed."""
        import pandas as pd

        try:
            return pd.read_csv(path, **read_csv_options)
        except (OSError, ValueError) as error:  # pandas' parser and decoding errors are ValueErrors
            raise SourceError(f"{path}: unreadable {what} ({error})") from None

    def labels_from_codes(self, codes) -> tuple[str, ...]:
        """The study labels (in label order) whose source codes appear in ``codes``."""
        present = set(codes)
        known = set().union(*self.label_codes.values())
        self.unknown_codes.update(present - known)
        return tuple(label for label in self.label_names
                     if present.intersection(self.label_codes[label]))

    @abc.abstractmethod
    def records(self) -> list[RecordRef]:
        """Every record of the release found in the source, in a deterministic order."""

    @abc.abstractmethod
    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        """Read one record: its first ``max_seconds`` (all of it when shorter).

        Raises:
            RecordRejected: the record cannot be used (the message is the reason).
        """
