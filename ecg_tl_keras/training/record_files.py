"""The record files ``predict`` reads: given one by one, or every record found in a folder.

In a folder (searched recursively) a record is a WFDB header (``.hea``; the
segments a multi-segment header lists are parts of it, not records), an EDF file
(``.edf``), or a ``.mat`` file without a header (an original CPSC 2018 record).
Data files (``.dat``, a header's ``.mat``) and other files are not records.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("a.hea", "a.dat", "b.edf", "notes.txt"):
    ...     _ = (folder / name).write_text("")
    >>> [pathlib.Path(path).name for path in find_records([str(folder)])]
    ['a.hea', 'b.edf']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

HEADER, EDF, MAT = ".hea", ".edf", ".mat"


def find_records(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The records to predict: each path as given, or for a folder every record in it.

    Raises:
        ValueError: a folder holds no record.
    """
    records = []
    for path in paths:
        if Path(path).is_dir():
            found = records_in_folder(Path(path))
            if not found:
                raise ValueError(f"{path}: no records found in this folder (expected WFDB "
                                 f"{HEADER} headers, {EDF} files or CPSC 2018 {MAT} files)")
            records += found
        else:
            records.append(str(path))
    return records


def records_in_folder(folder: Path) -> list[str]:
    """Every record under ``folder`` (recursively), sorted by path."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    headers = [path for path in files if path.suffix.lower() == HEADER]
    stems = {path.with_suffix("").as_posix().lower() for path in headers}
    segments = {segment.as_posix().lower() for header in headers
                for segment in _segment_headers(header)}
    records = [path for path in files
               if (path.suffix.lower() == HEADER and path.as_posix().lower() not in segments)
               or path.suffix.lower() == EDF
               or (path.suffix.lower() == MAT
                   and path.with_suffix("").as_posix().lower() not in stems)]
    return [str(path) for path in records]


def _segment_headers(header: Path) -> list[Path]:
    """The segment headers a multi-segment WFDB header lists (none for a single segment)."""
    try:
        text = header.read_text(encoding="latin-1")
    except OSError:
        return []  # reading the record reports it
    lines = [line.split() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines or "/" not in lines[0][0]:
        return []
    return [header.with_name(fields[0] + HEADER) for fields in lines[1:] if fields[0] != "~"]
