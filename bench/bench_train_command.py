"""The `train` command's training rate against the PyTorch reference, alternating, in one run.

Builds the bundled PTB-XL sample (987 real records, ``strat_fold`` split) into a temporary
folder, then, ``--rounds`` times in turn:

- ``ecg-tl-keras train --model resnet1d18 --precision P`` for each ``--precisions`` P (a
  subprocess each, a fresh run directory, ``--batch-size 256``, ``--epochs E``): the
  records per second of every epoch after the first (which compiles) from the run's
  ``history.csv``, whose ``seconds`` cover the whole epoch: the input pipeline, the training
  steps and the per-epoch prediction of the validation and test splits;
- the same work in PyTorch (float32, the ResNet1d18 of ``bench/bench_train.py``, Adam +
  binary cross-entropy): each epoch trains once over the same training records in shuffled
  batches of 256 from memory, then predicts the validation and test records.

The median over rounds of each variant is reported with the ratios the speed issue asks
for (``--precision auto`` against the PyTorch reference and against our own float32), the
CPU's bfloat16 flags and the load average before and after.

    python bench/bench_train_command.py --out bench/results/train_command_cpu.json

Output: ``bench/results/train_command_<device>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODEL = "resnet1d18"
BATCH_SIZE = 256
VAL_FOLD = 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", default="auto,float32",
                        help="comma-separated --precision values (default auto,float32)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per run; the first is not timed (default 3)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-torch-reference", dest="torch_reference", action="store_false")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--torch-worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_sample(root: Path) -> Path:
    """The bundled PTB-XL sample built with its ``strat_fold`` split; returns the dataset folder."""
    from tfrecords_builder import build_dataset

    with resources.as_file(resources.files("ecg_tl_keras") / "sample_data" / "ptbxl") as sample:
        build_dataset("ptbxl", sample, root, split="strat_fold", seed=0, workers=0,
                      progress=False, log=lambda line: None)
    return root / "ptbxl"


def train_command_rate(data: Path, out: Path, precision: str, epochs: int) -> dict:
    """Records/s of the untimed-first-epoch-excluded epochs of one `train` command run."""
    command = [sys.executable, "-m", "ecg_tl_keras", "train", "--data", str(data),
               "--model", MODEL, "--out", str(out), "--precision", precision,
               "--epochs", str(epochs), "--batch-size", str(BATCH_SIZE),
               "--val-fold", str(VAL_FOLD), "--no-verify"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(out / "history.csv", newline="") as handle:
        seconds = [float(row["seconds"]) for row in csv.DictReader(handle)][1:]
    metrics = json.loads((out / "metrics.json").read_text())
    records = metrics["records"]["train"]
    return {"samples_per_s": records * len(seconds) / sum(seconds), "train_records": records,
            "precision_used": json.loads((out / "config.json").read_text())["precision"]}


def export_arrays(data: Path, dest: Path) -> Path:
    """The training, validation and test records as NumPy arrays (for the PyTorch process)."""
    import numpy as np

    from ecg_tl_keras import datasets

    def arrays(split, **filters):
        x, y = [], []
        for signal, labels in datasets.load_split(data, split, batch_size=512, **filters):
            x.append(signal.numpy())
            y.append(labels.numpy())
        return np.concatenate(x), np.concatenate(y)

    train_x, train_y = arrays("train", exclude_folds=[VAL_FOLD])
    np.savez(dest, train_x=train_x, train_y=train_y, val_x=arrays("train", folds=[VAL_FOLD])[0],
             test_x=arrays("test")[0])
    return dest


class TorchEpochs:
    """The `train` command's epoch in plain PyTorch: train over the records, predict val and test.

    Runs in its own process (``--torch-worker``): PyTorch and TensorFlow in one process crash.
    """

    def __init__(self, arrays: Path, seed: int = 0):
        import numpy as np
        import torch

        from bench_train import TorchTrainer

        def channels_first(name):
            return torch.from_numpy(stored[name]).permute(0, 2, 1).contiguous()

        stored = np.load(arrays)
        torch.manual_seed(seed)
        self.torch = torch
        self.train_x, self.train_y = channels_first("train_x"), torch.from_numpy(stored["train_y"])
        self.eval_x = [channels_first("val_x"), channels_first("test_x")]
        self.trainer = TorchTrainer(torch, self.train_y.shape[1])
        self.model = self.trainer.model
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self) -> float:
        """One epoch's seconds."""
        torch = self.torch
        started = time.perf_counter()
        self.model.train()
        order = torch.randperm(len(self.train_x), generator=self.generator)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            self.trainer.step(self.train_x[batch], self.train_y[batch])
        self.model.eval()
        with torch.no_grad():
            for x in self.eval_x:
                for start in range(0, len(x), BATCH_SIZE):
                    torch.sigmoid(self.model(x[start:start + BATCH_SIZE]))
        return time.perf_counter() - started

    def rate(self, epochs: int) -> float:
        """Records/s over the epochs after an untimed first one (as for the `train` command)."""
        self.epoch()
        seconds = [self.epoch() for _ in range(epochs - 1)]
        return len(self.train_x) * len(seconds) / sum(seconds)


def torch_rate(arrays: Path, epochs: int) -> float | None:
    """The PyTorch reference's records/s, from a fresh process (None: torch is not installed)."""
    done = subprocess.run([sys.executable, __file__, "--torch-worker", str(arrays),
                           "--epochs", str(epochs)], stdout=subprocess.PIPE, text=True)
    if done.returncode == 3:
        return None
    done.check_returncode()
    return float(done.stdout.strip().splitlines()[-1])


def torch_worker(arrays: Path, epochs: int) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed: no PyTorch reference", file=sys.stderr)
        return 3
    print(TorchEpochs(arrays).rate(epochs))
    return 0


def main(argv=None):
    args = parse_args(argv)
    from ecg_tl_keras.training.rundir import write_json_atomic
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2 (the first epoch is not timed)")
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.epochs)
    from ecg_tl_keras.precision import current_device

    precisions = args.precisions.split(",")
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {f"train_{p}": [] for p in precisions}
    used = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = build_sample(Path(tmp) / "data")
        arrays = export_arrays(data, Path(tmp) / "arrays.npz") if args.torch_reference else None
        for round_index in range(args.rounds):
            for precision in precisions:
                result = train_command_rate(data, Path(tmp) / f"run_{precision}_{round_index}",
                                            precision, args.epochs)
                rates[f"train_{precision}"].append(result["samples_per_s"])
                used[precision], train_records = result["precision_used"], result["train_records"]
            rate = None if arrays is None else torch_rate(arrays, args.epochs)
            if rate is not None:
                rates.setdefault("torch_float32", []).append(rate)
            print(f"round {round_index + 1}: " + ", ".join(
                f"{name} {values[-1]:.1f}" for name, values in rates.items()), flush=True)
    median = {name: round(statistics.median(values), 1) for name, values in rates.items()}
    device = current_device()
    result = {
        "what": "records/s of whole `ecg-tl-keras train` epochs (pipeline, training, val and test "
                "prediction) after the first, ResNet1d18, batch 256, the bundled PTB-XL sample; "
                "the PyTorch reference does the same epoch from memory",
        "model": MODEL, "batch_size": BATCH_SIZE, "epochs": args.epochs, "rounds": args.rounds,
        "train_records": train_records, "policies": used,
        "device": {"kind": device.kind, "name": device.name},
        "cpu_bf16_flags": list(device.cpu_flags), "cpu_count": os.cpu_count(),
        "samples_per_s": median,
        "samples_per_s_by_round": {name: [round(v, 1) for v in values]
                                   for name, values in rates.items()},
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }
    ratios = {}
    for precision in precisions:
        if "torch_float32" in median:
            ratios[f"train_{precision}_vs_torch"] = round(
                median[f"train_{precision}"] / median["torch_float32"], 3)
        if precision != "float32" and "float32" in precisions:
            ratios[f"train_{precision}_vs_train_float32"] = round(
                median[f"train_{precision}"] / median["train_float32"], 3)
    result["ratios"] = ratios
    out = args.out or ROOT / "bench" / "results" / f"train_command_{device.kind}.json"
    write_json_atomic(out, result)
    print(json.dumps({"samples_per_s": median, "ratios": ratios}), f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
