"""``bench/bench_builder_speed.py`` run tiny: the baseline builder and this checkout's build the
same tree to the same shard bytes, and the JSON file holds both sides' figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "bench"))
from bench_builder_speed import BASELINE  # noqa: E402


def has_commit(commit: str) -> bool:
    done = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=PROJECT_ROOT,
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not has_commit(BASELINE), reason="the baseline commit is not in this clone")
def test_builder_speed_bench_runs_tiny_with_identical_shards(tmp_path):
    out = tmp_path / "speed.json"
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "bench_builder_speed.py"),
                           "--records", "60", "--repeats", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["shard_sha256_identical"] is True and results["shard_sha256"]
    assert results["machine"]["cpu_model"] and "shared" in results["note"]
    for side in ("before", "after"):
        assert results[side]["min_seconds"] > 0 and results[side]["median_cpu_seconds"] > 0
    assert 0 < results["records_written"] <= 60
