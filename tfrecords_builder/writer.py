"""Sharded TFRecord output: temporary shards, final names, checksums.

Shards are written as ``.<split>-<index>.tfrecord.tmp`` and only renamed to
``<split>-<index>-of-<count>.tfrecord`` once the whole build has succeeded, so
a finished name is always a complete file. Records arrive already framed
(:func:`tfrecords_builder.tfrecord.frame`); each shard's SHA-256 is computed as
it is written, so no shard is read back.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tfrecords_builder.layout import shard_name

#: Write buffer of a shard file: a record (48 kB at 100 Hz) is larger than the default 8 kB
#: buffer, so that buffer made one system call per record.
_BUFFER_BYTES = 1 << 20


class ShardedWriter:
    """Writes one split's framed records into shards of ``shard_size`` records."""

    def __init__(self, out_dir: Path, split: str, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.out_dir, self.split, self.shard_size = out_dir, split, shard_size
        self._paths: list[Path] = []
        self._counts: list[int] = []
        self._digests: list = []
        self._file = None

    def write(self, record: bytes) -> None:
        if self._file is None or self._counts[-1] == self.shard_size:
            self._open_next()
        self._file.write(record)
        self._digests[-1].update(record)
        self._counts[-1] += 1

    def _open_next(self) -> None:
        self.close()
        path = self.out_dir / f".{self.split}-{len(self._paths):05d}.tfrecord.tmp"
        self._paths.append(path)
        self._counts.append(0)
        self._digests.append(hashlib.sha256())
        self._file = open(path, "wb", buffering=_BUFFER_BYTES)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def finalize(self) -> list[dict]:
        """Rename the closed shards to their final names; return their manifest entries."""
        self.close()
        entries = []
        for index, (path, count, digest) in enumerate(zip(self._paths, self._counts, self._digests)):
            final = self.out_dir / shard_name(self.split, index, len(self._paths))
            os.replace(path, final)
            entries.append({"file": final.name, "records": count, "sha256": digest.hexdigest()})
        return entries
