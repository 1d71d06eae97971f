"""Stage ``finetune``: fine-tune the top candidates and train from scratch, seed by seed.

Each (candidate, seed) fine-tune is paired with the from-scratch run of the
same backbone and seed; the gain is the difference of their test weighted F1.
Every run selects its epoch on the validation fold, and whether it learned is
judged there (:func:`ecg_tl_keras.study.learning.did_not_learn`: its selected
epoch's weighted F1 against the best constant predictor's, and its macro AUC).
:func:`ecg_tl_keras.study.stats.seed_gain_interval` gives the Student-t interval
over the seeds whose two runs both learned, and the verdict, as in the study
report. A preset's fine-tune is paired with its own architecture trained from scratch
and, as a second comparison, with the study's ResNet1d18 from scratch. A finished run
(``RunDir.is_finished``) is read back instead of trained again, and an interrupted one
resumes.

Example:
>>> runs = RunSettings(epochs=2, batch_size=32, lr=0.01, val_fold=8)  # doctest: +SKIP
>>> measure(candidate, "OUT/mine", "ADVICE", seeds=[0, 1, 2], settings=runs,
...         constant_f1=0.54)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from ecg_tl_keras.study.learning import did_not_learn
from ecg_tl_keras.study.findings import family_verdict
from ecg_tl_keras.study.stats import robust_p_value, seed_gain_interval
from ecg_tl_keras.built import BuiltDataset
from ecg_tl_keras.training import RunDir, TrainConfig, train

RUNS_DIR = "runs"
#: The backbone a preset's fine-tune is also compared with, trained from scratch (the study's).
REFERENCE_MODEL = "resnet1d18"


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The training settings every advise run shares."""

    epochs: int
    batch_size: int
    lr: float
    val_fold: int


def run_dir(out: Path, name: str, seed: int) -> Path:
    return Path(out) / RUNS_DIR / name / f"seed{seed}"


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
                    finetune_from: str | None = None, log=print, build=None) -> dict:
    """The ``metrics.json`` of one run (trained now unless it already finished).

    ``build``: called with the run's ``TrainConfig``, returns the model to train
    (``train(model=...)``) instead of building the registered backbone ``model`` (which then
    only names it).
    """
    config = TrainConfig(data=str(data), model=model, out=str(run_dir(out, name, seed)),
                         finetune_from=finetune_from, epochs=settings.epochs,
                         batch_size=settings.batch_size, lr=settings.lr, seed=seed,
                         val_fold=settings.val_fold, verbose=0)
    finished = RunDir(config.out).finished_metrics()
    if finished is not None:
        return finished
    log(f"training {config.out}")
    return train(config) if build is None else train(config, model=build(config))


def preset_from_scratch(preset, n_labels: int):
    """A function of a run's ``TrainConfig`` giving the preset's architecture with random
    weights from the run's seed, a head for ``n_labels`` (its input convention kept) and the
    precision the run's ``--precision`` gives the architecture's family, as its fine-tune
    gets: what training it from scratch starts from.
    """
    from ecg_tl_keras.models import get_backbone_spec, untrained_copy
    from ecg_tl_keras.models.presets import load_preset
    from ecg_tl_keras.precision import resolve_precision

    source, _ = load_preset(preset)

    def build(config):
        family = get_backbone_spec(config.model).family
        return untrained_copy(source, config.seed, n_labels,
                              resolve_precision(config.precision, family))

    return build


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
    """Fine-tunes ``candidate`` and trains its architecture from scratch for each seed; for a
    preset, also :data:`REFERENCE_MODEL` from scratch (the study's backbone).

    A checkpoint's scratch run builds its registered backbone on the data (``scratch-MODEL``);
    a preset's rebuilds the preset's own architecture and input convention with fresh weights
    (``scratch-NAME``, :func:`preset_from_scratch`).

    Args:
        candidate: the checkpoint (``name``, ``path``, ``model``, ``kind``).
        data, out: the target dataset and the advice folder.
        seeds: the seeds.
        settings: the training budget.
        constant_f1: the best constant predictor's weighted F1 on the selection split.

    Returns:
        Per seed (lists in ``seeds`` order): ``finetune_`` and ``scratch_`` ``test_f1``,
        ``val_f1``, ``val_auc`` (selected epoch, selection split) and ``learned``; ``gains``
        (test, every seed); ``compared_seeds`` (both runs learned) and ``interval``
        (``estimate``, ``low``, ``high``, ``method``, ``verdict``) over them, None when no
        seed has two runs that learned. A preset's also has ``reference``: the same keys for
        fine-tuning against :data:`REFERENCE_MODEL` from scratch (its ``scratch_model``).
    """
    tuned = [_scores_of(data, out, candidate.model, candidate.name, seed, settings, constant_f1,
                        log, finetune_from=str(candidate.path)) for seed in seeds]
    if candidate.kind == "preset":
        label, runs = f"{candidate.name}'s {candidate.model}", f"scratch-{candidate.name}"
        build = preset_from_scratch(candidate.path, len(BuiltDataset.open(data).labels))
    else:
        label, runs, build = candidate.model, scratch_name(candidate.model), None
    scratch = [_scores_of(data, out, candidate.model, runs, seed, settings, constant_f1, log,
                          build=build) for seed in seeds]
    result = {"seeds": list(seeds), **_roles("finetune", tuned),
              **_comparison(label, tuned, scratch, seeds)}
    if candidate.kind == "preset" and candidate.model != REFERENCE_MODEL:
        reference = [_scores_of(data, out, REFERENCE_MODEL, scratch_name(REFERENCE_MODEL), seed,
                                settings, constant_f1, log) for seed in seeds]
        result["reference"] = {"seeds": list(seeds),
                               **_comparison(REFERENCE_MODEL, tuned, reference, seeds)}
    return result


def _scores_of(data, out, model, name, seed, settings, constant_f1, log, **how) -> dict:
    """One run's scores; ``how``: ``finetune_from`` or ``build`` (None ones left out)."""
    how = {key: value for key, value in how.items() if value is not None}
    metrics = trained_metrics(data, out, model, name, seed, settings, log=log, **how)
    return _scores(metrics, run_dir(out, name, seed), constant_f1)


def _roles(role: str, rows: list[dict]) -> dict:
    return {f"{role}_{key}": [row[key] for row in rows]
            for key in ("test_f1", "val_f1", "val_auc", "learned")}


def _comparison(scratch_model: str, tuned: list[dict], scratch: list[dict], seeds) -> dict:
    """The scratch runs' scores and the paired gains of fine-tuning over them."""
    compared = [i for i, (a, b) in enumerate(zip(tuned, scratch)) if a["learned"] and b["learned"]]
    gains = [a["test_f1"] - b["test_f1"] for a, b in zip(tuned, scratch)]
    return {"scratch_model": scratch_model, **_roles("scratch", scratch), "gains": gains,
            "compared_seeds": [seeds[i] for i in compared],
            "interval": gain_interval([gains[i] for i in compared]) if compared else None}


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
