"""Input-pipeline benchmark: tf.data records/s against each backbone's training samples/s.

Writes a PTB-XL-sized synthetic dataset (16,384 train records of 1000 x 12
float32 in 8 shards of 2,048, the builder's shard size, plus ``manifest.json``)
to a temporary directory, then measures

- the training input stream (``datasets.shuffled_epochs`` over
  ``datasets.load_records``, batch 256, full shuffle buffer): records/s of the
  first epoch (read, parse, fill the cache and the shuffle buffer) and of the
  second (from the in-memory cache);
- each backbone's training rate at batch 256 (``train_on_batch`` on
  in-memory data, after warm-up steps), in samples/s;

and writes both, with their ratio, to a JSON file. Target: the pipeline at
least 20 times faster than the fastest backbone trains, on 2 CPU cores.

Run: ``python bench/bench_pipeline.py --out bench/results/pipeline.json``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))  # run from a checkout without installing
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from ecg_tl_keras import datasets  # noqa: E402
from ecg_tl_keras.models import available_backbones, build_model  # noqa: E402
from tfrecords_builder.tfrecord import serialize_example  # noqa: E402

BATCH = 256
SHAPE = (1000, 12)
LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]
TARGET_RATIO = 20.0


def write_dataset(root: Path, records: int, shard_size: int, seed: int = 0) -> Path:
    """A synthetic dataset directory in the builder's output format."""
    data_dir = root / "synthetic"
    data_dir.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    shards = -(-records // shard_size)
    entries = []
    for shard in range(shards):
        name = f"train-{shard:05d}-of-{shards:05d}.tfrecord"
        count = min(shard_size, records - shard * shard_size)
        with tf.io.TFRecordWriter(str(data_dir / name)) as writer:
            for offset in range(count):
                index = shard * shard_size + offset
                writer.write(
                    serialize_example(
                        rng.standard_normal(SHAPE, dtype=np.float32) * 0.2,
                        rng.integers(0, 2, len(LABELS)),
                        str(index),
                        str(index),
                        index % 10,
                    )
                )
        entries.append({"file": name, "records": count, "sha256": ""})
    manifest = {
        "dataset": "synthetic",
        "labels": LABELS,
        "samples": SHAPE[0],
        "leads": ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
        "fs": 100,
        "unit": "mV",
        "splits": {"train": {"records": records, "patients": records, "shards": entries}},
    }
    (data_dir / "manifest.json").write_text(json.dumps(manifest))
    return data_dir


def pipeline_rates(data_dir: Path, records: int) -> dict:
    """Records/s of the first (uncached) and second (cached) epoch of the training stream."""
    stream = datasets.shuffled_epochs(
        datasets.load_records(data_dir, "train"),
        batch_size=BATCH,
        seed=0,
        first_epoch=0,
        epochs=2,
        buffer_size=records,
    )
    batches_per_epoch = -(-records // BATCH)
    iterator = iter(stream)
    rates = {}
    for name in ("first_epoch", "cached_epoch"):
        started = time.perf_counter()
        seen = sum(int(next(iterator)[0].shape[0]) for _ in range(batches_per_epoch))
        seconds = time.perf_counter() - started
        rates[name] = {
            "records": seen,
            "seconds": round(seconds, 3),
            "records_per_s": round(seen / seconds, 1),
        }
    return rates


def backbone_rate(name: str, warmup: int, steps: int) -> dict:
    """Training samples/s of one backbone at batch 256 on in-memory data."""
    keras.utils.set_random_seed(0)
    model = build_model(name, len(LABELS), input_shape=SHAPE)
    model.compile(keras.optimizers.Adam(0.01), keras.losses.BinaryCrossentropy())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, *SHAPE), dtype=np.float32) * 0.2
    y = rng.integers(0, 2, (BATCH, len(LABELS))).astype(np.float32)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - started) / steps
    keras.backend.clear_session()
    return {"seconds_per_step": round(seconds, 3), "samples_per_s": round(BATCH / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/pipeline.json", help="results JSON file")
    parser.add_argument("--records", type=int, default=16_384, help="synthetic train records")
    parser.add_argument("--shard-size", type=int, default=2048)
    parser.add_argument("--backbones", nargs="+", default=available_backbones())
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps per backbone")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per backbone")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        started = time.perf_counter()
        data_dir = write_dataset(Path(tmp), args.records, args.shard_size)
        written = time.perf_counter() - started
        pipeline = pipeline_rates(data_dir, args.records)
    print(
        f"pipeline: first epoch {pipeline['first_epoch']['records_per_s']:,.0f} records/s, "
        f"cached {pipeline['cached_epoch']['records_per_s']:,.0f} records/s",
        flush=True,
    )
    backbones = {}
    for name in args.backbones:
        backbones[name] = backbone_rate(name, args.warmup, args.steps)
        print(
            f"{name}: {backbones[name]['samples_per_s']:,.1f} samples/s "
            f"({backbones[name]['seconds_per_step']} s/step)",
            flush=True,
        )
    fastest = max(backbones, key=lambda name: backbones[name]["samples_per_s"])
    fastest_rate = backbones[fastest]["samples_per_s"]
    ratios = {
        name: round(rates["records_per_s"] / fastest_rate, 1) for name, rates in pipeline.items()
    }
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU")),
        },
        "dataset": {
            "records": args.records,
            "shards": -(-args.records // args.shard_size),
            "bytes_of_signals": args.records * SHAPE[0] * SHAPE[1] * 4,
            "write_seconds": round(written, 1),
        },
        "batch_size": BATCH,
        "pipeline": pipeline,
        "backbones": backbones,
        "fastest_backbone": fastest,
        "pipeline_over_fastest_backbone": ratios,
        "target_ratio": TARGET_RATIO,
        "meets_target": min(ratios.values()) >= TARGET_RATIO,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"fastest backbone {fastest} ({fastest_rate:,.1f} samples/s); pipeline / fastest: "
        f"first epoch {ratios['first_epoch']}x, cached {ratios['cached_epoch']}x "
        f"(target {TARGET_RATIO:.0f}x) -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
