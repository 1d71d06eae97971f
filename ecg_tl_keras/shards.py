"""Reading a built dataset's shards without TensorFlow: framing, CRCs, examples, filters.

The shards are the builder's own format (:mod:`tfrecords_builder.tfrecord`): records
framed as TFRecords (length, masked CRC-32C of the length, data, masked CRC-32C of the
data), each a ``tf.train.Example`` of :mod:`tfrecords_builder.schema`'s fixed features.
:func:`read_records` checks both CRCs of every record and refuses a damaged shard with a
``ValueError`` naming the file, the record and its byte offset; :func:`parse_example`
decodes the protobuf wire format of the fields the builder writes. This is the input of
training under the JAX backend (:mod:`ecg_tl_keras.training.pydata`);
:mod:`ecg_tl_keras.datasets` reads the same files with ``tf.data``.

Example:
    >>> import numpy as np
    >>> from tfrecords_builder.tfrecord import serialize_example
    >>> data = serialize_example(np.ones((4, 2), np.float32), [1, 0], "r1", "p1", 3)
    >>> example = parse_example(data)
    >>> example["record_id"], example["fold"], example["labels"]
    ([b'r1'], [3], [1, 0])
"""

from __future__ import annotations

import dataclasses
import os
import struct
from typing import Iterable, Iterator

import numpy as np

from ecg_tl_keras.built import BUILD_HINT, READ_BUFFER_BYTES, BuiltDataset, shard_paths
from tfrecords_builder import schema
from tfrecords_builder.tfrecord import masked_crc32c
from tfrecords_builder.split import N_FOLDS

_HEADER = struct.Struct("<QI")  # length, masked CRC-32C of the length's 8 bytes
_FOOTER = struct.Struct("<I")  # masked CRC-32C of the data
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
# Field numbers of tf.train.Example's messages (example.proto, feature.proto).
_EXAMPLE_FEATURES = _FEATURES_ENTRY = _ENTRY_KEY = _LIST_VALUE = 1
_ENTRY_VALUE = 2
_FEATURE_KINDS = {1: "bytes", 2: "float", 3: "int64"}


class MalformedExample(ValueError):
    """Bytes that are not a ``tf.train.Example`` of this project's schema."""


def _damaged(path, index: int, offset: int, problem: str) -> ValueError:
    return ValueError(f"shard {path} is damaged: record {index} (byte {offset}) {problem}; "
                      f"rebuild the dataset with {BUILD_HINT} --overwrite")


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
    """The data of each record of one shard, in file order, each checked against its CRCs.

    Raises:
        ValueError: a record's length or data fails its CRC-32C check, or the file ends
            inside a record (the message names the file, record and byte offset).

    Example:
        >>> records = list(read_records("OUT/ptbxl/test-00000-of-00001.tfrecord"))  # doctest: +SKIP
    """
    with open(path, "rb", buffering=READ_BUFFER_BYTES) as stream:
        index = offset = 0
        while header := stream.read(_HEADER.size):
            if len(header) < _HEADER.size:
                raise _damaged(path, index, offset, "is cut short (truncated file)")
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise _damaged(path, index, offset, "fails its length's CRC-32C check")
            data, footer = stream.read(length), stream.read(_FOOTER.size)
            if len(data) < length or len(footer) < _FOOTER.size:
                raise _damaged(path, index, offset, "is cut short (truncated file)")
            if masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
                raise _damaged(path, index, offset, "fails its data's CRC-32C check")
            yield data
            index, offset = index + 1, offset + _HEADER.size + length + _FOOTER.size


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise MalformedExample("a varint runs past its message")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7


def _fields(buffer: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(number, wire type, start, end)`` of each field; a varint's value is its ``start``."""
    position = start
    while position < end:
        key, position = _varint(buffer, position)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, position = _varint(buffer, position)
            yield number, wire, value, position
            continue
        if wire == _LENGTH_DELIMITED:
            length, position = _varint(buffer, position)
        elif wire in (_FIXED64, _FIXED32):
            length = 8 if wire == _FIXED64 else 4
        else:
            raise MalformedExample(f"field {number} has the unsupported wire type {wire}")
        if position + length > end:
            raise MalformedExample(f"field {number} runs past its message")
        yield number, wire, position, position + length
        position += length


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _feature_values(buffer: bytes, start: int, end: int) -> list:
    """The values of one ``Feature`` message (bytes or int64 lists; floats as their bytes)."""
    values: list = []
    for kind_number, wire, list_start, list_end in _fields(buffer, start, end):
        kind = _FEATURE_KINDS.get(kind_number)
        if kind is None or wire != _LENGTH_DELIMITED:
            raise MalformedExample(f"a feature has the unknown field {kind_number}")
        for number, value_wire, value_start, value_end in _fields(buffer, list_start, list_end):
            if number != _LIST_VALUE:
                continue
            if kind == "int64" and value_wire == _VARINT:  # an unpacked value
                values.append(_int64(value_start))
            elif kind == "int64":  # packed values
                position = value_start
                while position < value_end:
                    value, position = _varint(buffer, position)
                    values.append(_int64(value))
            else:
                values.append(buffer[value_start:value_end])
    return values


def parse_example(data: bytes) -> dict[str, list]:
    """Every feature of a serialized ``tf.train.Example``: name -> list of values.

    ``bytes`` features give ``bytes`` values, ``int64`` features Python ints.

    Raises:
        MalformedExample: ``data`` is not a well-formed ``Example``.
    """
    features: dict[str, list] = {}
    for number, _, start, end in _fields(data, 0, len(data)):
        if number != _EXAMPLE_FEATURES:
            continue
        for entry_number, _, entry_start, entry_end in _fields(data, start, end):
            if entry_number != _FEATURES_ENTRY:
                continue
            name, values = None, []
            for part, _, part_start, part_end in _fields(data, entry_start, entry_end):
                if part == _ENTRY_KEY:
                    name = data[part_start:part_end].decode()
                elif part == _ENTRY_VALUE:
                    values = _feature_values(data, part_start, part_end)
            if name is None:
                raise MalformedExample("a feature has no name")
            features[name] = values
    return features


@dataclasses.dataclass(frozen=True)
class Record:
    """One decoded example of a built dataset.

    Attributes:
        signal: float32 ``(samples, leads)`` (None when read without signals).
        labels: float32 multi-hot ``(n_labels,)``.
        record_id, patient_id: the example's ids.
        fold: its patient-wise fold (0-9).
    """

    signal: np.ndarray | None
    labels: np.ndarray
    record_id: str
    patient_id: str
    fold: int


def decode_record(data: bytes, shape: tuple[int, int], n_labels: int, *,
                  with_signal: bool = True) -> Record:
    """A :class:`Record` from a serialized example, its features checked against the schema.

    Raises:
        MalformedExample: a feature is missing, of another kind or of the wrong size.
    """
    features = parse_example(data)
    for feature in schema.FEATURES:
        expected = n_labels if feature.per_label else 1
        values = features.get(feature.name)
        if values is None:
            raise MalformedExample(f"it has no {feature.name!r} feature")
        if len(values) != expected or not all(
                isinstance(value, int if feature.kind == "int64" else bytes) for value in values):
            raise MalformedExample(f"its {feature.name!r} feature is not {expected} "
                                   f"{feature.kind} value(s)")
    signal = None
    if with_signal:
        raw = features[schema.SIGNAL.name][0]
        if len(raw) != shape[0] * shape[1] * 4:
            raise MalformedExample(f"its signal holds {len(raw)} bytes, the manifest's shape "
                                   f"{shape} needs {shape[0] * shape[1] * 4}")
        signal = np.frombuffer(raw, schema.SIGNAL_DTYPE).reshape(shape).astype(np.float32)
    return Record(signal, np.asarray(features[schema.LABELS.name], np.float32),
                  features[schema.RECORD_ID.name][0].decode(),
                  features[schema.PATIENT_ID.name][0].decode(),
                  int(features[schema.FOLD.name][0]))


def check_folds(name: str, folds) -> list[int] | None:
    """``folds`` as a list of ints in 0-9 (None stays None).

    Raises:
        ValueError: an empty list or a fold outside 0-9.

    Example:
        >>> check_folds("folds", (1, 2))
        [1, 2]
    """
    if folds is None:
        return None
    folds = [int(fold) for fold in folds]
    if not folds or any(not 0 <= fold < N_FOLDS for fold in folds):
        raise ValueError(f"{name} must be a non-empty list of folds in 0-9, got {folds}")
    return folds


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a function of (seed, epoch) only.

    Example:
        >>> epoch_seed(0, 3) != epoch_seed(0, 4)
        True
    """
    return seed * 1_000_003 + epoch


@dataclasses.dataclass(frozen=True)
class RecordFilter:
    """Which records of a split to keep (the filters of ``datasets.load_records``).

    Example:
        >>> keep = RecordFilter.of(exclude_folds=[8])
        >>> keep(Record(None, np.zeros(1), "r", "p", 8)), keep(Record(None, np.zeros(1), "r", "p", 1))
        (False, True)
    """

    folds: frozenset | None = None
    exclude_folds: frozenset | None = None
    record_ids: frozenset | None = None
    patient_ids: frozenset | None = None

    @classmethod
    def of(cls, folds=None, exclude_folds=None, record_ids=None,
           patient_ids=None) -> "RecordFilter":
        """A filter from ``load_records``' keyword arguments (checked)."""
        folds, exclude_folds = check_folds("folds", folds), check_folds("exclude_folds",
                                                                         exclude_folds)

        def as_set(values):
            return None if values is None else frozenset(values)

        return cls(as_set(folds), as_set(exclude_folds), as_set(record_ids), as_set(patient_ids))

    def __call__(self, record: Record) -> bool:
        return ((self.folds is None or record.fold in self.folds)
                and (self.exclude_folds is None or record.fold not in self.exclude_folds)
                and (self.record_ids is None or record.record_id in self.record_ids)
                and (self.patient_ids is None or record.patient_id in self.patient_ids))


def iter_records(data: "str | os.PathLike | BuiltDataset", split: str, *,
                 keep: RecordFilter | None = None, with_signal: bool = True,
                 shard_order: Iterable[int] | None = None) -> Iterator[Record]:
    """The split's records (those ``keep`` accepts), shard by shard, each CRC-checked.

    Args:
        data: a built dataset directory or :class:`BuiltDataset`.
        split: ``"train"`` or ``"test"``.
        keep: which records to yield (None: every one).
        with_signal: decode the signals (False: metadata only).
        shard_order: the order to read the shards in (indices; None: manifest order).

    Raises:
        ValueError: a damaged shard or malformed example (file and record named).
        FileNotFoundError: a shard is missing.
    """
    data = BuiltDataset.open(data)
    paths = shard_paths(data, split)
    shape, n_labels = data.input_shape, len(data.labels)
    for shard in (range(len(paths)) if shard_order is None else shard_order):
        for index, serialized in enumerate(read_records(paths[shard])):
            try:
                record = decode_record(serialized, shape, n_labels, with_signal=with_signal)
            except MalformedExample as error:
                raise ValueError(f"shard {paths[shard]} record {index} is not an example of "
                                 f"{data.path}'s schema: {error}") from None
            if keep is None or keep(record):
                yield record


def load_index(data: "str | os.PathLike | BuiltDataset", split: str) -> dict[str, np.ndarray]:
    """The per-record metadata of a split (no signals), in file order.

    The same arrays as ``ecg_tl_keras.datasets.load_index``, without TensorFlow.

    Returns:
        ``{"record_id": str array, "patient_id": str array, "fold": int array,
        "labels": int array (records, labels)}``.
    """
    data = BuiltDataset.open(data)
    records = list(iter_records(data, split, with_signal=False))
    return {
        schema.RECORD_ID.name: np.array([r.record_id for r in records], dtype=str),
        schema.PATIENT_ID.name: np.array([r.patient_id for r in records], dtype=str),
        schema.FOLD.name: np.array([r.fold for r in records], dtype=np.int64),
        schema.LABELS.name: np.array([r.labels for r in records], dtype=np.int64).reshape(
            len(records), len(data.labels)),
    }
