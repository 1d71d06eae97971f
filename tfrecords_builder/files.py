"""Safe file writes and file checksums, defined once for both packages (no TensorFlow).

:func:`write_atomic` writes a file under a unique temporary name in the destination's
folder, flushes it to disk and renames it into place, so a reader sees the old file or
the new one, never half of one, and concurrent writers (study shards) never share a
temporary name; the temporary file is removed when writing fails. :func:`write_json_atomic`
and :func:`write_text_atomic` are that for JSON and text; :func:`sha256_file` is the
checksum of shards, backups and manifests.

Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "results" / "a.json"
    >>> write_json_atomic(target, {"a": 1})
    >>> json.loads(target.read_text())
    {'a': 1}
    >>> sha256_file(target)[:12]
    '5e36b6560513'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Callable

#: Bytes read at a time when checksumming a file.
READ_BLOCK_BYTES = 8 << 20


_TEMPORARY = re.compile(r"^\.(?P<final>.+)\.\d+-[0-9a-f]{8}\.tmp(\.[^.]*)?$")


def temporary_name(path: str | os.PathLike) -> Path:
    """A unique hidden name beside ``path`` for writing it before the rename.

    It keeps ``path``'s suffix last (``model.save`` wants ``.keras``).

    Example:
        >>> name = temporary_name("out/a.json").name
        >>> name.startswith(".a.json.") and name.endswith(".tmp.json"), temporary_of(name)
        (True, 'a.json')
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def temporary_of(name: str) -> str | None:
    """The final file name a :func:`temporary_name` stands for, or None for another name."""
    match = _TEMPORARY.match(name)
    return None if match is None else match["final"]


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Calls ``write(partial)`` to create a temporary file, then renames it to ``path``.

    For writers that take a path (``savefig``, ``model.save`` need a suffix: give one in
    ``path``'s name and they see the same suffix). Missing parent folders are created.

    Raises:
        Whatever ``write`` raises (the temporary file is removed first).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> write_atomic(target, lambda partial: partial.write_text("hi"))
        >>> target.read_text()
        'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_name(path)
    try:
        write(partial)
        _sync(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (see :func:`write_atomic`)."""
    write_atomic(path, lambda partial: _write_new(partial, "xb", data))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes UTF-8 ``text`` to ``path`` atomically, newlines as given (see :func:`write_atomic`).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "preds.csv"
        >>> write_text_atomic(target, "record,status\\n")
        >>> target.read_text()
        'record,status\\n'
    """
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, content) -> None:
    """Writes ``content`` as indented JSON (and a final newline) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(content, indent=2) + "\n")


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in blocks of :data:`READ_BLOCK_BYTES`."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(READ_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_new(path: Path, mode: str, data) -> None:
    # Not mkstemp: its files are private (0600); this one gets the umask's permissions.
    with open(path, mode) as stream:
        stream.write(data)


def _sync(path: Path) -> None:
    """Flushes a written file's content to disk before it is renamed into place."""
    with open(path, "rb+") as stream:
        os.fsync(stream.fileno())
