"""A built dataset's manifest, loaded and checked once (no TensorFlow here).

:class:`BuiltDataset` is what the trainer, the study's runner and ``advise`` pass on;
:mod:`ecg_tl_keras.datasets` reads its shards with ``tf.data``.

Example:
    >>> input_shape({"samples": 1000, "leads": ["I"] * 12})
    (1000, 12)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

from tfrecords_builder.files import READ_BLOCK_BYTES, sha256_file
from tfrecords_builder.layout import MANIFEST
from tfrecords_builder.manifest import BUILD_HINT, Manifest

#: Bytes read at a time from a shard (``tf.data`` reads in datasets; checksums in blocks of
#: the same size).
READ_BUFFER_BYTES = READ_BLOCK_BYTES


def load_manifest(data_dir: str | os.PathLike) -> Manifest:
    """Reads and checks ``<data_dir>/manifest.json`` (:meth:`Manifest.read`).

    Args:
        data_dir: a dataset directory written by the builder (e.g. ``OUT/ptbxl``).

    Returns:
        The :class:`~tfrecords_builder.manifest.Manifest` (also a read-only mapping of
        its keys).

    Raises:
        FileNotFoundError: the manifest is missing (the message says how to build it).
        ValueError: the manifest is not valid JSON, lacks required keys or is of a newer
            format.

    Example:
        >>> load_manifest("OUT/ptbxl").labels  # doctest: +SKIP
        ['NORM', 'MI', 'STTC', 'CD', 'HYP']
    """
    return Manifest.read(data_dir)


def input_shape(manifest: Mapping) -> tuple[int, int]:
    """``(samples, leads)`` of the dataset's signals (a :class:`Manifest` or its keys).

    Example:
        >>> input_shape({"samples": 1000, "leads": ["I"] * 12})
        (1000, 12)
    """
    return int(manifest["samples"]), len(manifest["leads"])


@dataclasses.dataclass(frozen=True)
class BuiltDataset:
    """A built dataset directory whose manifest was loaded and checked once.

    Every function here and in :mod:`ecg_tl_keras.datasets` takes one in place of a
    directory, so a run reads and checks the manifest once and passes the result on.

    Attributes:
        path: the dataset directory (``OUT/ptbxl``).
        manifest: the checked ``manifest.json``, a
            :class:`~tfrecords_builder.manifest.Manifest`.

    Example:
        >>> data = BuiltDataset.open("OUT/ptbxl")  # doctest: +SKIP
        >>> data.labels, data.input_shape  # doctest: +SKIP
        (['NORM', 'MI', 'STTC', 'CD', 'HYP'], (1000, 12))
    """

    path: Path
    manifest: Manifest

    @classmethod
    def open(cls, data_dir: "str | os.PathLike | BuiltDataset") -> "BuiltDataset":
        """The dataset at ``data_dir`` (returned as is when it already is one).

        Raises:
            FileNotFoundError: no manifest. ValueError: a malformed manifest.
        """
        if isinstance(data_dir, BuiltDataset):
            return data_dir
        return cls(Path(data_dir), load_manifest(data_dir))

    def __str__(self) -> str:
        return str(self.path)

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def input_shape(self) -> tuple[int, int]:
        return self.manifest.input_shape

    def records(self, split: str) -> int:
        """The number of records of a split.

        Raises:
            ValueError: the manifest gives no record count for ``split``.
        """
        try:
            return self.manifest.records(split)
        except ValueError as error:
            raise ValueError(f"{self.path / MANIFEST}: {error}") from None

    def verify(self, splits: Sequence[str], log: Callable[[str], None] | None = None) -> None:
        """Checks every shard of ``splits`` against the manifest's sha256.

        Raises:
            FileNotFoundError: a shard is missing.
            ValueError: a shard's content differs from the manifest's sha256 (damaged).
        """
        for split in splits:
            shard_paths(self, split)  # an unknown split or a missing shard: its own error
            for entry in self.manifest.splits[split]["shards"]:
                path, expected = self.path / entry["file"], entry.get("sha256")
                if expected is not None and sha256_file(path) != expected:
                    raise ValueError(
                        f"shard {path} is damaged: its sha256 differs from {self.path / MANIFEST}; "
                        f"rebuild the dataset with {BUILD_HINT} --overwrite (or skip this check "
                        f"with --no-verify)"
                    )
        if log is not None:
            log(f"shards of {self.path} ({', '.join(splits)}) match their sha256")


def shard_paths(data_dir: "str | os.PathLike | BuiltDataset", split: str) -> list[str]:
    """Paths of a split's shards, in manifest order, all checked to exist.

    Raises:
        ValueError: ``split`` is not in the manifest.
        FileNotFoundError: a shard named by the manifest is missing.

    Example:
        >>> shard_paths("OUT/ptbxl", "test")  # doctest: +SKIP
        ['OUT/ptbxl/test-00000-of-00001.tfrecord']
    """
    data = BuiltDataset.open(data_dir)
    data_dir, splits = data.path, data.manifest.splits
    if split not in splits:
        raise ValueError(
            f"unknown split {split!r} in {Path(data_dir) / MANIFEST}; "
            f"available: {', '.join(splits)}"
        )
    paths = [Path(data_dir) / shard["file"] for shard in splits[split]["shards"]]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(
                f"shard {path} listed in {Path(data_dir) / MANIFEST} is missing: "
                f"rebuild the dataset with {BUILD_HINT} --overwrite"
            )
    if not paths:
        raise ValueError(f"split {split!r} of {data_dir} has no shards")
    return [str(path) for path in paths]
