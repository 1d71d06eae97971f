"""``tf.train.Example`` encoding and TFRecord framing without importing TensorFlow.

The builder's worker processes encode and frame each example themselves, so the
build never imports TensorFlow (about 3.5 s per process here) and the main
process only appends bytes to shard files. The encoding is the protobuf wire
format of ``tf.train.Example`` for this project's fixed schema; the framing is
TFRecord's (length, masked CRC-32C of the length, data, masked CRC-32C of the
data), with the CRC from ``google-crc32c``. Tests check both against TensorFlow.

Example:
>>> import numpy as np
>>> data = serialize_example(np.zeros((1000, 12), np.float32), np.array([1, 0]), "8", "p1", 3)
>>> len(frame(data)) == len(data) + 16
True
"""

from __future__ import annotations

import struct

import google_crc32c
import numpy as np

from tfrecords_builder import schema

_LENGTH_DELIMITED = 2
_CRC_MASK_DELTA = 0xA282EAD8


_ONE_BYTE = tuple(bytes([value]) for value in range(0x80))


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:  # labels, folds, field keys: most varints are one byte
        return _ONE_BYTE[value]
    value &= 0xFFFFFFFFFFFFFFFF  # int64 two's complement, as protobuf encodes negatives
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _field_parts(number: int, parts: list) -> list:
    """:func:`_field` over the concatenation of ``parts``, as parts: the payload (a signal's
    48 kB) is copied once, when the example is joined, not once per level of nesting."""
    return [_varint(number << 3 | _LENGTH_DELIMITED) + _varint(sum(map(len, parts))), *parts]


def _bytes_feature(values: list[bytes]) -> list:
    return _field_parts(1, [part for value in values for part in _field_parts(1, [value])])


def _int64_feature(values) -> list:
    packed = b"".join(_varint(int(value)) for value in values)
    return [_field(3, _field(1, packed))]  # Feature.int64_list, packed Int64List.value


def _example_parts(features: dict[str, list]) -> list:
    entries = []
    for name, feature in sorted(features.items()):
        entries += _field_parts(1, [_field(1, name.encode()), *_field_parts(2, feature)])
    return _field_parts(1, entries)  # Example.features -> Features.feature map entries


def encode_example(features: dict[str, bytes]) -> bytes:
    """An ``Example`` from encoded ``Feature`` messages, keyed by name (in key order)."""
    return b"".join(_example_parts({name: [feature] for name, feature in features.items()}))


def serialize_example(signal: np.ndarray, labels, record_id: str, patient_id: str,
                      fold: int) -> bytes:
    """This project's example (:mod:`tfrecords_builder.schema`): signal, labels, ids and fold."""
    values = {
        schema.SIGNAL.name: [np.ascontiguousarray(signal, dtype=schema.SIGNAL_DTYPE).tobytes()],
        schema.LABELS.name: labels,
        schema.RECORD_ID.name: [record_id.encode()],
        schema.PATIENT_ID.name: [patient_id.encode()],
        schema.FOLD.name: [fold],
    }
    encoders = {"bytes": _bytes_feature, "int64": _int64_feature}
    return b"".join(_example_parts({feature.name: encoders[feature.kind](values[feature.name])
                                    for feature in schema.FEATURES}))


def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord: the bytes ``tf.io.TFRecordWriter.write(data)`` appends to a file."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, struct.pack("<I", masked_crc32c(length)), data,
                     struct.pack("<I", masked_crc32c(data))))
