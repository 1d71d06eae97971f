"""The full demo as a user runs it: wall time, a quiet console, and how far each model is above
the no-skill baseline.

Runs ``ecg-tl-keras demo --out TMP`` (or ``--quick``) in a subprocess and records

- the wall time, the CPU count, its bfloat16 flags and the load average before and after;
- the console: lines in all, TensorFlow C++ log lines (``ecg_tl_keras.console``) and
  Python warnings among them (both should be 0);
- for every ResNet1d18 run, its test weighted F1 minus the best constant predictor's on
  the same test split (every label predicted present), from the study's result files.

    python bench/bench_demo.py --out bench/results/demo_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def margins(study: Path) -> dict:
    """Each run's test weighted F1 and its margin over its test split's constant predictor."""
    from ecg_tl_keras.study.results import load_results

    runs = {}
    for result in load_results(study):
        score = result["metrics"]["test_weighted_f1"]
        constant = result["baselines"]["constant"]
        runs[result["cell"]["key"]] = {
            "test_weighted_f1": round(score, 4), "constant": round(constant, 4),
            "margin": round(score - constant, 4)}
    return runs


def main(argv=None):
    args = parse_args(argv)
    from ecg_tl_keras.training.rundir import write_json_atomic
    from ecg_tl_keras.console import is_native_log_line
    from ecg_tl_keras.precision import current_device

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        command = ["ecg-tl-keras", "demo", "--out", tmp] + (["--quick"] if args.quick else [])
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, check=True)
        seconds = time.perf_counter() - started
        lines = (done.stdout + done.stderr).splitlines()
        study = Path(tmp) / ("study-quick" if args.quick else "study")
        runs = margins(study)
    device = current_device()
    result = {
        "command": " ".join(command[:2] + command[4:]),
        "wall_s": round(seconds, 1),
        "cpu_count": os.cpu_count(), "cpu_bf16_flags": list(device.cpu_flags),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "console_lines": len(lines),
        "tensorflow_log_lines": sum(is_native_log_line(line) for line in lines),
        "python_warning_lines": sum(b"Warning:" in line for line in lines),
        "runs": runs,
        "best_margin": max(run["margin"] for run in runs.values()),
    }
    out = args.out or ROOT / "bench" / "results" / (
        f"demo{'_quick' if args.quick else ''}_{device.kind}.json")
    write_json_atomic(out, result)
    shown = ("wall_s", "tensorflow_log_lines", "python_warning_lines", "best_margin")
    print(json.dumps({key: result[key] for key in shown}), f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
