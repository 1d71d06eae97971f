"""Net1D (ECGFounder's architecture, random weights) on this CPU: seconds per 100 records.

Three figures for 12 x 5,000-sample inputs (10 s at 500 Hz), each timed after a warm-up
and scaled to 100 records:

- ``scoring``: the preset-style model's forward pass (record z-score, backbone, 150-label
  head), features and probabilities, as `advise` scores a checkpoint (``frozen_outputs``);
- ``probing``: the same feature pass plus `advise`'s linear probe (logistic regression per
  label over its grid of C, scikit-learn) on those features with 5 random labels;
- ``finetune_epoch``: one epoch of full fine-tuning (Adam, binary cross-entropy,
  ``train_on_batch``) with a fresh 5-label head.

The records are random normal signals and the labels random: the figures are of time, not
of accuracy. The machine's CPU model, flags of note, core count and load are recorded.

Run: ``python bench/bench_foundation.py --records 32 --batch 8``
(writes ``bench/results/foundation_cpu.json``).
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
sys.path.insert(0, str(PROJECT / "bench"))
from cpuinfo import cpu_model_and_flags  # noqa: E402
SAMPLES, LEADS, LABELS, NEW_LABELS = 5000, 12, 150, 5
FLAGS_OF_NOTE = ("avx", "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "fma")


def cpu_description() -> dict:
    """The CPU model, its flags of note, cores and load average (Linux; what is readable)."""
    model, flags = cpu_model_and_flags(FLAGS_OF_NOTE)
    return {"model": model, "flags_of_note": flags,
            "cores": os.cpu_count(), "load_average_before": os.getloadavg()}


def _per_100(seconds: float, records: int) -> float:
    return round(seconds * 100 / records, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=32, help="records timed per measure")
    parser.add_argument("--batch", type=int, default=8, help="batch size")
    parser.add_argument("--out", default=str(PROJECT / "bench" / "results" / "foundation_cpu.json"))
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from ecg_tl_keras.advise.features import frozen_outputs
    from ecg_tl_keras.advise.probe import linear_probe
    from ecg_tl_keras.models import get_backbone, replace_head
    from ecg_tl_keras.models.conventions import convention_layer
    from ecg_tl_keras.models.presets import preset_model

    cpu = cpu_description()
    model = preset_model(get_backbone("net1d", (SAMPLES, LEADS)), LABELS,
                         convention_layer({"type": "record_zscore"}), "net1d")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (args.records, SAMPLES, LEADS)).astype("float32")
    y = (rng.random((args.records, NEW_LABELS)) > 0.5).astype("float32")
    frozen_outputs(model, x)  # trace and warm up on the shapes timed (advise's batches of 64)

    started = time.perf_counter()
    features, _ = frozen_outputs(model, x)
    scoring = time.perf_counter() - started

    third = args.records // 3
    started = time.perf_counter()
    features, _ = frozen_outputs(model, x)
    linear_probe(features[:third], y[:third], features[third:2 * third], y[third:2 * third],
                 features[2 * third:], y[2 * third:])
    probing = time.perf_counter() - started

    tuned = replace_head(model, NEW_LABELS)
    tuned.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    tuned.train_on_batch(x[: args.batch], y[: args.batch])  # trace and warm up
    started = time.perf_counter()
    for start in range(0, args.records, args.batch):
        tuned.train_on_batch(x[start:start + args.batch], y[start:start + args.batch])
    epoch = time.perf_counter() - started

    results = {
        "what": "net1d (ECGFounder architecture, random weights), 12 x 5000 inputs, float32",
        "params": model.count_params(),
        "records_timed": args.records, "batch_size": args.batch,
        "seconds_per_100_records": {"scoring": _per_100(scoring, args.records),
                                    "probing": _per_100(probing, args.records),
                                    "finetune_epoch": _per_100(epoch, args.records)},
        "cpu": {**cpu, "load_average_after": os.getloadavg()},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["seconds_per_100_records"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
