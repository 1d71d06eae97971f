"""One training epoch on a full-size PTB-XL-shaped build, per backend and model.

Makes a PTB-XL-shaped tree of ``--records`` records (default 21,837, the release's count)
by repeating the real sample records under new ids, each copy's patients under new patient
ids (so the copies stay patient-wise apart), builds it with ``tfrecords_builder`` (PTB-XL's
``strat_fold`` split), then, for each backend that is installed and each model, runs one
child process that:

1. times the input pipeline alone over one epoch of training batches (``input_seconds``):
   ``tf.data`` (``datasets.load_records`` + ``datasets.shuffled_epochs``) under TensorFlow,
   the TensorFlow-free shard reader (``training.pydata.ShuffledEpochs``) under JAX;
2. compiles the training step on the epoch's first batch, in memory, at the epoch's batch
   sizes (not timed in the epoch; ``compile_seconds``);
3. times ``Model.fit`` over one epoch of that pipeline, read from the shards as a first
   epoch reads them (``epoch_seconds``; samples/s = training records / epoch_seconds);
4. times the same training steps on that batch, in memory, over ``--compute-steps`` steps,
   scaled to the epoch's records (``compute_seconds``).

The share of the epoch the model waits for input is ``max(0, epoch - compute) / epoch``:
the time the epoch takes beyond its training steps (the pipeline's prefetching overlaps
input with compute, so only input the model had to wait for counts). Peak memory is the
child process's ``ru_maxrss``. The JAX child runs with TensorFlow made unimportable
(``bench/no_tensorflow`` on ``PYTHONPATH``), as in an environment without it.

Run (prints an estimate of the time it takes first; ``--records 400`` runs small):

    python bench/bench_full_epoch.py --out bench/results/full_epoch_cpu.json

It also writes the measured rates into ``ecg_tl_keras/study/measured_rates.json`` (the
``paper`` plan's dry-run estimate reads them) unless ``--no-rates`` or ``--records`` is
below the full size.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))
from cpuinfo import cpu_model_and_flags  # noqa: E402

FULL_RECORDS = 21_837
MODELS = ("resnet1d18", "gru")
BACKENDS = ("tensorflow", "jax")
RATES_FILE = PROJECT / "ecg_tl_keras" / "study" / "measured_rates.json"
#: Rough training samples/s on a 2-core CPU (float32 / auto), for the time estimate only.
ROUGH_RATES = {"resnet1d18": 150.0, "gru": 250.0}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def machine() -> dict:
    """CPU model, cores and the bfloat16-relevant flags of this machine."""
    model, flags = cpu_model_and_flags(CPU_FLAGS)
    return {"cpu_model": model, "cpus": os.cpu_count(), "cpu_flags": flags,
            "platform": platform.platform(), "python": platform.python_version()}


def available_backends() -> list[str]:
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def estimate_seconds(records: int, backends: list[str], models: list[str],
                     compute_steps: int, batch_size: int) -> float:
    """A rough estimate of the whole run: build, then per child a startup, the input pass,
    one epoch and the compute-only steps."""
    train = 0.86 * records  # PTB-XL: about 86% of the records are in train
    total = 30.0 + records / 1000.0  # tree and build
    for model in models:
        rate = ROUGH_RATES.get(model, 150.0)
        per_child = (40.0 + train / 3000.0  # startup and compile; the input pass
                     + train / rate + min(compute_steps * batch_size, train) / rate)
        total += len(backends) * per_child
    return total


def make_build(samples: Path, workdir: Path, records: int) -> Path:
    """The PTB-XL-shaped build of ``records`` records; returns the dataset folder."""
    from bench_builder import make_ptbxl_tree

    from tfrecords_builder import build_dataset

    source = make_ptbxl_tree(samples / "ptbxl", workdir / "ptbxl_src", records)
    build_dataset("ptbxl", source, workdir / "built", progress=False, log=lambda line: None)
    return workdir / "built" / "ptbxl"


def child_environment(backend: str) -> dict:
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    paths = [str(PROJECT)]
    if backend != "tensorflow":
        paths.insert(0, str(PROJECT / "bench" / "no_tensorflow"))
    environment["PYTHONPATH"] = os.pathsep.join(
        paths + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else []))
    return environment


def run_child(backend: str, model: str, data: Path, args, out_file: Path) -> dict:
    command = [sys.executable, __file__, "--child", json.dumps({
        "backend": backend, "model": model, "data": str(data), "batch_size": args.batch_size,
        "precision": args.precision, "compute_steps": args.compute_steps,
        "out": str(out_file)})]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=child_environment(backend), cwd=PROJECT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"the {backend} {model} epoch failed (exit {process.returncode})")
    result = json.loads(out_file.read_text())
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    result["peak_memory_gib"] = round(usage.ru_maxrss / 2**20, 3)  # ru_maxrss: KiB on Linux
    return result


# ---------------------------------------------------------------- the child process

def _pipeline(backend: str, data, records: int, batch_size: int):
    """A fresh one-epoch training pipeline (reading the shards again) and its batches."""
    if backend == "tensorflow":
        from ecg_tl_keras import datasets

        batches = datasets.shuffled_epochs(datasets.load_records(data, "train"),
                                           batch_size=batch_size, seed=0, first_epoch=0,
                                           epochs=1, buffer_size=records)
        return batches, lambda: iter(batches)
    from ecg_tl_keras.training.pydata import ShuffledEpochs

    batches = ShuffledEpochs(data, "train", batch_size=batch_size, seed=0, first_epoch=0,
                             epochs=1, records=records)
    return batches, lambda: batches.epoch_batches(0)


def _model(spec: dict, data):
    import keras

    from ecg_tl_keras.models import get_backbone_spec
    from ecg_tl_keras.precision import apply_precision, loss_scaled, resolve_precision
    from ecg_tl_keras.training.finetune import make_loss, new_model

    precision = resolve_precision(spec["precision"], get_backbone_spec(spec["model"]).family)
    model = new_model(spec["model"], list(data.labels), data.input_shape, None,
                      data.manifest.normalization)
    model = apply_precision(model, precision)
    model.compile(optimizer=loss_scaled(keras.optimizers.Adam(0.01), precision),
                  loss=make_loss("binary_crossentropy"))
    return model, precision


def child(spec: dict) -> None:
    import numpy as np

    from ecg_tl_keras.built import BuiltDataset

    data = BuiltDataset.open(spec["data"])
    records = data.manifest.splits["train"]["records"]
    batch_size = spec["batch_size"]
    steps = -(-records // batch_size)
    result = {"backend": spec["backend"], "model": spec["model"], "train_records": records,
              "batch_size": batch_size, "steps": steps}

    started = time.perf_counter()
    first = None
    for batch in _pipeline(spec["backend"], data, records, batch_size)[1]():
        first = batch if first is None else first
    result["input_seconds"] = round(time.perf_counter() - started, 2)

    model, result["precision"] = _model(spec, data)
    # the epoch's first batch, so that the steps compiled here take the pipeline's dtypes
    x, y = (np.asarray(part) for part in first[:2])
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    last = records % batch_size
    if last:  # the epoch's last, smaller batch compiles a step of its own on some backends
        model.fit(x[:last], y[:last], batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    result["compile_seconds"] = round(time.perf_counter() - started, 2)

    batches, _ = _pipeline(spec["backend"], data, records, batch_size)
    callbacks = [batches.follower()] if hasattr(batches, "follower") else []
    started = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
              callbacks=callbacks)
    epoch = time.perf_counter() - started

    measured = max(1, min(spec["compute_steps"], records // batch_size))
    many_x, many_y = np.concatenate([x] * measured), np.concatenate([y] * measured)
    started = time.perf_counter()
    model.fit(many_x, many_y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    compute = (time.perf_counter() - started) / (measured * len(x)) * records

    result.update({
        "epoch_seconds": round(epoch, 2),
        "samples_per_s": round(records / epoch, 1),
        "compute_seconds": round(compute, 2), "compute_steps_measured": measured,
        "compute_samples_per_s": round(records / compute, 1),
        "input_wait_share": round(max(0.0, epoch - compute) / epoch, 3),
    })
    result["tensorflow_imported"] = "tensorflow" in sys.modules
    Path(spec["out"]).write_text(json.dumps(result))


# ---------------------------------------------------------------- the parent

def measured_rates(results: dict) -> dict:
    """The rates table the study's dry-run reads: samples/s per backend and model."""
    samples_per_s: dict[str, dict[str, float]] = {}
    for run in results["runs"]:
        samples_per_s.setdefault(run["backend"], {})[run["model"]] = run["samples_per_s"]
    return {"source": "bench/bench_full_epoch.py", "measured": results["date"],
            "machine": results["machine"]["cpu_model"], "cpus": results["machine"]["cpus"],
            "records": results["records"], "batch_size": results["batch_size"],
            "precision": results["precision"], "samples_per_s": samples_per_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=FULL_RECORDS,
                        help="records of the PTB-XL-shaped tree (default %(default)s; small "
                             "for a quick check, e.g. 400)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default=None,
                        help="comma-separated (default: tensorflow and jax where installed)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precision", default="auto", help="--precision of the models")
    parser.add_argument("--compute-steps", type=int, default=20,
                        help="in-memory training steps timed for the compute-only figure")
    parser.add_argument("--samples", default=None, help="folder with ptbxl/ real samples")
    parser.add_argument("--workdir", default=None, help="where the build goes (default: temp)")
    parser.add_argument("--out", default=str(PROJECT / "bench" / "results" / "full_epoch_cpu.json"))
    parser.add_argument("--no-rates", dest="rates", action="store_false",
                        help=f"do not update {RATES_FILE.relative_to(PROJECT)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    from bench_builder import _default_samples

    models = [name.strip() for name in args.models.split(",") if name.strip()]
    backends = (available_backends() if args.backends is None
                else [name.strip() for name in args.backends.split(",") if name.strip()])
    estimate = estimate_seconds(args.records, backends, models, args.compute_steps,
                                args.batch_size)
    print(f"{args.records} records, {', '.join(models)} under {', '.join(backends)}: "
          f"estimated {estimate / 60:.0f} min on an idle 2-core CPU (longer under load)",
          flush=True)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ecg_full_epoch_"))
    results = {"machine": machine(), "date": datetime.date.today().isoformat(),
               "records": args.records, "batch_size": args.batch_size,
               "precision": args.precision,
               "load_average_1min_before": round(os.getloadavg()[0], 2),
               "method": ("input_wait_share = max(0, epoch_seconds - compute_seconds) / "
                          "epoch_seconds; compute_seconds = the epoch's training steps on "
                          "in-memory batches (compute_steps_measured steps, scaled); "
                          "epoch_seconds = Model.fit over one epoch read from the shards, "
                          "its training step compiled beforehand; peak memory = ru_maxrss "
                          "of the child process"),
               "runs": []}
    started = time.perf_counter()
    try:
        data = make_build(Path(args.samples) if args.samples else _default_samples(),
                          workdir, args.records)
        results["build_seconds"] = round(time.perf_counter() - started, 1)
        for backend in backends:
            for model in models:
                print(f"{backend} {model} ...", flush=True)
                run = run_child(backend, model, data, args, workdir / f"{backend}_{model}.json")
                results["runs"].append(run)
                print(f"  {run['epoch_seconds']} s, {run['samples_per_s']} samples/s, input "
                      f"wait {run['input_wait_share']:.0%}, {run['peak_memory_gib']} GiB",
                      flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out} ({results['seconds'] / 60:.1f} min)")
    if args.rates and args.records >= FULL_RECORDS:
        RATES_FILE.write_text(json.dumps(measured_rates(results), indent=2) + "\n")
        print(f"wrote {RATES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
