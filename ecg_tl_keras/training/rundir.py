"""The run directory of one training run: its file names, its resume state and when it is done.

Layout (``ecg-tl-keras train --out RUN``)::

    RUN/config.json             every argument, versions, label names, record counts
    RUN/history.csv             one row per epoch
    RUN/best.keras              the selected epoch's model, label names inside
    RUN/predictions_test.npz    record_id, y_true, y_prob, labels
    RUN/metrics.json            test metrics of the selected weights; written last
    RUN/tensorboard/            TensorBoard logs
    RUN/backup/epoch-NNNNN/     resume state after epoch NNNNN (while training only)

A run is *finished* when ``metrics.json`` exists and no resume state is left: the
trainer writes ``metrics.json`` last and removes ``backup/`` only after it. This module
does not import TensorFlow (the study runner uses it to tell finished runs apart).

Example:
    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.is_finished(), run.metrics.name
    (False, 'metrics.json')
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

_SNAPSHOT = re.compile(r"epoch-(\d{5,})")


class RunDir:
    """One run directory: the paths of its files and the rules about them.

    Args:
        path: the run directory (need not exist yet).
    """

    CONFIG = "config.json"
    HISTORY = "history.csv"
    BEST = "best.keras"
    PREDICTIONS = "predictions_test.npz"
    METRICS = "metrics.json"
    TENSORBOARD = "tensorboard"
    BACKUP = "backup"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    config = property(lambda self: self.path / self.CONFIG, doc="``config.json``")
    history = property(lambda self: self.path / self.HISTORY, doc="``history.csv``")
    best = property(lambda self: self.path / self.BEST, doc="``best.keras``")
    predictions = property(lambda self: self.path / self.PREDICTIONS,
                           doc="``predictions_test.npz``")
    metrics = property(lambda self: self.path / self.METRICS, doc="``metrics.json``")
    tensorboard = property(lambda self: self.path / self.TENSORBOARD, doc="``tensorboard/``")
    backup = property(lambda self: self.path / self.BACKUP, doc="``backup/``")

    def snapshot(self, epoch: int) -> Path:
        """The folder of the resume state after ``epoch`` (1-based) epochs."""
        return self.backup / f"epoch-{epoch:05d}"

    def snapshots(self) -> list[tuple[int, Path]]:
        """The completed resume states, newest first: ``[(epoch, folder), ...]``.

        Folders still being written (``.partial`` names) are not listed.
        """
        if not self.backup.is_dir():
            return []
        found = [(int(match[1]), path) for path in self.backup.iterdir()
                 if path.is_dir() and (match := _SNAPSHOT.fullmatch(path.name))]
        return sorted(found, reverse=True)

    def has_resume_state(self) -> bool:
        """Whether an interrupted run left something to resume from (or to clean up)."""
        return self.backup.exists()

    def is_finished(self) -> bool:
        """Whether training finished: ``metrics.json`` written and no resume state left."""
        return self.metrics.is_file() and not self.has_resume_state()

    def finished_metrics(self) -> dict | None:
        """The contents of ``metrics.json`` of a finished run, else None."""
        if not self.is_finished():
            return None
        return json.loads(self.metrics.read_text())

    def stored_config(self) -> dict | None:
        """The ``config`` section of ``config.json`` (the run's arguments), or None."""
        if not self.config.is_file():
            return None
        return json.loads(self.config.read_text())["config"]

    def remove_resume_state(self) -> None:
        """Removes ``backup/``: renamed away first (atomic), so a kill midway leaves none."""
        removing = self.path / f".{self.BACKUP}.removing"
        if self.backup.exists():
            shutil.rmtree(removing, ignore_errors=True)
            os.replace(self.backup, removing)
        shutil.rmtree(removing, ignore_errors=True)

    def clear(self) -> None:
        """Removes every file of a run (for ``--overwrite``); other files are kept."""
        for name in (self.METRICS, self.CONFIG, self.HISTORY, self.BEST, self.PREDICTIONS):
            (self.path / name).unlink(missing_ok=True)
        self.remove_resume_state()
        shutil.rmtree(self.tensorboard, ignore_errors=True)


def write_json_atomic(path: str | os.PathLike, content) -> None:
    """Writes JSON atomically (:func:`write_text_atomic`).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "results" / "a.json"
        >>> write_json_atomic(target, {"a": 1})
        >>> json.loads(target.read_text())
        {'a': 1}
    """
    write_text_atomic(path, json.dumps(content, indent=2) + "\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes text to a temporary file in the same folder, then renames it into place.

    The temporary name is unique, so concurrent writers (study shards) never share one; it
    is removed when writing fails. Missing parent folders are created.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "preds.csv"
        >>> write_text_atomic(target, "record,status\\n")
        >>> target.read_text()
        'record,status\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are private (0600); this one gets the umask's permissions.
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(partial, "x", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
