"""Stage ``finetune``: fine-tune the top candidates and train from scratch, seed by seed.

Each (candidate, seed) fine-tune is paired with the from-scratch run of the
same backbone and seed; the gain is the difference of their test weighted F1.
Every run selects its epoch on the validation fold, and whether it learned is
judged there (:func:`ecg_tl_keras.study.learning.did_not_learn`: its selected
epoch's weighted F1 against the best constant predictor's, and its macro AUC).
:func:`ecg_tl_keras.study.stats.seed_gain_interval` gives the Student-t interval
over the seeds whose two runs both learned, and the verdict, as in the study
report. A finished run (``RunDir.is_finished``) is read back instead of trained
again, and an interrupted one resumes.

Example:
>>> runs = RunSettings(epochs=2, batch_size=32, lr=0.01, val_fold=8)  # doctest: +SKIP
>>> measure(candidate, "OUT/mine", "ADVICE", seeds=[0, 1, 2], settings=runs,
...         constant_f1=0.54)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Callable

from ecg_tl_keras.study.learning import did_not_learn
from ecg_tl_keras.study.findings import family_verdict
from ecg_tl_keras.study.stats import robust_p_value, seed_gain_interval
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


def check_earlier_runs(out, settings: RunSettings) -> None:
    """Refuses an advice folder whose runs were trained with other settings, before anything
    is written (an earlier ``advise`` into the same ``--out`` with other flags or budget).

    Raises:
        ValueError: naming the first such run and the settings that differ.
    """
    for config_file in sorted((Path(out) / RUNS_DIR).glob(f"*/seed*/{RunDir.CONFIG}")):
        stored = RunDir(config_file.parent).stored_config()
        changed = [name for name, value in dataclasses.asdict(settings).items()
                   if stored.get(name) != value]
        if changed:
            raise ValueError(f"{config_file.parent} holds a run with other settings "
                             f"({', '.join(changed)}) from an earlier advise: give advise "
                             f"another --out, or the settings of that run")


def trained_metrics(data, out, model: str, name: str, seed: int, settings: RunSettings,
                    finetune_from: str | None = None, log=print) -> dict:
    """The ``metrics.json`` of one run (trained now unless it already finished)."""
    config = TrainConfig(data=str(data), model=model, out=str(run_dir(out, name, seed)),
                         finetune_from=finetune_from, epochs=settings.epochs,
                         batch_size=settings.batch_size, lr=settings.lr, seed=seed,
                         val_fold=settings.val_fold, verbose=0)
    return _trained(config, log)


def selection_auc(out, metrics: dict) -> float:
    """The selected epoch's macro AUC on the selection split, from the run's ``history.csv``
    (NaN when the column is missing or empty)."""
    with open(RunDir(out).history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    value = rows[metrics["best_epoch"] - 1].get(f"{metrics['select_on']}_macro_auc") or "nan"
    return float(value)


def scratch_name(model: str) -> str:
    return f"scratch-{model}"


def _scores(metrics: dict, out: Path, constant_f1: float) -> dict:
    """One run's test and selection-split scores, and whether it learned."""
    val_f1 = metrics["best_selection_weighted_f1"]
    val_auc = selection_auc(out, metrics)
    return {"test_f1": metrics["test_weighted_f1"], "val_f1": val_f1, "val_auc": val_auc,
            "learned": not did_not_learn(val_f1, constant_f1, val_auc)}


def measure(candidate, data, out, seeds, settings: RunSettings, constant_f1: float,
            log=print) -> dict:
    """Fine-tunes ``candidate`` and trains its backbone from scratch for each seed.

    Args:
        candidate: the checkpoint (``name``, ``path``, ``model``).
        data, out: the target dataset and the advice folder.
        seeds: the seeds.
        settings: the training budget.
        constant_f1: the best constant predictor's weighted F1 on the selection split.

    Returns:
        Per seed (lists in ``seeds`` order): ``finetune_`` and ``scratch_`` ``test_f1``,
        ``val_f1``, ``val_auc`` (selected epoch, selection split) and ``learned``; ``gains``
        (test, every seed); ``compared_seeds`` (both runs learned) and ``interval``
        (``estimate``, ``low``, ``high``, ``method``, ``verdict``) over them, None when no
        seed has two runs that learned.
    """
    rows = []
    for seed in seeds:
        tuned = trained_metrics(data, out, candidate.model, candidate.name, seed, settings,
                                finetune_from=str(candidate.path), log=log)
        scratch = trained_metrics(data, out, candidate.model, scratch_name(candidate.model), seed,
                                  settings, log=log)
        rows.append((_scores(tuned, run_dir(out, candidate.name, seed), constant_f1),
                     _scores(scratch, run_dir(out, scratch_name(candidate.model), seed),
                             constant_f1)))
    result = {"seeds": list(seeds), "scratch_model": candidate.model}
    for index, role in enumerate(("finetune", "scratch")):
        for key in ("test_f1", "val_f1", "val_auc", "learned"):
            result[f"{role}_{key}"] = [row[index][key] for row in rows]
    result["gains"] = [tuned["test_f1"] - scratch["test_f1"] for tuned, scratch in rows]
    compared = [i for i, (tuned, scratch) in enumerate(rows)
                if tuned["learned"] and scratch["learned"]]
    result["compared_seeds"] = [seeds[i] for i in compared]
    result["interval"] = None
    if compared:
        result["interval"] = gain_interval([result["gains"][i] for i in compared])
    return result


def gain_interval(gains: list[float]) -> dict:
    """The t-interval of the mean gain over seeds and its verdict, ``not-robust`` when a check
    without normality (from 5 seeds) disagrees, as the study report words one comparison.

    Example:
        >>> gain_interval([0.02, 0.025, 0.022])["verdict"]
        'positive'
        >>> gain_interval([0.02, 0.02])["verdict"], gain_interval([0.02])["verdict"]
        ('none', 'single-seed')
    """
    interval = seed_gain_interval(gains)
    robust_p, robust_method = robust_p_value(gains)
    verdict = family_verdict(interval.verdict, interval.estimate, interval.p_value, robust_p)
    return {"estimate": interval.estimate, "low": interval.low, "high": interval.high,
            "method": interval.method, "p_value": interval.p_value, "robust_p": robust_p,
            "robust_method": robust_method, "verdict": verdict.value}
