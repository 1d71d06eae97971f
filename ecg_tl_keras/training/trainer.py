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
from ecg_tl_keras.training.evaluation import EvalSplit, Predictor, evaluate, save_predictions
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
    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "ecg_tl_keras": ecg_tl_keras.__version__}


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
    changed = sorted(key for key, value in config.to_dict().items()
                     if key not in RESUMABLE_CHANGES and before.get(key) != value)
    if changed:
        raise ValueError(f"{run_dir} holds an interrupted run with different arguments ({', '.join(changed)}): "
                         f"resume it with the same command, or use another --out")


class _Console:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)


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
    strategy = distribution.make_strategy(config.strategy)
    seed_everything(config.seed, config.deterministic)
    _check_backbone(config.model)
    manifest = datasets.load_manifest(config.data)
    labels, shape = list(manifest["labels"]), datasets.input_shape(manifest)
    run_dir = distribution.run_directory(config.out, strategy)
    log = _Console(distribution.is_chief(strategy))
    initial_epoch = resume_epoch(run_dir / BACKUP_DIR)
    if initial_epoch:
        _check_resumable(run_dir, config)
    plan = plan_data(config, manifest)
    with strategy.scope():
        model, source = _build_model(config, labels, shape, manifest)
        model.compile(optimizer=keras.optimizers.Adam(config.lr, beta_1=0.9, beta_2=0.999),
                      loss=keras.losses.BinaryCrossentropy())
        finetune_callbacks = prepare_finetuning(model, config.finetune, config.epochs, config.lr)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(run_dir / "config.json", {"config": config.to_dict(), "versions": versions(),
                                          "labels": labels, "selection_split": config.selection_split,
                                          "records": plan.summary(), "finetuned_from": source,
                                          "replicas": strategy.num_replicas_in_sync})
    _announce(log, config, plan, strategy, model, initial_epoch)

    test = EvalSplit.from_records("test", datasets.load_records(config.data, "test", with_ids=True))
    selection = test if plan.selection_filters is None else EvalSplit.from_records(
        "val", datasets.load_records(config.data, "train", with_ids=True, **plan.selection_filters))
    best = cb.BestWeightedF1(selection, test, state_dir=run_dir / BEST_STATE_DIR, resume=initial_epoch > 0)
    callbacks = [cb.EpochReseed(config.seed), *finetune_callbacks, best, cb.LearningRateLogger(),
                 cb.HistoryCSV(run_dir / "history.csv", ["loss", best.key, "test_weighted_f1",
                                                         "test_macro_auc", "lr"], initial_epoch),
                 cb.TensorBoardScalars(run_dir / "tensorboard"),
                 keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR))]
    _fit(model, strategy, config, plan, shape, len(labels), initial_epoch, callbacks,
         verbose=config.verbose if log.enabled else 0)

    report, y_prob = evaluate(Predictor(model), test, labels)
    save_checkpoint(model, run_dir / "best.keras", {
        "labels": labels, "model": config.model, "head": head_type(model), "input_shape": list(shape),
        "dataset": manifest.get("dataset"), "fs": manifest.get("fs"), "unit": manifest.get("unit"),
        "leads": manifest["leads"], "best_epoch": best.best_epoch, "selection_split": config.selection_split,
        "finetuned_from": source, "versions": versions()})
    save_predictions(run_dir / "predictions_test.npz", test, y_prob, labels)
    metrics = _metrics(config, report, best, plan, run_dir, time.perf_counter() - started)
    _write_json(run_dir / "metrics.json", metrics)
    shutil.rmtree(run_dir / BEST_STATE_DIR, ignore_errors=True)
    log(f"best epoch {best.best_epoch} ({best.key} {best.best_score:.4f}); test weighted F1 "
        f"{metrics['test_weighted_f1']:.4f}, macro AUC {_fmt(metrics['test_macro_auc'])} -> {run_dir}")
    return metrics


def _check_backbone(name: str) -> None:
    from ecg_tl_keras.models import available_backbones

    if name not in available_backbones():
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_backbones())}")


def _build_model(config: TrainConfig, labels, shape, manifest) -> tuple[keras.Model, dict | None]:
    if config.finetune_from is None:
        return new_model(config.model, labels, shape, config.head, manifest.get("normalization")), None
    return transferred_model(config.finetune_from, config.model, shape, labels, config.head)


def _announce(log, config: TrainConfig, plan: DataPlan, strategy, model, initial_epoch: int) -> None:
    source = f"fine-tuning {config.finetune_from} ({config.finetune})" if config.finetune_from else "from scratch"
    log(f"{config.model} {source} on {config.data}: {plan.train_records} training records "
        f"({plan.train_patients} patients), test {plan.test_records}; {trainable_parameter_count(model):,} "
        f"trainable parameters; {strategy.num_replicas_in_sync} replica(s), global batch {config.batch_size}")
    log(f"best epoch selected on: {config.selection_split}, {plan.selection_records} records")
    if config.select_on == "test":
        log("NOTE: --select-on test reproduces the study's protocol; its test metrics are optimistic "
            "because the test split chose the epoch")
    if initial_epoch:
        log(f"resuming the interrupted run in {config.out} after epoch {initial_epoch}/{config.epochs}")


def _fit(model, strategy, config: TrainConfig, plan: DataPlan, shape, n_labels: int, initial_epoch: int,
         callbacks, verbose) -> None:
    if initial_epoch >= config.epochs:  # interrupted after its last epoch: only finish up
        finishing = keras.callbacks.CallbackList(callbacks, model=model)
        finishing.on_train_begin()
        finishing.on_train_end()
        return
    records = datasets.load_records(config.data, "train", **plan.train_filters)
    buffer = plan.train_records
    if distribution.is_multiworker(strategy):
        if config.batch_size % strategy.num_replicas_in_sync:
            raise ValueError(f"--batch-size {config.batch_size} must be a multiple of the "
                             f"{strategy.num_replicas_in_sync} replicas of the multi-worker cluster")
        steps = math.ceil(plan.train_records / config.batch_size)

        def dataset_fn(context):
            return datasets.shuffled_epochs(
                records, batch_size=context.get_per_replica_batch_size(config.batch_size), seed=config.seed,
                first_epoch=initial_epoch, epochs=config.epochs, buffer_size=buffer,
                per_epoch=distribution.pad_and_shard(plan.train_records, steps, config.batch_size, shape,
                                                     n_labels, context))

        distribution.fit_custom(model, strategy, dataset_fn, steps_per_epoch=steps, epochs=config.epochs,
                                initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose)
        return
    used = _records_per_epoch(plan.train_records, config.batch_size, strategy.num_replicas_in_sync)
    train_batches = datasets.shuffled_epochs(
        records, batch_size=config.batch_size, seed=config.seed, first_epoch=initial_epoch,
        epochs=config.epochs, buffer_size=buffer,
        per_epoch=None if used == plan.train_records else (lambda ds: ds.take(used)))
    model.fit(train_batches, epochs=config.epochs, initial_epoch=initial_epoch,
              steps_per_epoch=math.ceil(used / config.batch_size), callbacks=callbacks, verbose=verbose,
              shuffle=False)


def _records_per_epoch(count: int, batch_size: int, replicas: int) -> int:
    """Records used per epoch: drops a last batch too small to give every replica a record."""
    remainder = count % batch_size
    return count - remainder if replicas > 1 and 0 < remainder < replicas else count


def _metrics(config: TrainConfig, report: dict, best: cb.BestWeightedF1, plan: DataPlan, run_dir: Path,
             wall_time: float) -> dict:
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_time = sum(float(row["seconds"]) for row in rows)
    return {"test_weighted_f1": report["weighted_f1"], "test_macro_f1": report["macro_f1"],
            "per_label_f1": report["per_label_f1"], "test_macro_auc": report["macro_auc"],
            "auc_labels": report["auc_labels"], "auc_skipped_labels": report["auc_skipped_labels"],
            "threshold": report["threshold"], "best_epoch": best.best_epoch,
            "best_selection_weighted_f1": best.best_score, "selection_metric": best.key,
            "selection_split": config.selection_split, "select_on": config.select_on,
            "epochs": len(rows), "wall_time_s": round(wall_time, 3), "train_time_s": round(train_time, 3),
            "records": plan.summary(), "model": config.model, "finetune": config.finetune if config.finetune_from
            else None, "finetune_from": config.finetune_from, "seed": config.seed}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _write_json(path: Path, content: dict) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(partial, path)
