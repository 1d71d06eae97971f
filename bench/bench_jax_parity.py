"""`train` under the JAX backend without TensorFlow against `train` under TensorFlow.

Builds the bundled PTB-XL sample (987 real records, ``strat_fold`` split) into a temporary
folder and runs ``ecg-tl-keras train`` on it once per seed under each backend, each in its
own process with the same arguments (``--precision float32``, best epoch selected on a
validation fold of train): under ``KERAS_BACKEND=tensorflow``, and under
``KERAS_BACKEND=jax`` with TensorFlow made unimportable (``bench/no_tensorflow`` on
``PYTHONPATH``; or, with ``--jax-python``, the Python of a virtual environment that has no
TensorFlow). For each run: test weighted F1, macro AUC and the best constant predictor's test
weighted F1 (every label predicted present, ``study.stats.no_skill_baselines``). The summary
holds the mean test weighted F1 per backend over the seeds, their difference (the issue asks
for at most 0.05) and whether every run beats the constant predictor.

    python bench/bench_jax_parity.py --out bench/results/jax_parity_cpu.json

Output: ``bench/results/jax_parity_cpu.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
NO_TENSORFLOW = ROOT / "bench" / "no_tensorflow"
BACKENDS = ("tensorflow", "jax")
#: The largest difference of mean test weighted F1 the issue accepts.
TOLERANCE = 0.05


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet1d18")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    parser.add_argument("--data", type=Path, help="a built dataset (default: the bundled "
                        "PTB-XL sample, built here)")
    parser.add_argument("--jax-python", default=sys.executable,
                        help="the Python of the JAX runs (default this one, TensorFlow blocked)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                        "jax_parity_cpu.json")
    return parser.parse_args(argv)


def backend_env(backend: str) -> dict:
    """The environment of a ``train`` process under ``backend`` (JAX: TensorFlow blocked)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    paths = [str(ROOT), env.get("PYTHONPATH")]
    if backend != "tensorflow":
        paths.insert(0, str(NO_TENSORFLOW))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


def train_run(python: str, backend: str, data: Path, out: Path, args, seed: int) -> dict:
    """One ``train`` process; its test metrics and the constant predictor's test F1."""
    from ecg_tl_keras.study.stats import no_skill_baselines

    command = [python, "-m", "ecg_tl_keras", "train", "--data", str(data), "--model", args.model,
               "--out", str(out), "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--lr", str(args.lr), "--seed", str(seed),
               "--precision", "float32"]
    started = time.perf_counter()
    done = subprocess.run(command, env=backend_env(backend), cwd=ROOT, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} seed {seed} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    with np.load(out / "predictions_test.npz") as stored:
        constant = no_skill_baselines(stored["y_true"], None)["constant"]
    return {"backend": backend, "seed": seed, "test_weighted_f1": metrics["test_weighted_f1"],
            "test_macro_auc": metrics["test_macro_auc"], "constant_weighted_f1": constant,
            "beats_constant": metrics["test_weighted_f1"] > constant,
            "best_epoch": metrics["best_epoch"], "seconds": round(time.perf_counter() - started, 1),
            "versions": json.loads((out / "config.json").read_text())["versions"]}


def summarize(runs: list[dict]) -> dict:
    """Mean test weighted F1 per backend, their difference and the two checks.

    Example:
        >>> summarize([{"backend": "tensorflow", "test_weighted_f1": 0.6, "beats_constant": True},
        ...            {"backend": "jax", "test_weighted_f1": 0.62, "beats_constant": True}])
        {'mean_test_weighted_f1': {'tensorflow': 0.6, 'jax': 0.62}, 'difference_jax_minus_tensorflow': 0.02, 'within_tolerance': True, 'tolerance': 0.05, 'every_run_beats_constant': True}
    """
    means = {backend: round(float(np.mean([r["test_weighted_f1"] for r in runs
                                          if r["backend"] == backend])), 4)
             for backend in BACKENDS}
    difference = round(means["jax"] - means["tensorflow"], 4)
    return {"mean_test_weighted_f1": means, "difference_jax_minus_tensorflow": difference,
            "within_tolerance": abs(difference) <= TOLERANCE, "tolerance": TOLERANCE,
            "every_run_beats_constant": all(r["beats_constant"] for r in runs)}


def _has_tensorflow(python: str) -> bool:
    """Whether TensorFlow is installed for ``python`` (the JAX runs block it either way)."""
    done = subprocess.run([python, "-c", "import importlib.util, sys; "
                           "sys.exit(importlib.util.find_spec('tensorflow') is None)"])
    return done.returncode == 0


def main(argv=None) -> dict:
    args = parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    data_named = args.data is not None
    with tempfile.TemporaryDirectory() as folder:
        if not data_named:
            from bench_train_command import build_sample

            args.data = build_sample(Path(folder) / "built")
        runs = []
        for seed in seeds:
            for backend in BACKENDS:
                python = args.jax_python if backend == "jax" else sys.executable
                runs.append(train_run(python, backend, args.data,
                                      Path(folder) / f"{backend}-{seed}", args, seed))
                print(json.dumps(runs[-1]), flush=True)
    result = {"settings": {"model": args.model, "epochs": args.epochs,
                           "batch_size": args.batch_size, "lr": args.lr, "seeds": seeds,
                           "precision": "float32", "select_on": "val",
                           "data": str(args.data) if data_named else "bundled PTB-XL sample",
                           "jax_python_has_tensorflow": _has_tensorflow(args.jax_python)},
              "machine": {"cpu": platform.processor() or platform.machine(),
                          "cores": os.cpu_count()},
              **summarize(runs), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))
    return result


if __name__ == "__main__":
    main()
