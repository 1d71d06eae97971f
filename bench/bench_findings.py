"""How long ``findings()`` takes on the paper's grid: 162 cells x 5 seeds of result files.

Builds the result-file dicts of ``load_plan("paper")`` with 5 seeds (810 files: every cell's
spec, 5 per-label F1 scores, a 100-epoch history, selection scores, baselines, train time)
from simulated scores, then times :func:`ecg_tl_keras.study.report.findings` on them (best of
3, after one warm-up call that imports the model registry).

Run: ``python bench/bench_findings.py --out bench/results/findings.json``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

LABELS = ("NORM", "MI", "STTC", "CD", "HYP")
EPOCHS = 100


def paper_results(seeds: int = 5, seed: int = 0) -> list[dict]:
    """Simulated result files of every cell of the paper plan with ``seeds`` seeds."""
    from ecg_tl_keras.study.cells import expand_cells
    from ecg_tl_keras.study.plan import load_plan

    rng = np.random.default_rng(seed)
    results = []
    for cell in expand_cells(load_plan("paper").with_seeds(seeds)):
        score = float(np.clip(0.6 + 0.02 * rng.standard_normal()
                              + (0.01 if cell.kind == "finetune" else 0.0), 0, 1))
        curve = score * (1 - np.exp(-np.arange(1, EPOCHS + 1) / 10))
        history = [{"epoch": e, "seconds": 3.0, "val_weighted_f1": float(v),
                    "val_macro_auc": 0.8, "test_weighted_f1": float(v)}
                   for e, v in enumerate(curve, start=1)]
        results.append({
            "format": 1, "cell": cell.spec(),
            "metrics": {"test_weighted_f1": score, "test_macro_f1": score,
                        "test_macro_auc": 0.8, "best_epoch": EPOCHS,
                        "selection_metric": "val_weighted_f1", "train_time_s": 3.0 * EPOCHS,
                        "per_label_f1": {label: float(np.clip(score + 0.05 * rng.standard_normal(),
                                                              0, 1)) for label in LABELS},
                        "records": {"train": 1000}},
            "history": history,
            "selection": {"split": "val", "weighted_f1": score, "macro_auc": 0.8,
                          "constant_weighted_f1": 0.4},
            "baselines": {"constant": 0.4, "random": 0.3,
                          "constant_per_label": {label: 0.3 for label in LABELS}},
            "machine": "x86_64 CPU x2"})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    from ecg_tl_keras.study.report import findings

    results = paper_results(args.seeds)
    findings(results[:20])  # warm-up: imports the model registry
    times = []
    for _ in range(3):
        started = time.perf_counter()
        found = findings(results)
        times.append(time.perf_counter() - started)
    figures = {"result_files": len(results), "cells": len(results) // args.seeds,
               "seeds": args.seeds, "findings": len(found),
               "tested": int(sum(np.isfinite(f.p_adjusted) for f in found)),
               "seconds_best_of_3": round(min(times), 3),
               "machine": f"{platform.machine()} CPU x{os.cpu_count()}",
               "python": platform.python_version()}
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
