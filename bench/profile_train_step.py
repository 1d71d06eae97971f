"""Where one ResNet1d18 training step spends its time: TensorFlow (Keras) against PyTorch on CPU.

For each framework and precision (TensorFlow ``float32`` and ``mixed_bfloat16`` through
``bench_train.KerasModel``; PyTorch ``float32`` and ``torch.autocast`` ``bfloat16`` through
``bench_train.TorchTrainer``), a child process with ``ONEDNN_VERBOSE=1`` builds the model,
takes ``--warmup`` untimed steps on one fixed batch (compilation, oneDNN primitive creation),
then ``--steps`` timed steps between two markers. Every oneDNN primitive executed between the
markers is logged by oneDNN itself with its kernel (``jit:avx512_core``,
``brg_conv_fwd:avx512_core_bf16``, ...) and milliseconds; the report groups them per primitive
kind (convolution, reorder, batch normalization, eltwise, ...) and per kernel, as a share of
the step's wall time. What is not in oneDNN (framework ops, the optimizer, the runtime) is
the remainder. For PyTorch, ``torch.profiler`` also gives the top operators by self CPU time.

    python bench/profile_train_step.py --out bench/results/profile_train_step_cpu.json

Output: ``bench/results/profile_train_step_<device>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run_record import machine_fields  # noqa: E402  (bench/ is on the path from here)

MODEL = "resnet1d18"
#: (framework, precision) profiled: Keras under TensorFlow and the PyTorch reference.
VARIANTS = (("tensorflow", "float32"), ("tensorflow", "mixed_bfloat16"),
            ("torch", "float32"), ("torch", "bfloat16"))
START, END = "@@profile-start", "@@profile-end"
TOP = 12


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "PRECISION"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _mark(text: str) -> None:
    """``text`` on stdout after everything written before it, C stdio (oneDNN's log) included."""
    sys.stdout.flush()
    ctypes.CDLL(None).fflush(None)
    os.write(1, f"{text}\n".encode())


def worker(framework: str, precision: str, args) -> int:
    """A child: warms up, then ``--steps`` steps between the markers (seconds in the end one)."""
    from bench_train import N_LABELS, KerasModel, TorchTrainer, fixed_batch

    x, y = fixed_batch(args.batch_size)
    torch_ops = None
    if framework == "torch":
        import torch

        trainer = TorchTrainer(torch, N_LABELS, precision=precision)
        x, y = torch.from_numpy(x).permute(0, 2, 1).contiguous(), torch.from_numpy(y)

        def step():
            trainer.step(x, y)
    else:
        model = KerasModel(MODEL, precision, x, y).model

        def step():
            model.train_on_batch(x, y)
    for _ in range(args.warmup):
        step()
    _mark(START)
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - started
    _mark(f"{END} {seconds}")
    if framework == "torch":
        torch_ops = torch_operator_shares(torch, step, args.steps)
    print(json.dumps({"torch_operators": torch_ops}), flush=True)
    return 0


def torch_operator_shares(torch, step, steps: int) -> list[dict]:
    """The top operators of ``steps`` more steps under ``torch.profiler`` (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    top = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:TOP]
    return [{"op": event.key, "share": round(event.self_cpu_time_total / total, 3),
             "calls_per_step": event.count // steps} for event in top]


def onednn_exec(line: str) -> tuple[str, str, str, float] | None:
    """``(kind, kernel, propagation, ms)`` of a oneDNN verbose ``exec`` line, else None.

    Example:
        >>> onednn_exec("onednn_verbose,v1,primitive,exec,cpu,convolution,"
        ...             "brg_conv_fwd:avx512_core_bf16,forward_training,src:bf16,,alg,desc,0.5")
        ('convolution', 'brg_conv_fwd:avx512_core_bf16', 'forward_training', 0.5)
        >>> onednn_exec("onednn_verbose,v1,primitive,create:cache_hit,cpu,reorder,x,y,z,0.1")
    """
    if not line.startswith(("onednn_verbose", "dnnl_verbose")):
        return None
    fields = line.strip().split(",")
    if "exec" not in fields:
        return None
    at = fields.index("exec")
    try:
        return fields[at + 2], fields[at + 3], fields[at + 4], float(fields[-1])
    except (IndexError, ValueError):
        return None


def summarize(lines: list[str], seconds: float, steps: int) -> dict:
    """Per-step oneDNN time per primitive kind and per kernel, as shares of the step."""
    by_kind, by_kernel, calls = defaultdict(float), defaultdict(float), defaultdict(int)
    for line in lines:
        parsed = onednn_exec(line)
        if parsed is None:
            continue
        kind, kernel, propagation, ms = parsed
        by_kind[kind] += ms
        by_kernel[f"{kind} {kernel} {propagation}"] += ms
        calls[kind] += 1
    step_ms = seconds * 1000 / steps
    inside = sum(by_kind.values()) / steps

    def shares(table):
        ranked = sorted(table.items(), key=lambda item: item[1], reverse=True)[:TOP]
        return [{"name": name, "ms_per_step": round(ms / steps, 1),
                 "share": round(ms / steps / step_ms, 3)} for name, ms in ranked]

    return {"step_ms": round(step_ms, 1), "onednn_ms_per_step": round(inside, 1),
            "onednn_share": round(inside / step_ms, 3),
            "outside_onednn_share": round(1 - inside / step_ms, 3),
            "calls_per_step": {kind: count // steps for kind, count in calls.items()},
            "by_kind": shares(by_kind), "by_kernel": shares(by_kernel)}


def profile(framework: str, precision: str, args) -> dict:
    """One variant's child run with oneDNN's log, summarized."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, __file__, "--worker", framework, precision,
                           "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
                           "--steps", str(args.steps)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{framework} {precision} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.splitlines()
    start = lines.index(START)
    end = next(i for i, line in enumerate(lines) if line.startswith(END))
    seconds = float(lines[end].split()[1])
    found = summarize(lines[start + 1:end], seconds, args.steps)
    found["samples_per_s"] = round(args.steps * args.batch_size / seconds, 1)
    extra = json.loads(lines[-1])
    if extra["torch_operators"] is not None:
        found["torch_operators"] = extra["torch_operators"]
    return found


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(*args.worker, args)
    from ecg_tl_keras.precision import current_device
    from ecg_tl_keras.training.rundir import write_json_atomic

    load_before = os.getloadavg()
    profiles = {}
    for framework, precision in VARIANTS:
        profiles[f"{framework}_{precision}"] = profile(framework, precision, args)
        print(framework, precision, json.dumps(
            {k: v for k, v in profiles[f"{framework}_{precision}"].items()
             if k in ("step_ms", "onednn_share", "by_kind")}), flush=True)
    device = current_device()
    result = {"what": "one ResNet1d18 training step (batch of 10-s 12-lead records, one fixed "
                      "batch) per framework and precision; oneDNN's own per-primitive times "
                      "(ONEDNN_VERBOSE) as shares of the step's wall time",
              "model": MODEL, "batch_size": args.batch_size, "warmup": args.warmup,
              "steps": args.steps, **machine_fields(device, load_before),
              "profiles": profiles}
    out = args.out or ROOT / "bench" / "results" / f"profile_train_step_{device.kind}.json"
    write_json_atomic(out, result)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
