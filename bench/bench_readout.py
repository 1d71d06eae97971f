"""Recurrent readouts side by side: training speed and transferred weights, last vs flatten.

For each recurrent backbone and readout (``last``: final state; ``flatten``: the study's
every-step classifier) at full size (1000 x 12 input, 5 labels): trainable weights, the
share of them that fine-tuning transfers (everything but the re-initialised head), and
training samples/s at batch 256 (Adam, binary cross-entropy, compiled ``train_on_batch``),
both readouts timed in the same run so their ratio survives a noisy machine.

Run: ``python bench/bench_readout.py --out bench/results/readout.json``
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


def measure(name: str, readout: str, batch: int, steps: int) -> dict:
    import keras

    from ecg_tl_keras.models import build_model

    model = build_model(name, 5, readout=readout)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 1000, 12)).astype("float32")
    y = (rng.random((batch, 5)) > 0.5).astype("float32")
    model.train_on_batch(x, y)  # trace and warm up
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - started) / steps
    head = model.get_layer("head").count_params()
    total = model.count_params()
    return {"params": total, "head_params": head, "transferred_share": round(1 - head / total, 4),
            "seconds_per_step": round(seconds, 3), "samples_per_s": round(batch / seconds, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(PROJECT / "bench" / "results" / "readout.json"))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "load_average_before": load_before},
               "batch_size": args.batch, "backbones": {}}
    for name in ("lstm", "bilstm", "gru"):
        entry = {readout: measure(name, readout, args.batch, args.steps)
                 for readout in ("last", "flatten")}
        entry["flatten_over_last_speed"] = round(
            entry["flatten"]["samples_per_s"] / entry["last"]["samples_per_s"], 3)
        results["backbones"][name] = entry
        print(name, json.dumps(entry))
    results["machine"]["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
