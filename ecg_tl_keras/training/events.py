"""TensorBoard event files without TensorFlow: scalar summaries, framed as TFRecords.

An event file is a TFRecord file (:func:`tfrecords_builder.tfrecord.frame`) of
``Event`` protocol buffers: first one holding the file version, then one per step
holding a ``Summary`` of ``simple_value`` scalars, which TensorBoard shows under
*Scalars*. Used by ``TensorBoardScalars`` under Keras backends other than TensorFlow.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     writer = EventWriter(folder)
    ...     writer.scalars(1, {"epoch_loss": 0.5})
    ...     writer.close()
    ...     writer.path.name.startswith("events.out.tfevents.")
    True
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path
from typing import Mapping

from tfrecords_builder.tfrecord import _field, _varint, frame

_WALL_TIME = 1 << 3 | 1  # Event.wall_time: double
_STEP = 2 << 3  # Event.step: int64 varint
_FILE_VERSION = 3  # Event.file_version: string
_SUMMARY = 5  # Event.summary: Summary
_SUMMARY_VALUE = 1  # Summary.value: repeated Summary.Value
_TAG = 1  # Summary.Value.tag: string
_SIMPLE_VALUE = 2 << 3 | 5  # Summary.Value.simple_value: float
FILE_VERSION = b"brain.Event:2"


def encode_event(step: int, *, scalars: Mapping[str, float] | None = None,
                 file_version: bytes | None = None, wall_time: float | None = None) -> bytes:
    """One serialized ``Event``: scalars at ``step``, or the file-version header."""
    event = bytes([_WALL_TIME]) + struct.pack("<d", time.time() if wall_time is None
                                              else wall_time)
    event += bytes([_STEP]) + _varint(step)
    if file_version is not None:
        event += _field(_FILE_VERSION, file_version)
    if scalars:
        values = b"".join(
            _field(_SUMMARY_VALUE, _field(_TAG, tag.encode()) + bytes([_SIMPLE_VALUE])
                   + struct.pack("<f", float(value)))
            for tag, value in scalars.items())
        event += _field(_SUMMARY, values)
    return event


class EventWriter:
    """Appends scalar events to a new event file in ``log_dir``."""

    def __init__(self, log_dir: str | os.PathLike):
        folder = Path(log_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / (f"events.out.tfevents.{int(time.time())}."
                              f"{socket.gethostname()}.{os.getpid()}.v2")
        self._file = open(self.path, "ab")
        self._file.write(frame(encode_event(0, file_version=FILE_VERSION)))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Writes one event holding ``values`` (tag -> number) at ``step`` and flushes it."""
        self._file.write(frame(encode_event(step, scalars=values)))
        self._file.flush()

    def close(self) -> None:
        self._file.close()
