"""What the builder imports: a build without resampling never imports ``scipy.signal``, and the
worker processes (which import ``tfrecords_builder.build`` to convert records) never import
``pandas``; each import costs about a second or more per process on the 2-core machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def imported_after(code: str) -> dict:
    probe = code + "\nimport json, sys\nprint(json.dumps({name: name in sys.modules for name in " \
                   "('scipy.signal', 'pandas')}))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_imports_neither_pandas_nor_scipy_signal():
    assert imported_after("import tfrecords_builder.build") == {"scipy.signal": False,
                                                               "pandas": False}


def test_a_100_hz_build_never_imports_scipy_signal(tmp_path):
    code = ("from tfrecords_builder import build_dataset\n"
            f"build_dataset('ptbxl', 'ecg_tl_keras/sample_data/ptbxl', {str(tmp_path)!r}, "
            "workers=0, progress=False, log=lambda line: None)")
    assert imported_after(code) == {"scipy.signal": False, "pandas": True}
    assert (tmp_path / "ptbxl" / "manifest.json").is_file()


def test_a_resampling_build_imports_scipy_signal_when_it_needs_it(tmp_path):
    code = ("from tfrecords_builder import build_dataset\n"
            f"build_dataset('ptbxl', 'ecg_tl_keras/sample_data/ptbxl', {str(tmp_path)!r}, "
            "workers=0, progress=False, log=lambda line: None, rate=50)")
    assert imported_after(code)["scipy.signal"]
