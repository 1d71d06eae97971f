"""One reader per dataset, behind the :class:`~tfrecords_builder.readers.base.Reader` interface."""

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.readers.cpsc2018 import Cpsc2018Reader
from tfrecords_builder.readers.folder import FolderReader
from tfrecords_builder.readers.georgia import GeorgiaReader
from tfrecords_builder.readers.ptb import PtbReader
from tfrecords_builder.readers.ptbxl import PtbxlReader
from tfrecords_builder.readers.ribeiro import RibeiroReader

#: The readers of the five public releases (they need no options but the source folder).
RELEASE_READERS: dict[str, type[Reader]] = {
    reader.name: reader
    for reader in (PtbxlReader, Cpsc2018Reader, GeorgiaReader, PtbReader, RibeiroReader)
}
#: Every reader: the public releases, and ``folder`` for your own records with a labels.csv.
READERS: dict[str, type[Reader]] = {**RELEASE_READERS, FolderReader.name: FolderReader}


def get_reader(name: str) -> type[Reader]:
    """The reader class of a dataset name.

    Raises:
        ValueError: unknown dataset name (the message lists the known ones).
    """
    try:
        return READERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(READERS)}") from None


__all__ = ["READERS", "RELEASE_READERS", "RawSignal", "Reader", "RecordRef", "SourceError",
           "get_reader"]
