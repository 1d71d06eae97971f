"""A quiet console: TensorFlow's own C++ log lines are hidden unless the user asks for them.

TensorFlow writes notices straight to the process's standard error from C++ (oneDNN
notices, "Could not find cuda drivers", ``cuInit`` errors, "NodeDef mentions attribute
...", absl's "All log messages before absl::InitializeLog() ..."). Some of them ignore
``TF_CPP_MIN_LOG_LEVEL``, so :func:`quiet_tensorflow` does two things before TensorFlow is
first imported: it sets the logging environment variables (unless the user set them), and,
for a command's own process, it passes file descriptor 2 through a filter that drops
lines in the C++ log format and forwards everything else unchanged (Python tracebacks,
error messages, progress bars).

Example:
    >>> is_native_log_line(b"I0000 00:00:1796100745.953497   24403 cudart_stub.cc:31] "
    ...                    b"Could not find cuda drivers on your machine, GPU will not be used.")
    True
    >>> is_native_log_line(b"error: ptbxl_database.csv not found")
    False
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

#: Environment variables read by TensorFlow, XLA, gRPC and absl when they start.
QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",    # TensorFlow's C++ logging: errors and below hidden
    "TF_CPP_MAX_VLOG_LEVEL": "-1",  # no verbose logging
    "GRPC_VERBOSITY": "ERROR",      # multi-worker training's gRPC
    "ABSL_MIN_LOG_LEVEL": "3",
}
#: A C++ log line: absl/glog prefix ``I0000 00:00:1796100745.953497   24403 file.cc:31] ``,
#: TensorFlow's own ``2026-12-01 04:58:07.123456: I tensorflow/core/util/port.cc:153] ``,
#: or absl's notice about messages logged before its initialisation.
_NATIVE_LOG = re.compile(
    rb"^\s*(?:[IWEF]\d{4} [\d:.]+\s+\d+\s+[^\s\]]+:\d+\]"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .* rebuild TensorFlow)")
#: The start of a line that may still become a C++ log line once complete.
_MAYBE_NATIVE = re.compile(rb"^\s*(?:[IWEF]\d{0,4}(?: |$)|\d[\d :.-]*$|WARNING|To enable)")
_PYTHON_LOGGERS = ("tensorflow", "absl", "h5py")
_filter: "_Fd2Filter | None" = None


def is_native_log_line(line: bytes) -> bool:
    """Whether a line of standard error is a TensorFlow/XLA/absl C++ log line."""
    return bool(_NATIVE_LOG.match(line))


def quiet_tensorflow(*, filter_stderr: bool = False) -> None:
    """Hide TensorFlow's own log lines; call before TensorFlow is first imported.

    Args:
        filter_stderr: also pass this process's file descriptor 2 through the line filter
            (for a command's own process; not inside a test runner, which owns the
            descriptors). It is undone at exit, after the last line has been forwarded.
    """
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in _PYTHON_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    global _filter
    if filter_stderr and _filter is None:
        try:
            _filter = _Fd2Filter()
        except OSError:  # pragma: no cover - no descriptor 2 (e.g. a detached service)
            _filter = None


class _Fd2Filter:
    """Descriptor 2 redirected into a pipe; a thread forwards the lines that are not C++ logs."""

    def __init__(self):
        sys.stderr.flush()
        self._target = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._forward, args=(read_end,), daemon=True,
                                        name="stderr-filter")
        self._thread.start()
        atexit.register(self.close)

    def close(self) -> None:
        """Point descriptor 2 back at the terminal and forward what is still in the pipe."""
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._target, 2)
        self._thread.join(timeout=2.0)

    def _forward(self, read_end: int) -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                pending = self._write_lines(pending + chunk)
        if pending and not is_native_log_line(pending):
            os.write(self._target, pending)

    def _write_lines(self, data: bytes) -> bytes:
        """Forward every finished line (ended by a newline or a carriage return); keep the rest
        only while it could still become a C++ log line."""
        kept = []
        for line in re.split(rb"(?<=[\r\n])", data):
            if not line:
                continue
            if line.endswith((b"\n", b"\r")):
                if not is_native_log_line(line):
                    kept.append(line)
            elif _MAYBE_NATIVE.match(line):
                if kept:
                    os.write(self._target, b"".join(kept))
                return line
            else:
                kept.append(line)
        if kept:
            os.write(self._target, b"".join(kept))
        return b""
