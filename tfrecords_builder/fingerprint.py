"""The state of a build's inputs, so that a finished build is reused only while they are unchanged.

A fingerprint is the sha256 of every input file's path, size and modification time
(not its contents: reading a whole release would cost as much as building it). Editing a
``labels.csv``, replacing a record or adding one changes it; so does touching a file,
which costs a rebuild but never a stale one.

Example:
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "labels.csv").write_text("record,labels\\nr1,AF\\n")
>>> before = source_fingerprint([folder])
>>> _ = (folder / "labels.csv").write_text("record,labels\\nr1,PVC\\n")
>>> source_fingerprint([folder]) == before
False
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator


def source_fingerprint(paths: Iterable[str | os.PathLike],
                       skip: Callable[[str], bool] = lambda name: False) -> str:
    """sha256 of the path, size and modification time of every file in ``paths``.

    Args:
        paths: files and folders (folders are walked, symbolic links followed, each real
            folder once, so a link loop ends).
        skip: file names left out (a build's own output, wherever it lies: builds may be
            written inside their source folder).

    Returns:
        The hex digest; the same for the same files in the same state.
    """
    digest = hashlib.sha256()
    for index, path in enumerate(paths):
        for relative, state in _file_states(Path(path), skip):
            digest.update(f"{index}\0{relative}\0{state}\n".encode())
    return digest.hexdigest()


def _file_states(root: Path, skip: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    """``(path relative to root, "size mtime_ns")`` of each file below ``root``, in sorted order."""
    if not root.is_dir():
        yield ".", _state(str(root))
        return
    seen = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders.sort()
        relative = os.path.relpath(folder, root)
        for name in sorted(files):
            if not skip(name):
                yield os.path.join(relative, name), _state(os.path.join(folder, name))


def _state(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError as error:  # a dangling link, a link loop, a file that went away
        return f"unreadable {error.errno}"
    return f"{stat.st_size} {stat.st_mtime_ns}"
