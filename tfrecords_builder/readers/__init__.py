"""One reader per dataset, behind the :class:`~tfrecords_builder.readers.base.Reader` interface."""

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.readers.cpsc2018 import Cpsc2018Reader
from tfrecords_builder.readers.folder import FolderReader
from tfrecords_builder.readers.georgia import GeorgiaReader
from tfrecords_builder.readers.ptb import PtbReader
from tfrecords_builder.readers.ptbxl import PtbxlReader
from tfrecords_builder.readers.ribeiro import RibeiroReader
from tfrecords_builder.registry import WORD, Registry

#: The readers of the five public releases (they need no options but the source folder).
RELEASE_READERS: dict[str, type[Reader]] = {
    reader.name: reader
    for reader in (PtbxlReader, Cpsc2018Reader, GeorgiaReader, PtbReader, RibeiroReader)
}
#: Every reader: the public releases, and ``folder`` for your own records with a labels.csv.
READERS: Registry[type[Reader]] = Registry(
    "dataset", pattern=WORD,
    hint="(a reader registered in your own module needs `python -m tfrecords_builder --import "
         "MODULE`)")
for _reader in (*RELEASE_READERS.values(), FolderReader):
    READERS.register(_reader.name, _reader)
READERS.mark_builtin()


def register_reader(reader: type[Reader], *, override: bool = False) -> type[Reader]:
    """Makes a :class:`Reader` subclass a dataset of ``build_dataset`` and of
    ``python -m tfrecords_builder`` under its ``name``; usable as a class decorator.

    In a module of your own, loaded with ``python -m tfrecords_builder --import MODULE
    NAME --source DIR --out DIR``; ``ecg_tl_keras.testing.check_reader`` checks the contract.
    Registering the same class again is a no-op (a module imported twice).

    Raises:
        ValueError: not a Reader subclass, a ``name`` that is not a lower-case word, or a
            name already taken by another reader (unless ``override=True``; a built-in
            reader is never replaced).

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
    if not isinstance(name, str) or not WORD.match(name):
        raise ValueError(f"{reader.__name__}.name must be a lower-case word (letters, digits, "
                         f"'_', '-'), got {name!r}")
    if READERS.get(name) is reader:
        return reader
    return READERS.register(name, reader, override=override)


def unregister_reader(name: str) -> None:
    """Removes a reader added with :func:`register_reader` (the built-in ones stay).

    Raises:
        ValueError: a built-in reader's name.
    """
    if name in READERS:
        READERS.unregister(name)


def get_reader(name: str) -> type[Reader]:
    """The reader class of a dataset name.

    Raises:
        ValueError: unknown dataset name (the message lists the known ones).
    """
    return READERS.lookup(name)


__all__ = ["READERS", "RELEASE_READERS", "RawSignal", "Reader", "RecordRef", "SourceError",
           "get_reader", "register_reader", "unregister_reader"]
