"""Names of the files a build writes, and clean-up of an unfinished build (no TensorFlow here)."""

from __future__ import annotations

import re
from pathlib import Path

MANIFEST = "manifest.json"
SHARD_PATTERN = re.compile(r"^(train|test)-\d{5}-of-\d{5}\.tfrecord$")
TMP_PATTERN = re.compile(r"^\.(train|test)-\d{5}\.tfrecord\.tmp$")


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def remove_partial_output(out_dir: Path) -> int:
    """Delete shards and temporary files of an unfinished build; return how many."""
    removed = 0
    for path in out_dir.iterdir():
        if SHARD_PATTERN.match(path.name) or TMP_PATTERN.match(path.name) or path.name == f".{MANIFEST}.tmp":
            path.unlink()
            removed += 1
    return removed
