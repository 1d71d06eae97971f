"""``train(config)``: one training or fine-tuning run, written to a run directory.

Run directory contents:

- ``config.json``: every argument, versions, seed, label names, record counts;
- ``history.csv``: per epoch ``loss``, ``selection_<split>_weighted_f1``,
  ``test_weighted_f1``, ``test_macro_auc``, ``lr``, ``seconds``;
- ``best.keras``: the best epoch's model, label names stored inside;
- ``metrics.json``: test metrics of the best weights;
- ``predictions_test.npz``: ``record_id``, ``y_true``, ``y_prob`` (and ``labels``);
- ``tensorboard/``: TensorBoard logs;
- ``backup/`` and ``best_state/`` while training (deleted at the end): what
  running the same command again resumes from.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import platform
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import ecg_tl_keras
from ecg_tl_keras import datasets
from ecg_tl_keras.training import callbacks as cb
from ecg_tl_keras.training import distribution
from ecg_tl_keras.training.checkpoints import save_checkpoint
from ecg_tl_keras.training.config import TrainConfig
from ecg_tl_keras.training.data import DataPlan, plan_data
from ecg_tl_keras.training.evaluation import (
    EvalSplit,
    Predictor,
    evaluate,
    load_eval_split,
    save_predictions,
)
from ecg_tl_keras.training.finetune import (
    head_type,
    new_model,
    prepare_finetuning,
    trainable_parameter_count,
    transferred_model,
)

BACKUP_DIR = "backup"
BEST_STATE_DIR = "best_state"
# Arguments that may differ when an interrupted run is resumed.
RESUMABLE_CHANGES = ("strategy", "verbose")


def versions() -> dict:
    """Versions of Python, TensorFlow, Keras, NumPy and this package."""
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "ecg_tl_keras": ecg_tl_keras.__version__,
    }


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and TensorFlow; optionally enables op determinism."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def resume_epoch(backup_dir: Path) -> int:
    """Epochs completed by an interrupted run, from ``BackupAndRestore``'s metadata (0 if none)."""
    metadata = backup_dir / "training_metadata.json"
    if not metadata.is_file():
        return 0
    return int(json.loads(metadata.read_text())["epoch"])


def _check_resumable(run_dir: Path, config: TrainConfig) -> None:
    path = run_dir / "config.json"
    if not path.is_file():
        return
    before = json.loads(path.read_text())["config"]
    changed = sorted(
        key
        for key, value in config.to_dict().items()
        if key not in RESUMABLE_CHANGES and before.get(key) != value
    )
    if changed:
        raise ValueError(
            f"{run_dir} holds an interrupted run with different arguments ({', '.join(changed)}): "
            f"resume it with the same command, or use another --out"
        )


class _Console:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)


@dataclasses.dataclass
class _Run:
    """What the steps of one run share."""

    config: TrainConfig
    strategy: tf.distribute.Strategy
    manifest: dict
    run_dir: Path
    initial_epoch: int
    plan: DataPlan
    log: _Console

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def shape(self) -> tuple[int, int]:
        return datasets.input_shape(self.manifest)


def train(config: TrainConfig) -> dict:
    """Trains (or fine-tunes) a model and writes the run directory.

    Running the same command again after an interruption resumes from the
    last completed epoch.

    Args:
        config: the run's arguments.

    Returns:
        The contents of ``metrics.json``.

    Raises:
        FileNotFoundError: missing manifest, shard or checkpoint.
        ValueError: invalid arguments, unknown backbone, incompatible checkpoint.

    Example:
        >>> metrics = train(TrainConfig(data="OUT/ptbxl", model="lstm", out="runs/lstm",
        ...                             epochs=2))  # doctest: +SKIP
        >>> metrics["test_weighted_f1"]  # doctest: +SKIP
        0.61
    """
    started = time.perf_counter()
    run = _start(config)
    with run.strategy.scope():
        model, source = _build_model(run)
        model.compile(
            optimizer=keras.optimizers.Adam(config.lr, beta_1=0.9, beta_2=0.999),
            loss=keras.losses.BinaryCrossentropy(),
        )
        finetune_callbacks = prepare_finetuning(model, config.finetune, config.epochs, config.lr)
    _write_config(run, source)
    _announce(run, model)
    test = load_eval_split(config.data, "test")
    selection = test
    if run.plan.selection_filters is not None:
        selection = load_eval_split(config.data, "train", name="val", **run.plan.selection_filters)
    best = cb.BestWeightedF1(
        selection, test, state_dir=run.run_dir / BEST_STATE_DIR, resume=run.initial_epoch > 0
    )
    callbacks = [
        cb.EpochReseed(config.seed),
        *finetune_callbacks,
        best,
        cb.LearningRateLogger(),
        cb.HistoryCSV(
            run.run_dir / "history.csv",
            ["loss", best.key, "test_weighted_f1", "test_macro_auc", "lr"],
            run.initial_epoch,
        ),
        cb.TensorBoardScalars(run.run_dir / "tensorboard"),
        keras.callbacks.BackupAndRestore(str(run.run_dir / BACKUP_DIR)),
    ]
    _fit(run, model, callbacks)
    return _finish(run, model, test, best, source, started)


def _start(config: TrainConfig) -> _Run:
    """Strategy first (multi-worker needs it before other TensorFlow work), seeds, checks."""
    strategy = distribution.make_strategy(config.strategy)
    seed_everything(config.seed, config.deterministic)
    _check_backbone(config.model)
    manifest = datasets.load_manifest(config.data)
    run_dir = distribution.run_directory(config.out, strategy)
    initial_epoch = resume_epoch(run_dir / BACKUP_DIR)
    if initial_epoch:
        _check_resumable(run_dir, config)
    plan = plan_data(config, manifest)
    return _Run(config, strategy, manifest, run_dir, initial_epoch, plan,
                _Console(distribution.is_chief(strategy)))


def _check_backbone(name: str) -> None:
    from ecg_tl_keras.models import available_backbones

    if name not in available_backbones():
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_backbones())}")


def _build_model(run: _Run) -> tuple[keras.Model, dict | None]:
    config = run.config
    options = dict(readout=config.readout, dropout=config.dropout,
                   input_scaling=config.input_scaling)
    if config.finetune_from is None:
        normalization = run.manifest.get("normalization")
        return new_model(config.model, run.labels, run.shape, config.head, normalization,
                         **options), None
    return transferred_model(config.finetune_from, config.model, run.shape, run.labels,
                             config.head, **options)


def _write_config(run: _Run, source: dict | None) -> None:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(run.run_dir / "config.json", {
        "config": run.config.to_dict(),
        "versions": versions(),
        "labels": run.labels,
        "selection_split": run.config.selection_split,
        "records": run.plan.summary(),
        "finetuned_from": source,
        "replicas": run.strategy.num_replicas_in_sync,
    })


def _announce(run: _Run, model: keras.Model) -> None:
    config, plan = run.config, run.plan
    source = "from scratch"
    if config.finetune_from:
        source = f"fine-tuning {config.finetune_from} ({config.finetune})"
    run.log(
        f"{config.model} {source} on {config.data}: {plan.train_records} training records "
        f"({plan.train_patients} patients), test {plan.test_records}; "
        f"{trainable_parameter_count(model):,} trainable parameters; "
        f"{run.strategy.num_replicas_in_sync} replica(s), global batch {config.batch_size}"
    )
    run.log(f"best epoch selected on: {config.selection_split}, {plan.selection_records} records")
    if config.select_on == "test":
        run.log(
            "NOTE: --select-on test reproduces the study's protocol; its test metrics are "
            "optimistic because the test split chose the epoch"
        )
    if run.initial_epoch:
        run.log(f"resuming the interrupted run in {config.out} after epoch "
                f"{run.initial_epoch}/{config.epochs}")


def _fit(run: _Run, model: keras.Model, callbacks: list) -> None:
    """Trains from ``run.initial_epoch``; the model ends with the best epoch's weights."""
    config = run.config
    verbose = config.verbose if run.log.enabled else 0
    if run.initial_epoch >= config.epochs:  # interrupted after its last epoch: only finish up
        finishing = keras.callbacks.CallbackList(callbacks, model=model)
        finishing.on_train_begin()
        finishing.on_train_end()
        return
    records = datasets.load_records(config.data, "train", **run.plan.train_filters)
    epochs = {"first_epoch": run.initial_epoch, "epochs": config.epochs,
              "seed": config.seed, "buffer_size": run.plan.train_records}
    if distribution.is_multiworker(run.strategy):
        _fit_multiworker(run, model, callbacks, records, epochs, verbose)
        return
    count = run.plan.train_records
    used = _records_per_epoch(count, config.batch_size, run.strategy.num_replicas_in_sync)
    batches = datasets.shuffled_epochs(
        records, batch_size=config.batch_size,
        per_epoch=None if used == count else (lambda ds: ds.take(used)), **epochs,
    )
    model.fit(batches, epochs=config.epochs, initial_epoch=run.initial_epoch,
              steps_per_epoch=math.ceil(used / config.batch_size), callbacks=callbacks,
              verbose=verbose, shuffle=False)


def _fit_multiworker(run: _Run, model, callbacks, records, epochs: dict, verbose) -> None:
    batch_size, replicas = run.config.batch_size, run.strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch-size {batch_size} must be a multiple of the {replicas} "
                         f"replicas of the multi-worker cluster")
    count = run.plan.train_records
    steps = math.ceil(count / batch_size)

    def dataset_fn(context):
        return datasets.shuffled_epochs(
            records, batch_size=context.get_per_replica_batch_size(batch_size),
            per_epoch=distribution.pad_and_shard(count, steps, batch_size, run.shape,
                                                 len(run.labels), context),
            **epochs,
        )

    distribution.fit_custom(model, run.strategy, dataset_fn, steps_per_epoch=steps,
                            epochs=run.config.epochs, initial_epoch=run.initial_epoch,
                            callbacks=callbacks, verbose=verbose)


def _finish(run: _Run, model, test: EvalSplit, best: cb.BestWeightedF1, source, started) -> dict:
    """Scores the best weights on the test split and writes the run's result files."""
    report, y_prob = evaluate(Predictor(model), test, run.labels)
    config, manifest = run.config, run.manifest
    save_checkpoint(model, run.run_dir / "best.keras", {
        "labels": run.labels,
        "model": config.model,
        "head": head_type(model),
        "input_shape": list(run.shape),
        "dataset": manifest.get("dataset"),
        "fs": manifest.get("fs"),
        "unit": manifest.get("unit"),
        "leads": manifest["leads"],
        "best_epoch": best.best_epoch,
        "selection_split": config.selection_split,
        "finetuned_from": source,
        "versions": versions(),
    })
    save_predictions(run.run_dir / "predictions_test.npz", test, y_prob, run.labels)
    metrics = _metrics(config, report, best, run.plan, run.run_dir, time.perf_counter() - started)
    _write_json(run.run_dir / "metrics.json", metrics)
    shutil.rmtree(run.run_dir / BEST_STATE_DIR, ignore_errors=True)
    run.log(
        f"best epoch {best.best_epoch} ({best.key} {best.best_score:.4f}); test weighted F1 "
        f"{metrics['test_weighted_f1']:.4f}, macro AUC {_fmt(metrics['test_macro_auc'])} "
        f"-> {run.run_dir}"
    )
    return metrics


def _records_per_epoch(count: int, batch_size: int, replicas: int) -> int:
    """Records used per epoch: drops a last batch too small to give every replica a record."""
    remainder = count % batch_size
    return count - remainder if replicas > 1 and 0 < remainder < replicas else count


def _metrics(
    config: TrainConfig,
    report: dict,
    best: cb.BestWeightedF1,
    plan: DataPlan,
    run_dir: Path,
    wall_time: float,
) -> dict:
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_time = sum(float(row["seconds"]) for row in rows)
    return {
        "test_weighted_f1": report["weighted_f1"],
        "test_macro_f1": report["macro_f1"],
        "per_label_f1": report["per_label_f1"],
        "test_macro_auc": report["macro_auc"],
        "auc_labels": report["auc_labels"],
        "auc_skipped_labels": report["auc_skipped_labels"],
        "threshold": report["threshold"],
        "best_epoch": best.best_epoch,
        "best_selection_weighted_f1": best.best_score,
        "selection_metric": best.key,
        "selection_split": config.selection_split,
        "select_on": config.select_on,
        "epochs": len(rows),
        "wall_time_s": round(wall_time, 3),
        "train_time_s": round(train_time, 3),
        "records": plan.summary(),
        "model": config.model,
        "finetune": config.finetune if config.finetune_from else None,
        "finetune_from": config.finetune_from,
        "seed": config.seed,
    }


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _write_json(path: Path, content: dict) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(partial, path)
