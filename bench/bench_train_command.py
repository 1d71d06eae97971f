"""The `train` command's training rate against the PyTorch reference, alternating, in one run.

Builds the bundled PTB-XL sample (987 real records, ``strat_fold`` split) into a temporary
folder, then, ``--rounds`` times in turn:

- for each ``--backends`` Keras backend B (``KERAS_BACKEND=B`` for the subprocess; by default
  TensorFlow and JAX, those not installed left out) and each ``--precisions`` P,
  ``ecg-tl-keras train --model resnet1d18 --precision P`` (a subprocess each, a fresh run
  directory, ``--batch-size 256``, ``--epochs E``): the records per second of every epoch
  after the first (which compiles) from the run's ``history.csv``, whose ``seconds`` cover
  the whole epoch: the input pipeline, the training steps and the per-epoch prediction of the
  validation and test splits;
- the same work in PyTorch (the ResNet1d18 of ``bench/bench_train.py``, Adam + binary
  cross-entropy), once in float32 and once under ``torch.autocast("cpu", torch.bfloat16)``
  (a fresh process each): each epoch trains once over the same training records in shuffled
  batches of 256 from memory, then predicts the validation and test records.

Variant names: ``train_<P>`` under TensorFlow (the names before JAX was measured),
``train_<B>_<P>`` under another backend B, ``torch_float32`` and ``torch_bfloat16``. The median
over rounds of each variant is reported with every round's value and the ratios the speed
issue asks for: per backend, ``--precision auto`` against PyTorch's fastest setting
(``*_vs_torch_fastest``) and against PyTorch float32 (``*_vs_torch``), our float32 against
PyTorch float32, and each round's ratios (``ratios_by_round``); ``must_show`` holds the two
checks for the backend ``train`` runs under by default (Keras' default, TensorFlow). Also the
CPU's bfloat16 flags and the load average before and after.

    python bench/bench_train_command.py --out bench/results/train_command_cpu.json

Output: ``bench/results/train_command_<device>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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

from bench_train import TORCH_PRECISIONS  # noqa: E402  (bench/ is on the path from here)
from run_record import machine_fields, rate_fields  # noqa: E402

MODEL = "resnet1d18"
#: The PyTorch reference's variants: float32 and ``torch.autocast`` bfloat16.
TORCH_VARIANTS = tuple(f"torch_{precision}" for precision in TORCH_PRECISIONS)
BATCH_SIZE = 256
VAL_FOLD = 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", default="auto,float32",
                        help="comma-separated --precision values (default auto,float32)")
    parser.add_argument("--backends", default="tensorflow,jax",
                        help="comma-separated Keras backends (default tensorflow,jax)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per run; the first is not timed (default 3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every variant (default 3: about 9 minutes on an idle "
                             "2-core CPU, 2 about 6)")
    parser.add_argument("--no-torch-reference", dest="torch_reference", action="store_false")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--torch-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--torch-precision", default="float32", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_sample(root: Path) -> Path:
    """The bundled PTB-XL sample built with its ``strat_fold`` split; returns the dataset folder."""
    from tfrecords_builder import build_dataset

    with resources.as_file(resources.files("ecg_tl_keras") / "sample_data" / "ptbxl") as sample:
        build_dataset("ptbxl", sample, root, split="strat_fold", seed=0, workers=0,
                      progress=False, log=lambda line: None)
    return root / "ptbxl"


#: Keras' default backend: the one `train` runs under unless KERAS_BACKEND says otherwise.
DEFAULT_BACKEND = "tensorflow"


def variant_name(backend: str, precision: str) -> str:
    """A `train` variant's key: ``train_<precision>`` under TensorFlow, else with the backend.

    Example:
        >>> variant_name("tensorflow", "auto"), variant_name("jax", "float32")
        ('train_auto', 'train_jax_float32')
    """
    if backend == DEFAULT_BACKEND:
        return f"train_{precision}"
    return f"train_{backend}_{precision}"


def installed_backends(names: str) -> list[str]:
    """The comma-separated Keras backends whose framework is installed (others left out)."""
    import importlib.util

    found = []
    for backend in names.split(","):
        if importlib.util.find_spec(backend) is None:
            print(f"{backend} is not installed: left out", file=sys.stderr)
        else:
            found.append(backend)
    return found


def train_command_rate(data: Path, out: Path, precision: str, epochs: int,
                       backend: str = DEFAULT_BACKEND) -> dict:
    """Records/s of the untimed-first-epoch-excluded epochs of one `train` command run."""
    command = [sys.executable, "-m", "ecg_tl_keras", "train", "--data", str(data),
               "--model", MODEL, "--out", str(out), "--precision", precision,
               "--epochs", str(epochs), "--batch-size", str(BATCH_SIZE),
               "--val-fold", str(VAL_FOLD), "--no-verify"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "KERAS_BACKEND": backend})
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

    ``precision``: ``"float32"`` or ``"bfloat16"`` (``torch.autocast``, training and
    prediction). Runs in its own process (``--torch-worker``): PyTorch and TensorFlow in one
    process crash.
    """

    def __init__(self, arrays: Path, seed: int = 0, precision: str = "float32"):
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
        self.trainer = TorchTrainer(torch, self.train_y.shape[1], precision=precision)
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
                    torch.sigmoid(self.trainer.logits(x[start:start + BATCH_SIZE]))
        return time.perf_counter() - started

    def rate(self, epochs: int) -> float:
        """Records/s over the epochs after an untimed first one (as for the `train` command)."""
        self.epoch()
        seconds = [self.epoch() for _ in range(epochs - 1)]
        return len(self.train_x) * len(seconds) / sum(seconds)


def torch_rate(arrays: Path, epochs: int, precision: str = "float32") -> float | None:
    """The PyTorch reference's records/s, from a fresh process (None: torch is not installed)."""
    done = subprocess.run([sys.executable, __file__, "--torch-worker", str(arrays),
                           "--epochs", str(epochs), "--torch-precision", precision],
                          stdout=subprocess.PIPE, text=True)
    if done.returncode == 3:
        return None
    done.check_returncode()
    return float(done.stdout.strip().splitlines()[-1])


def torch_worker(arrays: Path, epochs: int, precision: str) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed: no PyTorch reference", file=sys.stderr)
        return 3
    print(TorchEpochs(arrays, precision=precision).rate(epochs))
    return 0


def comparisons(values: dict, backends: list[str], precisions: list[str]) -> dict:
    """The speed issue's ratios between the variants' ``values`` (medians, or one round's).

    Per backend: ``<variant>_vs_torch`` (against PyTorch float32),
    ``<auto variant>_vs_torch_fastest`` (against the faster of PyTorch float32 and bfloat16)
    and ``<variant>_vs_<float32 variant>``.

    Example:
        >>> ratios = comparisons({"train_auto": 300.0, "train_float32": 150.0,
        ...                       "torch_float32": 100.0, "torch_bfloat16": 200.0},
        ...                      ["tensorflow"], ["auto", "float32"])
        >>> for name, ratio in ratios.items():
        ...     print(name, ratio)
        train_auto_vs_torch 3.0
        train_auto_vs_torch_fastest 1.5
        train_auto_vs_train_float32 2.0
        train_float32_vs_torch 1.5
    """
    torch_values = [values[name] for name in TORCH_VARIANTS if name in values]
    ratios = {}
    for backend in backends:
        float32 = variant_name(backend, "float32")
        for precision in precisions:
            name = variant_name(backend, precision)
            if name not in values:
                continue
            if "torch_float32" in values:
                ratios[f"{name}_vs_torch"] = round(values[name] / values["torch_float32"], 3)
            if precision == "auto" and torch_values:
                ratios[f"{name}_vs_torch_fastest"] = round(values[name] / max(torch_values), 3)
            if precision != "float32" and float32 in values:
                ratios[f"{name}_vs_{float32}"] = round(values[name] / values[float32], 3)
    return ratios


def must_show(median: dict, backend: str = DEFAULT_BACKEND) -> dict | None:
    """The issue's two checks for ``backend`` (None without both PyTorch variants)."""
    if not all(name in median for name in TORCH_VARIANTS):
        return None
    fastest = max(TORCH_VARIANTS, key=median.get)
    auto, float32 = (median.get(variant_name(backend, p)) for p in ("auto", "float32"))
    checks = {"backend": backend, "torch_fastest": fastest}
    if auto is not None:
        checks["auto_vs_torch_fastest"] = round(auto / median[fastest], 3)
        checks["auto_reached"] = auto >= median[fastest]
    if float32 is not None:
        checks["float32_vs_torch_float32"] = round(float32 / median["torch_float32"], 3)
        checks["float32_reached"] = float32 >= median["torch_float32"]
    return checks


def main(argv=None):
    args = parse_args(argv)
    from ecg_tl_keras.training.rundir import write_json_atomic
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2 (the first epoch is not timed)")
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.epochs, args.torch_precision)
    from ecg_tl_keras.precision import current_device

    precisions = args.precisions.split(",")
    backends = installed_backends(args.backends)
    load_before, started = os.getloadavg(), time.perf_counter()
    rates: dict[str, list[float]] = {variant_name(b, p): [] for b in backends for p in precisions}
    used: dict[str, dict[str, str]] = {backend: {} for backend in backends}
    with tempfile.TemporaryDirectory() as tmp:
        data = build_sample(Path(tmp) / "data")
        arrays = export_arrays(data, Path(tmp) / "arrays.npz") if args.torch_reference else None
        for round_index in range(args.rounds):
            for backend in backends:
                for precision in precisions:
                    name = variant_name(backend, precision)
                    result = train_command_rate(data, Path(tmp) / f"{name}_{round_index}",
                                                precision, args.epochs, backend)
                    rates[name].append(result["samples_per_s"])
                    used[backend][precision] = result["precision_used"]
                    train_records = result["train_records"]
            for precision in TORCH_PRECISIONS:
                rate = None if arrays is None else torch_rate(arrays, args.epochs, precision)
                if rate is not None:
                    rates.setdefault(f"torch_{precision}", []).append(rate)
            print(f"round {round_index + 1}: " + ", ".join(
                f"{name} {values[-1]:.1f}" for name, values in rates.items()), flush=True)
    measured = rate_fields(rates)
    median = measured["samples_per_s"]
    device = current_device()
    result = {
        "what": "records/s of whole `ecg-tl-keras train` epochs (pipeline, training, val and test "
                "prediction) after the first, ResNet1d18, batch 256, the bundled PTB-XL sample; "
                "the PyTorch reference does the same epoch from memory",
        "model": MODEL, "batch_size": BATCH_SIZE, "epochs": args.epochs, "rounds": args.rounds,
        "train_records": train_records, "policies": used.get(DEFAULT_BACKEND, {}),
        "policies_by_backend": used, "backends": backends,
        **machine_fields(device, load_before), **measured,
        "wall_seconds": round(time.perf_counter() - started),
    }
    ratios = comparisons(median, backends, precisions)
    result["ratios"] = ratios
    result["ratios_by_round"] = {name: [comparisons(
        {variant: values[index] for variant, values in rates.items()}, backends,
        precisions)[name] for index in range(args.rounds)] for name in ratios}
    result["must_show"] = must_show(median)
    out = args.out or ROOT / "bench" / "results" / f"train_command_{device.kind}.json"
    write_json_atomic(out, result)
    print(json.dumps({"samples_per_s": median, "ratios": ratios}), f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
