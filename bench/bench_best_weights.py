"""What keeping the best epoch's weights costs per improvement: a host copy against the device copy.

For each backbone, ``--repeats`` times in turn:

- *host* (the trainer before the device copy): ``model.get_weights()``, the weights copied to
  NumPy arrays in host memory, as ``BestWeights`` did on every improved epoch;
- *device* (now): :class:`ecg_tl_keras.training.callbacks.BestWeights`'s ``on_epoch_end`` on an
  improving epoch, which assigns the weights to variables on the model's device.

The medians, in milliseconds per improved epoch, go to the results file with the
parameter count and the device. On a CPU both are memory copies; on a GPU the host copy
also crosses the bus.

    python bench/bench_best_weights.py --out bench/results/best_weights_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet1d18,resnet1d50,resnet1d101,lstm")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def copy_times(name: str, repeats: int) -> dict:
    """Median milliseconds of the host copy and of the device copy for one backbone."""
    from ecg_tl_keras.models import build_model
    from ecg_tl_keras.training.callbacks import BestWeights

    model = build_model(name, 5, input_shape=(1000, 12))
    best = BestWeights("val_weighted_f1")
    best.set_model(model)
    best.on_train_begin()
    host, device = [], []
    for repeat in range(repeats):
        started = time.perf_counter()
        model.get_weights()
        host.append(time.perf_counter() - started)
        started = time.perf_counter()
        best.on_epoch_end(repeat, {"val_weighted_f1": float(repeat)})  # always an improvement
        device.append(time.perf_counter() - started)
    return {"parameters": model.count_params(),
            "host_copy_ms": round(1000 * statistics.median(host), 2),
            "device_copy_ms": round(1000 * statistics.median(device), 2)}


def main(argv=None):
    args = parse_args(argv)
    from ecg_tl_keras.training.rundir import write_json_atomic
    from ecg_tl_keras.precision import current_device

    device = current_device()
    result = {"device": {"kind": device.kind, "name": device.name}, "repeats": args.repeats,
              "per_model": {name: copy_times(name, args.repeats)
                            for name in args.models.split(",")},
              "load_average_after": [round(v, 2) for v in os.getloadavg()]}
    out = args.out or ROOT / "bench" / "results" / f"best_weights_{device.kind}.json"
    write_json_atomic(out, result)
    print(json.dumps(result["per_model"]), f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
