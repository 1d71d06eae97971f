"""One reader per dataset, behind the :class:`~tfrecords_builder.readers.base.Reader` interface."""

import re

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


#: A reader's name: the command's DATASET word and the output folder.
_READER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def register_reader(reader: type[Reader]) -> type[Reader]:
    """Makes a :class:`Reader` subclass a dataset of ``build_dataset`` and of
    ``python -m tfrecords_builder`` under its ``name``; usable as a class decorator.

    In a module of your own, loaded with ``python -m tfrecords_builder --import MODULE
    NAME --source DIR --out DIR``; ``ecg_tl_keras.testing.check_reader`` checks the contract.

    Raises:
        ValueError: not a Reader subclass, a ``name`` that is not a lower-case word, or a
            name already taken by another reader.

    Example:
        >>> from tfrecords_builder.readers.georgia import GeorgiaReader
        >>> @register_reader
        ... class MyGeorgia(GeorgiaReader):
        ...     name = "my-georgia"
        >>> get_reader("my-georgia") is MyGeorgia
        True
        >>> unregister_reader("my-georgia")
    """
    if not (isinstance(reader, type) and issubclass(reader, Reader)):
        raise ValueError(f"register_reader takes a Reader subclass, got {reader!r}")
    name = getattr(reader, "name", None)
    if not isinstance(name, str) or not _READER_NAME.match(name):
        raise ValueError(f"{reader.__name__}.name must be a lower-case word (letters, digits, "
                         f"'_', '-'), got {name!r}")
    taken = READERS.get(name, reader)
    if taken is not reader:
        raise ValueError(f"a reader named {name!r} is already registered "
                         f"({taken.__module__}.{taken.__qualname__})")
    READERS[name] = reader
    return reader


def unregister_reader(name: str) -> None:
    """Removes a reader added with :func:`register_reader` (the built-in ones stay).

    Raises:
        ValueError: a built-in reader's name.
    """
    if name in RELEASE_READERS or name == FolderReader.name:
        raise ValueError(f"{name!r} is a built-in reader")
    READERS.pop(name, None)


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
           "get_reader", "register_reader", "unregister_reader"]
