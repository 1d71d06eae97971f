"""Names of the files a build writes, and clean-up of an unfinished build (no TensorFlow here)."""

from __future__ import annotations

import re
from pathlib import Path

from tfrecords_builder.files import temporary_of

MANIFEST = "manifest.json"
SHARD_PATTERN = re.compile(r"^(train|test)-\d{5}-of-\d{5}\.tfrecord$")
TMP_PATTERN = re.compile(r"^\.(train|test)-\d{5}\.tfrecord\.tmp$")


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def is_partial_output(name: str) -> bool:
    """Whether a file name is a shard or a temporary file a build writes (an older build's
    ``.manifest.json.tmp`` too)."""
    return (bool(SHARD_PATTERN.match(name) or TMP_PATTERN.match(name))
            or name == f".{MANIFEST}.tmp" or temporary_of(name) == MANIFEST)


def is_build_output(name: str) -> bool:
    """Whether a file name is one a build writes (its shards, manifest and temporary files).

    Example:
        >>> [is_build_output(name) for name in ("train-00000-of-00002.tfrecord",
        ...                                     "manifest.json", "ptbxl_database.csv")]
        [True, True, False]
    """
    return name == MANIFEST or is_partial_output(name)


def remove_partial_output(out_dir: Path) -> int:
    """Delete shards and temporary files of an unfinished build; return how many."""
    removed = 0
    for path in out_dir.iterdir():
        if is_partial_output(path.name):
            path.unlink()
            removed += 1
    return removed
