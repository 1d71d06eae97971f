"""A quiet console: TensorFlow's C++ log lines hidden from a command's process, the rest kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ecg_tl_keras.console import is_native_log_line
from ecg_tl_keras.study.progress import CellProgress
from conftest import PROJECT_ROOT

NATIVE = [
    b"I0000 00:00:1796100745.953497   24403 cudart_stub.cc:31] Could not find cuda drivers "
    b"on your machine, GPU will not be used.",
    b"E1201 04:58:07.123456    812 external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152]"
    b" failed call to cuInit: UNKNOWN ERROR (303)",
    b"W0000 00:00:1796101214.001723   30630 op_level_cost_estimator.cc:699] Error in "
    b"PredictCost() for the op: op: \"CropAndResize\"",
    b"2026-12-01 04:58:07.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations "
    b"are on.",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
]
KEPT = [b"error: ptbxl_database.csv not found", b"Epoch 1/5", b"I like ECGs",
        b"Traceback (most recent call last):", b"WARNING: your plan has 1 seed"]


@pytest.mark.parametrize("line", NATIVE)
def test_native_log_lines_are_recognised(line):
    assert is_native_log_line(line)


@pytest.mark.parametrize("line", KEPT)
def test_other_lines_are_not(line):
    assert not is_native_log_line(line)


FILTERED_PROCESS = """
import os, sys
from ecg_tl_keras.console import quiet_tensorflow
quiet_tensorflow(filter_stderr=True)
for line in {native!r}:
    os.write(2, line + b"\\n")
print("kept on stderr", file=sys.stderr)
sys.stderr.write("progress 50%\\r")
sys.stderr.flush()
os.write(2, b"progress 100%\\n")
print("kept on stdout")
raise SystemExit("last words")
"""


def test_a_filtered_process_keeps_everything_but_native_log_lines():
    code = FILTERED_PROCESS.format(native=NATIVE)
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stdout == b"kept on stdout\n"
    assert result.stderr == b"kept on stderr\nprogress 50%\rprogress 100%\nlast words\n"


@pytest.mark.slow
def test_importing_tensorflow_in_a_command_prints_nothing():
    code = ("from ecg_tl_keras.console import quiet_tensorflow\n"
            "quiet_tensorflow(filter_stderr=True)\n"
            "import tensorflow as tf\n"
            "print(int(tf.reduce_sum(tf.ones([3]))))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            timeout=300)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"3\n", b"")


def test_cell_progress_estimates_from_the_work_trained_so_far():
    times = iter([0.0, 0.0, 30.0, 90.0])
    progress = CellProgress([10, 10, 20, 40], width=8, clock=lambda: next(times))
    assert progress.line() == "[--------] 0/4 cells | 0:00 elapsed | estimating time left"
    progress.finished(0, trained=False)  # already done: costs nothing, says nothing of speed
    progress.finished(1, trained=True)   # 10 units of work in 30 s
    assert progress.line() == "[####----] 2/4 cells | 0:30 elapsed | about 3:00 left"
    progress.finished(2, trained=True)
    progress.finished(3, trained=True)
    assert progress.line() == "[########] 4/4 cells | 1:30 elapsed | done"


def test_cell_progress_counts_unknown_work_as_the_mean_of_the_known():
    """A backbone registered without a measured rate has no estimate: its cells still count."""
    times = iter([0.0, 60.0])
    progress = CellProgress([None, 10, 30, None], width=8, clock=lambda: next(times))
    progress.finished(1, trained=True)  # 10 units in 60 s; 70 units left (30 + 2 x 20)
    assert progress.line() == "[##------] 1/4 cells | 1:00 elapsed | about 7:00 left"
    assert CellProgress([None, None]).work == [1.0, 1.0]
