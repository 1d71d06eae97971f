"""Which precision trains fastest under each Keras backend on this CPU: one run, alternating.

The measurement behind ``ecg_tl_keras.precision.auto_precision``'s backend rows. One child
process per Keras backend (``KERAS_BACKEND``; TensorFlow and JAX by default) builds each
``--models`` backbone under each ``--precisions`` policy (the models of ``bench_train.py``:
batch 256 of 10-s 12-lead records, Adam, binary cross-entropy, one fixed random batch, no
input pipeline) and compiles its training step; a PyTorch child does the same for its
ResNet1d18 in float32 and under ``torch.autocast`` bfloat16. Then, ``--rounds`` times, every
(backend, model, precision) takes ``--steps`` timed training steps in turn, so a shared
machine's load falls on all of them alike. Reported: the median samples/s per variant, every
round's value, and per backend and model the ratio of each mixed policy to float32 in each
round and whether it was faster in every round (what ``auto`` may pick: never slower than
float32).

    python bench/bench_precision_backends.py --out bench/results/precision_backends_cpu.json

Output: ``bench/results/precision_backends_<device>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run_record import machine_fields, rate_fields  # noqa: E402  (bench/ is on the path from here)

TORCH = "torch"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--models", default="resnet1d18,gru")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps (compilation)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-torch-reference", dest="torch_reference", action="store_false")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def variants(args) -> list[tuple[str, str, str]]:
    """Every ``(backend, model, precision)`` measured, the PyTorch ones last."""
    found = [(backend, model, precision) for backend in args.backends.split(",")
             for model in args.models.split(",") for precision in args.precisions.split(",")]
    if args.torch_reference:
        from bench_train import TORCH_PRECISIONS

        found += [(TORCH, "resnet1d18", precision) for precision in TORCH_PRECISIONS]
    return found


def worker(args) -> int:
    """A child: builds its variants, answers ``model precision steps`` lines with seconds."""
    import time

    from bench_train import N_LABELS, KerasModel, TorchTrainer, fixed_batch

    x, y = fixed_batch(args.batch_size)
    mine = [(model, precision) for backend, model, precision in variants(args)
            if backend == args.worker]
    if args.worker == TORCH:
        try:
            import torch
        except ImportError:
            print("torch is not installed", flush=True)
            return 3
        x, y = torch.from_numpy(x).permute(0, 2, 1).contiguous(), torch.from_numpy(y)
        steppers = {}
        for model, precision in mine:
            trainer = TorchTrainer(torch, N_LABELS, precision=precision)
            steppers[model, precision] = lambda trainer=trainer: trainer.step(x, y)
    else:
        steppers = {}
        for model, precision in mine:
            keras_model = KerasModel(model, precision, x, y)
            steppers[model, precision] = lambda m=keras_model: m.model.train_on_batch(m.x, m.y)
    for stepper in steppers.values():
        for _ in range(args.warmup):
            stepper()
    print("ready", flush=True)
    for line in sys.stdin:
        model, precision, steps = line.split()
        started = time.perf_counter()
        for _ in range(int(steps)):
            steppers[model, precision]()
        print(time.perf_counter() - started, flush=True)
    return 0


def start_worker(backend: str, argv: list[str]):
    """A child process measuring ``backend``'s variants; None if it could not start."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend != TORCH:
        env["KERAS_BACKEND"] = backend
    child = subprocess.Popen([sys.executable, __file__, *argv, "--worker", backend], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if child.stdout.readline().strip() != "ready":
        child.wait()
        print(f"{backend}: the worker did not start; left out", file=sys.stderr)
        return None
    return child


def fastest_over_float32(by_round: dict, backend: str, model: str, precisions) -> dict:
    """Per mixed policy: its per-round ratio to float32 and whether it won every round."""
    base = by_round.get(f"{backend}/{model}/float32")
    found = {}
    for precision in precisions:
        values = by_round.get(f"{backend}/{model}/{precision}")
        if precision == "float32" or base is None or values is None:
            continue
        ratios = [round(value / reference, 3) for value, reference in zip(values, base)]
        found[precision] = {"ratio_by_round": ratios,
                            "median_ratio": round(statistics.median(ratios), 3),
                            "faster_every_round": all(ratio > 1.0 for ratio in ratios)}
    return found


def main(argv=None):
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if args.worker:
        return worker(args)
    from ecg_tl_keras.precision import current_device
    from ecg_tl_keras.training.rundir import write_json_atomic

    load_before = os.getloadavg()
    measured = variants(args)
    children = {}
    for backend in dict.fromkeys(backend for backend, _, _ in measured):
        child = start_worker(backend, raw)
        if child is not None:
            children[backend] = child
    measured = [variant for variant in measured if variant[0] in children]
    by_round = {"/".join(variant): [] for variant in measured}
    for round_index in range(args.rounds):
        for backend, model, precision in measured:
            child = children[backend]
            child.stdin.write(f"{model} {precision} {args.steps}\n")
            child.stdin.flush()
            seconds = float(child.stdout.readline())
            by_round[f"{backend}/{model}/{precision}"].append(
                args.steps * args.batch_size / seconds)
        print(f"round {round_index + 1}: " + ", ".join(
            f"{name} {values[-1]:.1f}" for name, values in by_round.items()), flush=True)
    for child in children.values():
        child.stdin.close()
        child.wait()
    device = current_device()
    precisions = args.precisions.split(",")
    result = {
        "what": "training samples/s on one fixed batch (no input pipeline), each Keras backend "
                "and precision in its own process, alternating variant by variant each round",
        "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
        "rounds": args.rounds,
        **machine_fields(device, load_before), **rate_fields(by_round),
        "mixed_vs_float32": {f"{backend}/{model}": fastest_over_float32(
            by_round, backend, model, precisions if backend != TORCH else ("bfloat16",))
            for backend, model in dict.fromkeys((b, m) for b, m, _ in measured)},
    }
    out = args.out or ROOT / "bench" / "results" / f"precision_backends_{device.kind}.json"
    write_json_atomic(out, result)
    print(json.dumps(result["mixed_vs_float32"], indent=1), f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
