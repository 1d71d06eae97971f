"""Sharded TFRecord output: examples, temporary shards, final names, checksums.

Shards are written as ``.<split>-<index>.tfrecord.tmp`` and only renamed to
``<split>-<index>-of-<count>.tfrecord`` once the whole build has succeeded, so
a finished name is always a complete file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrecords_builder.layout import sha256_of, shard_name

def serialize_example(signal: np.ndarray, labels: np.ndarray, record_id: str,
                      patient_id: str, fold: int) -> bytes:
    """One ``tf.train.Example``: signal (float32 bytes, row-major), labels, ids and fold."""
    feature = {
        "signal": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[np.ascontiguousarray(signal, dtype="<f4").tobytes()])),
        "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=labels.tolist())),
        "record_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[record_id.encode()])),
        "patient_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[patient_id.encode()])),
        "fold": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(fold)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class ShardedWriter:
    """Writes one split's serialized examples into shards of ``shard_size`` records."""

    def __init__(self, out_dir: Path, split: str, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.out_dir, self.split, self.shard_size = out_dir, split, shard_size
        self._paths: list[Path] = []
        self._counts: list[int] = []
        self._writer = None

    def write(self, example: bytes) -> None:
        if self._writer is None or self._counts[-1] == self.shard_size:
            self._open_next()
        self._writer.write(example)
        self._counts[-1] += 1

    def _open_next(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self.out_dir / f".{self.split}-{len(self._paths):05d}.tfrecord.tmp"
        self._paths.append(path)
        self._counts.append(0)
        self._writer = tf.io.TFRecordWriter(str(path))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finalize(self) -> list[dict]:
        """Rename the closed shards to their final names; return their manifest entries."""
        self.close()
        entries = []
        for index, (path, count) in enumerate(zip(self._paths, self._counts)):
            final = self.out_dir / shard_name(self.split, index, len(self._paths))
            os.replace(path, final)
            entries.append({"file": final.name, "records": count, "sha256": sha256_of(final)})
        return entries
