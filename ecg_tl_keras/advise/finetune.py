"""Stage ``finetune``: fine-tune the top candidates and train from scratch, seed by seed.

Each (candidate, seed) fine-tune is paired with the from-scratch run of the
same backbone and seed; the gain is the difference of their test weighted F1,
and :func:`ecg_tl_keras.study.stats.seed_gain_interval` gives its Student-t
interval over seeds and the verdict, as in the study report. Every run
selects its epoch on the validation fold; a finished run
(``RunDir.is_finished``) is read back instead of trained again, and an
interrupted one resumes.

Example:
>>> runs = RunSettings(epochs=2, batch_size=32, lr=0.01, val_fold=8)  # doctest: +SKIP
>>> measure(candidate, "OUT/mine", "ADVICE", seeds=[0, 1, 2], settings=runs)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from ecg_tl_keras.study.stats import seed_gain_interval
from ecg_tl_keras.training import RunDir, TrainConfig, train

RUNS_DIR = "runs"


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The training settings every advise run shares."""

    epochs: int
    batch_size: int
    lr: float
    val_fold: int


def run_dir(out: Path, name: str, seed: int) -> Path:
    return Path(out) / RUNS_DIR / name / f"seed{seed}"


def _trained(config: TrainConfig, log: Callable[[str], None]) -> dict:
    finished = RunDir(config.out).finished_metrics()
    if finished is not None:
        return finished
    log(f"training {config.out}")
    return train(config)


def trained_metrics(data, out, model: str, name: str, seed: int, settings: RunSettings,
                    finetune_from: str | None = None, log=print) -> dict:
    """The ``metrics.json`` of one run (trained now unless it already finished)."""
    config = TrainConfig(data=str(data), model=model, out=str(run_dir(out, name, seed)),
                         finetune_from=finetune_from, epochs=settings.epochs,
                         batch_size=settings.batch_size, lr=settings.lr, seed=seed,
                         val_fold=settings.val_fold, verbose=0)
    return _trained(config, log)


def scratch_name(model: str) -> str:
    return f"scratch-{model}"


def measure(candidate, data, out, seeds, settings: RunSettings, log=print) -> dict:
    """Fine-tunes ``candidate`` and trains its backbone from scratch for each seed.

    Returns:
        ``{"seeds", "finetune_test_f1", "scratch_test_f1", "finetune_val_f1", "gains",
        "interval": {"estimate", "low", "high", "method", "verdict"}}``.
    """
    rows = []
    for seed in seeds:
        tuned = trained_metrics(data, out, candidate.model, candidate.name, seed, settings,
                                finetune_from=str(candidate.path), log=log)
        scratch = trained_metrics(data, out, candidate.model, scratch_name(candidate.model), seed,
                                  settings, log=log)
        rows.append((tuned, scratch))
    gains = [t["test_weighted_f1"] - s["test_weighted_f1"] for t, s in rows]
    interval = seed_gain_interval(gains)
    return {
        "seeds": list(seeds),
        "finetune_test_f1": [t["test_weighted_f1"] for t, _ in rows],
        "scratch_test_f1": [s["test_weighted_f1"] for _, s in rows],
        "finetune_val_f1": [t["best_selection_weighted_f1"] for t, _ in rows],
        "gains": gains,
        "interval": {"estimate": interval.estimate, "low": interval.low, "high": interval.high,
                     "method": interval.method, "verdict": interval.verdict},
    }
