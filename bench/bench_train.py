"""Training samples/s of every backbone per Keras backend and precision, and a PyTorch reference.

Each model takes `--warmup` training steps (compilation) and then `--steps` timed steps
on one fixed random batch of `--batch-size` 10-s 12-lead records (no input pipeline),
`--rounds` times, alternating the models (and the plain PyTorch ResNet1d18 of the same
architecture, when torch is installed) so that a shared machine's load falls on all
of them alike; the median over rounds is reported. The results file records the
device, the CPU's bfloat16 flags, the load average before and after, and, from the
measured rates, the `paper` plan's hours per seed on this device.

    KERAS_BACKEND=jax python bench/bench_train.py --precision mixed_float16
    python bench/bench_train.py --models resnet1d18 --precision float32 --steps 3

Output: `bench/results/train_<backend>_<precision>_<device>.json` (or `--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from run_record import rate_fields  # noqa: E402  (bench/ is on the path: this file is there)

SHAPE = (1000, 12)
N_LABELS = 5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="float32",
                        choices=("float32", "mixed_bfloat16", "mixed_float16", "auto"))
    parser.add_argument("--models", default="all", help="comma-separated backbones (default all)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model and round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps (compilation)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-torch-reference", dest="torch_reference", action="store_false")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class KerasModel:
    """One backbone compiled under a precision, stepping on a fixed batch."""

    def __init__(self, name, precision, x, y):
        import keras

        from ecg_tl_keras.models import build_model, get_backbone_spec
        from ecg_tl_keras.precision import apply_precision, loss_scaled, resolve_precision

        self.policy = resolve_precision(precision, get_backbone_spec(name).family)
        self.model = apply_precision(build_model(name, N_LABELS, input_shape=SHAPE), self.policy)
        self.model.compile(loss_scaled(keras.optimizers.Adam(1e-3), self.policy),
                           "binary_crossentropy")
        self.x, self.y = x, y

    def run(self, steps: int) -> float:
        """Seconds of ``steps`` training steps."""
        started = time.perf_counter()
        for _ in range(steps):
            self.model.train_on_batch(self.x, self.y)
        return time.perf_counter() - started


class TorchReference:
    """The same ResNet1d18 as a plain PyTorch module (float32), Adam + BCE, on GPU if present.

    It steps in a child process (``--torch-worker``), told over a pipe how many steps to
    take: PyTorch and TensorFlow in one process crash, and the child keeps the two
    frameworks' thread pools apart.
    """

    def __init__(self, batch_size: int):
        import subprocess

        self.child = subprocess.Popen(
            [sys.executable, __file__, "--torch-worker", "--batch-size", str(batch_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.child.stdout.readline().strip() != "ready":
            raise ImportError("the PyTorch reference did not start (is torch installed?)")

    def run(self, steps: int) -> float:
        """Seconds of ``steps`` training steps, as the child measured them."""
        self.child.stdin.write(f"{steps}\n")
        self.child.stdin.flush()
        return float(self.child.stdout.readline())

    def close(self):
        self.child.stdin.close()
        self.child.wait()


def torch_worker(batch_size: int) -> int:
    """The child of :class:`TorchReference`: reads step counts, answers with seconds."""
    try:
        import torch
    except ImportError:
        print("torch is not installed: no PyTorch reference", file=sys.stderr)
        return 3
    x, y = fixed_batch(batch_size)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    trainer = TorchTrainer(torch, N_LABELS, device)
    x = torch.from_numpy(x).permute(0, 2, 1).contiguous().to(device)
    y = torch.from_numpy(y).to(device)
    print("ready", flush=True)
    for line in sys.stdin:
        started = time.perf_counter()
        for _ in range(int(line)):
            trainer.step(x, y)
        if device == "cuda":
            torch.cuda.synchronize()
        print(time.perf_counter() - started, flush=True)
    return 0


def fixed_batch(batch_size: int):
    """The one random batch every model steps on (the same in the PyTorch child)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.5, (batch_size, *SHAPE)).astype("float32")
    y = (rng.random((batch_size, N_LABELS)) > 0.7).astype("float32")
    return x, y


#: The PyTorch reference's precisions: float32, or bfloat16 under ``torch.autocast``.
TORCH_PRECISIONS = ("float32", "bfloat16")


class TorchTrainer:
    """The PyTorch reference's training: ResNet1d18, Adam(1e-3), BCE on logits.

    ``precision="bfloat16"`` runs the forward pass under ``torch.autocast(device,
    torch.bfloat16)`` (PyTorch's mixed precision: float32 weights, bfloat16 convolutions),
    the loss on float32 logits; ``"float32"`` runs everything in float32.
    Shared by this bench (steps on one batch) and ``bench_train_command.py`` (whole epochs).
    """

    def __init__(self, torch, n_labels: int, device: str = "cpu", precision: str = "float32"):
        if precision not in TORCH_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(TORCH_PRECISIONS)}, "
                             f"got {precision!r}")
        self.torch, self.device, self.precision = torch, device, precision
        self.model = torch_resnet1d18(torch, n_labels).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), 1e-3)
        self.loss = torch.nn.BCEWithLogitsLoss()

    def logits(self, x):
        """The model's float32 logits of ``x`` under this trainer's precision."""
        with self.torch.autocast(self.device, dtype=self.torch.bfloat16,
                                 enabled=self.precision == "bfloat16"):
            return self.model(x).float()

    def step(self, x, y) -> None:
        """One optimizer step on the channels-first batch ``x`` and its labels ``y``."""
        self.optimizer.zero_grad()
        self.loss(self.logits(x), y).backward()
        self.optimizer.step()


def torch_resnet1d18(torch, n_labels: int = N_LABELS):
    """torchvision's ResNet-18 in 1-D (the layout of `ecg_tl_keras.models.resnet1d`)."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, inputs, filters, stride):
            super().__init__()
            self.conv1 = nn.Conv1d(inputs, filters, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm1d(filters)
            self.conv2 = nn.Conv1d(filters, filters, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm1d(filters)
            self.shortcut = nn.Identity()
            if stride != 1 or inputs != filters:
                self.shortcut = nn.Sequential(nn.Conv1d(inputs, filters, 1, stride, bias=False),
                                              nn.BatchNorm1d(filters))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

    layers = [nn.Conv1d(12, 64, 7, 2, 3, bias=False), nn.BatchNorm1d(64), nn.ReLU(),
              nn.MaxPool1d(3, 2, 1)]
    inputs = 64
    for stage, filters in enumerate((64, 128, 256, 512)):
        for index in range(2):
            layers.append(Block(inputs, filters, 2 if stage and not index else 1))
            inputs = filters
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(512, n_labels)]
    return nn.Sequential(*layers)


def paper_hours_per_seed(rates):
    """Hours of the `paper` plan's seed-0 cells at the measured rates (None: a model unmeasured)."""
    from ecg_tl_keras.study import expand_cells, load_plan
    from ecg_tl_keras.study.runner import train_records

    hours = 0.0
    for cell in expand_cells(load_plan("paper")):
        if cell.seed != 0:
            continue
        if rates.get(cell.model) is None:
            return None
        records, _ = train_records(cell.dataset, "/nonexistent")
        if cell.train_size is not None:
            records = min(records, cell.train_size)
        hours += cell.settings["epochs"] * records / rates[cell.model] / 3600
    return round(hours, 1)


def bench_result(args, runners, rates, device, load_before) -> dict:
    """The results file's contents from the rounds measured so far (medians over them)."""
    import keras

    measured = rate_fields(rates)
    median = measured["samples_per_s"]
    result = {
        "backend": keras.backend.backend(),
        "precision": args.precision,
        "policies": {name: runner.policy for name, runner in runners.items()
                     if isinstance(runner, KerasModel)},
        "device": {"kind": device.kind, "name": device.name,
                   "compute_capability": device.compute_capability},
        "cpu_bf16_flags": list(device.cpu_flags),
        "cpu_count": os.cpu_count(),
        "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
        "rounds": args.rounds,
        "rounds_done": min(len(values) for values in rates.values()),
        **measured,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "paper_plan_hours_per_seed": paper_hours_per_seed(median),
    }
    if "resnet1d18" in median and "torch_resnet1d18" in median:
        result["resnet1d18_vs_torch"] = round(median["resnet1d18"] / median["torch_resnet1d18"], 3)
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.torch_worker:
        return torch_worker(args.batch_size)
    import keras

    from ecg_tl_keras.models import available_backbones
    from ecg_tl_keras.precision import current_device
    from ecg_tl_keras.training.rundir import write_json_atomic

    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    names = available_backbones() if args.models == "all" else args.models.split(",")
    x, y = fixed_batch(args.batch_size)
    load_before = os.getloadavg()
    runners = {name: KerasModel(name, args.precision, x, y) for name in names}
    if args.torch_reference:
        try:
            runners["torch_resnet1d18"] = TorchReference(args.batch_size)
        except ImportError:
            print("torch is not installed: no PyTorch reference", file=sys.stderr)
    rates = {name: [] for name in runners}
    for name, runner in runners.items():
        runner.run(args.warmup)
    device = current_device()
    out = args.out or (ROOT / "bench" / "results" / (
        f"train_{keras.backend.backend()}_{args.precision}_{device.kind}.json"))
    for round_index in range(args.rounds):
        for name, runner in runners.items():
            rates[name].append(args.steps * args.batch_size / runner.run(args.steps))
            print(f"round {round_index + 1}: {name} {rates[name][-1]:.1f} samples/s", flush=True)
        # After every round, so a run cut short (a time limit) keeps the rounds it finished.
        result = bench_result(args, runners, rates, device, load_before)
        write_json_atomic(out, result)
    if "torch_resnet1d18" in runners:
        runners["torch_resnet1d18"].close()
    print(json.dumps(result["samples_per_s"]), f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
