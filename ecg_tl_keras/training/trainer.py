"""``train(config)``: one training or fine-tuning run, written to a run directory.

The run directory (:class:`~ecg_tl_keras.training.rundir.RunDir`) holds
``config.json``, ``history.csv`` (per epoch ``loss``, the split metrics
``val_weighted_f1``, ``val_macro_f1``, ``val_macro_auc``, ``val_<name>`` of every
metric registered with ``ecg_tl_keras.metrics.register_metric``, ``val_loss`` (when
selecting on val), the same ``test_`` keys, ``lr``, ``seconds``), ``best.keras``, ``metrics.json``,
``predictions_test.npz``, ``tensorboard/`` and, while training, ``backup/``: what
running the same command again resumes from. Running it again after the run
finished only says so (``overwrite=True`` starts over).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import platform
import sys
import time
from typing import Sequence

import keras
import numpy as np

import ecg_tl_keras
from ecg_tl_keras.backends import uses_tf_data
from ecg_tl_keras.built import BuiltDataset
from ecg_tl_keras.models import get_backbone_spec
from ecg_tl_keras.precision import (apply_precision, loss_scaled, model_precision,
                                    resolve_precision)
from ecg_tl_keras.training import callbacks as cb
from ecg_tl_keras.training import distribution, faults
from ecg_tl_keras.training.checkpoints import data_metadata, save_checkpoint
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
    make_loss,
    make_optimizer,
    new_model,
    prepare_finetuning,
    strategy_phases,
    trainable_parameter_count,
    transferred_model,
)
from ecg_tl_keras.training.rundir import RunDir, write_json_atomic
from ecg_tl_keras.training.strategies import finetune_phases
from ecg_tl_keras.training.thresholds import fixed_thresholds, max_f1_thresholds


def versions() -> dict:
    """Versions of Python, the Keras backend's package, Keras, NumPy and this package
    (``tensorflow`` is None when the run did not use TensorFlow)."""
    backend = keras.backend.backend()
    tensorflow = sys.modules.get("tensorflow") if uses_tf_data() else None
    return {
        "python": platform.python_version(),
        "tensorflow": getattr(tensorflow, "__version__", None),
        "keras_backend": backend,
        **({backend: getattr(sys.modules.get(backend), "__version__", None)}
           if backend != "tensorflow" else {}),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "ecg_tl_keras": ecg_tl_keras.__version__,
    }


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and the backend; optionally enables TensorFlow's op determinism
    (the JAX backend's CPU operations are deterministic already)."""
    keras.utils.set_random_seed(seed)
    if deterministic and uses_tf_data():
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


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
    strategy: "distribution.Strategy"
    dataset: BuiltDataset
    run_dir: RunDir
    plan: DataPlan | None  # None for a finished run
    log: _Console
    initial_epoch: int = 0
    precision: str = "float32"  # the Keras dtype policy the backbone computes under

    @property
    def labels(self) -> list[str]:
        return self.dataset.labels

    @property
    def shape(self) -> tuple[int, int]:
        return self.dataset.input_shape

    @property
    def steps_per_epoch(self) -> int:
        records = self.plan.train_records
        if not distribution.is_multiworker(self.strategy):
            records = _records_per_epoch(records, self.config.batch_size,
                                         self.strategy.num_replicas_in_sync,
                                         even=distribution.needs_even_batches(self.strategy))
        return math.ceil(records / self.config.batch_size)


def train(config: TrainConfig, *, model: keras.Model | None = None,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Trains (or fine-tunes) a model and writes the run directory.

    Running the same command again after an interruption resumes from the
    last completed epoch (from the newest intact backup); after the run
    finished, it returns the finished run's metrics (``config.overwrite``
    starts over).

    Args:
        config: the run's arguments.
        model: a model to train instead of building ``config.model`` (uncompiled;
            its input shape and output size must match the dataset); its name is
            recorded as ``config.model``. Not with ``finetune_from``.
        callbacks: more Keras callbacks; they run after the split metrics are in the
            epoch logs and before the best epoch is chosen (so they may add the key
            ``config.monitor`` names).

    Returns:
        The contents of ``metrics.json``.

    Raises:
        FileNotFoundError: missing manifest, shard or checkpoint.
        ValueError: invalid arguments, unknown backbone, incompatible checkpoint,
            damaged shard.

    Example:
        >>> metrics = train(TrainConfig(data="OUT/ptbxl", model="lstm", out="runs/lstm",
        ...                             epochs=2, optimizer="adamw"))  # doctest: +SKIP
        >>> metrics["test_weighted_f1"]  # doctest: +SKIP
        0.61
    """
    started = time.perf_counter()
    run = _start(config, user_model=model is not None)
    finished = _finished_metrics(run)
    if finished is not None:
        return finished
    with run.strategy.scope():
        user_model = model is not None
        model, source = _build_model(run, model)
        run.precision = (model_precision(model) if user_model else resolve_precision(
            config.precision, get_backbone_spec(config.model).family))
        if not user_model:
            model = apply_precision(model, run.precision)
        phases = (finetune_phases(config.finetune, 0, config.epochs) if user_model
                  else strategy_phases(model, config.finetune, config.epochs))
        loss = make_loss(config.loss)
        optimizer = make_optimizer(config.optimizer, config.lr, phases, run.steps_per_epoch)
        model.compile(optimizer=loss_scaled(optimizer, run.precision), loss=loss)
        phased = prepare_finetuning(model, phases, run.steps_per_epoch,
                                    monitor=_convergence_monitor(run), log=run.log)
    best = cb.BestWeights(config.monitor, config.monitor_mode)
    states = {"best": best, **({"phases": phased} if phased is not None else {})}
    run.initial_epoch = cb.restore_backup(run.run_dir, model, states, run.log)
    _write_config(run, source)
    _announce(run, model)
    test = load_eval_split(run.dataset, "test")
    splits = [test]
    if run.plan.selection_filters is not None:
        splits.insert(0, load_eval_split(run.dataset, "train", name="val",
                                         **run.plan.selection_filters))
    metrics = cb.SplitMetrics(splits, loss=loss)
    columns = ["loss", *metrics.keys, "lr"]
    all_callbacks = [
        cb.EpochReseed(config.seed),
        cb.LearningRateLogger(),
        metrics,
        *([phased] if phased is not None else []),  # after the metrics: it may watch val_loss
        *callbacks,
        cb.EpochTimer(),  # after the evaluation it times, before what reports the time
        best,
        cb.HistoryCSV(run.run_dir.history,
                      columns + ([config.monitor] if config.monitor not in columns else []),
                      run.initial_epoch),
        cb.TensorBoardScalars(run.run_dir.tensorboard),
        cb.RunBackup(run.run_dir, states),
    ]
    if run.log.enabled and config.verbose != 0:
        watched = [key for key in metrics.keys
                   if key.startswith(f"{splits[0].name}_") and not key.endswith("_macro_f1")]
        all_callbacks.append(cb.EpochLine(config.epochs, watched, best, run.log))
    selection = splits[0] if run.plan.selection_filters is not None else None
    with distribution.fit_scope(run.strategy):
        _fit(run, model, all_callbacks)
        starts = phased.starts if phased is not None else [phase.start_epoch for phase in phases]
        return _finish(run, model, test, best, source, started, starts, selection)


def _start(config: TrainConfig, user_model: bool) -> _Run:
    """Strategy first (multi-worker needs it before other TensorFlow work), seeds, checks."""
    strategy = distribution.make_strategy(config.strategy)
    seed_everything(config.seed, config.deterministic)
    if not user_model:
        _check_backbone(config.model)
    elif config.finetune_from is not None:
        raise ValueError("train(model=...) and finetune_from exclude each other: pass the "
                         "fine-tuned model itself, or no model")
    dataset = BuiltDataset.open(config.data)
    run_dir = RunDir(distribution.run_directory(config.out, strategy))
    log = _Console(distribution.is_chief(strategy))
    if config.overwrite and (run_dir.is_finished() or run_dir.has_resume_state()):
        log(f"--overwrite: starting over in {run_dir.path}")
        run_dir.clear()
    stored = run_dir.stored_config()
    if stored is not None and (run_dir.is_finished() or run_dir.has_resume_state()):
        _check_same_arguments(run_dir, config, stored)
    if run_dir.is_finished():
        return _Run(config, strategy, dataset, run_dir, None, log)
    if config.verify:
        dataset.verify(("train", "test"), log=log)
    return _Run(config, strategy, dataset, run_dir, plan_data(config, dataset), log)


def _convergence_monitor(run: _Run) -> str:
    """What fine-tuning phases ending on convergence watch: the validation loss, else the
    training loss (never the test split's, even when it selects the epoch)."""
    return "val_loss" if run.plan.selection_filters is not None else "loss"


def _check_same_arguments(run_dir: RunDir, config: TrainConfig, stored: dict) -> None:
    changed = config.changed_fields(stored)
    if changed:
        state = "a finished" if run_dir.is_finished() else "an interrupted"
        remedy = ("resume it with the same command" if state == "an interrupted"
                  else "use --overwrite to start over")
        raise ValueError(f"{run_dir.path} holds {state} run with different arguments "
                         f"({', '.join(changed)}): {remedy}, or use another --out")


def _finished_metrics(run: _Run) -> dict | None:
    metrics = run.run_dir.finished_metrics()
    if metrics is not None:
        run.log(f"{run.run_dir.path} holds a finished run (best epoch {metrics['best_epoch']}, "
                f"test weighted F1 {metrics['test_weighted_f1']:.4f}): nothing to do; "
                f"--overwrite starts over")
    return metrics


def _check_backbone(name: str) -> None:
    from ecg_tl_keras.models import available_backbones

    if name not in available_backbones():
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_backbones())}")


def _build_model(run: _Run, model: keras.Model | None) -> tuple[keras.Model, dict | None]:
    config = run.config
    if model is not None:
        _check_user_model(model, run)
        return model, None
    options = dict(readout=config.readout, dropout=config.dropout,
                   input_scaling=config.input_scaling)
    if config.finetune_from is None:
        normalization = run.dataset.manifest.normalization
        return new_model(config.model, run.labels, run.shape, config.head, normalization,
                         **options), None
    return transferred_model(config.finetune_from, config.model, run.dataset.manifest,
                             run.labels, config.head, **options)


def _check_user_model(model: keras.Model, run: _Run) -> None:
    shape, outputs = tuple(model.input_shape[1:]), model.output_shape[-1]
    if shape != tuple(run.shape) or outputs != len(run.labels):
        raise ValueError(
            f"the model takes {shape} and predicts {outputs} labels; {run.config.data} holds "
            f"signals of shape {tuple(run.shape)} with {len(run.labels)} labels"
        )


def _write_config(run: _Run, source: dict | None) -> None:
    run.run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run.run_dir.config, {
        "config": run.config.to_dict(),
        "versions": versions(),
        "labels": run.labels,
        "selection_split": run.config.selection_split,
        "records": run.plan.summary(),
        "finetuned_from": source,
        "replicas": run.strategy.num_replicas_in_sync,
        "precision": run.precision,
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
        f"{run.strategy.num_replicas_in_sync} replica(s), global batch {config.batch_size}, "
        f"precision {run.precision}"
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
    verbose = 1 if run.log.enabled and config.verbose == 1 else 0  # else: cb.EpochLine's lines
    if run.initial_epoch >= config.epochs:  # interrupted after its last epoch: only finish up
        finishing = keras.callbacks.CallbackList(callbacks, model=model)
        finishing.on_train_begin()
        finishing.on_train_end()
        return
    if not uses_tf_data():
        _fit_pydata(run, model, callbacks, verbose)
        return
    from ecg_tl_keras import datasets

    records = datasets.load_records(run.dataset, "train", **run.plan.train_filters)
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
              steps_per_epoch=run.steps_per_epoch, callbacks=callbacks,
              verbose=verbose, shuffle=False)


def _fit_pydata(run: _Run, model, callbacks: list, verbose) -> None:
    """``_fit`` without TensorFlow: the shard reader's batches as a ``keras.utils.PyDataset``."""
    from ecg_tl_keras.shards import RecordFilter
    from ecg_tl_keras.training.pydata import ShuffledEpochs

    config, count = run.config, run.plan.train_records
    replicas = run.strategy.num_replicas_in_sync
    if distribution.needs_even_batches(run.strategy) and config.batch_size % replicas:
        raise ValueError(f"--batch-size {config.batch_size} must be a multiple of the "
                         f"{replicas} devices of --strategy {config.strategy}")
    batches = ShuffledEpochs(
        run.dataset, "train", keep=RecordFilter.of(**run.plan.train_filters),
        batch_size=config.batch_size, seed=config.seed, first_epoch=run.initial_epoch,
        epochs=config.epochs, records=count,
        records_per_epoch=_records_per_epoch(count, config.batch_size, replicas,
                                             even=distribution.needs_even_batches(run.strategy)))
    model.fit(batches, epochs=config.epochs, initial_epoch=run.initial_epoch,
              steps_per_epoch=run.steps_per_epoch,
              callbacks=[batches.follower(), *callbacks], verbose=verbose, shuffle=False)


def _fit_multiworker(run: _Run, model, callbacks, records, epochs: dict, verbose) -> None:
    batch_size, replicas = run.config.batch_size, run.strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch-size {batch_size} must be a multiple of the {replicas} "
                         f"replicas of the multi-worker cluster")
    from ecg_tl_keras import datasets

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


def _finish(run: _Run, model, test: EvalSplit, best: cb.BestWeights, source, started,
            phase_starts: list[int], selection: EvalSplit | None = None) -> dict:
    """Scores the best weights on the test split and writes the run's result files.

    ``phase_starts`` holds the 0-based first epoch of each fine-tuning phase as run;
    ``selection`` is the selection split the decision thresholds are chosen on (None
    when the run selects on the test split: then no threshold is chosen).

    ``metrics.json`` is written last and the resume state removed after it, so a
    run is finished (:meth:`RunDir.is_finished`) only when every file is in place.
    """
    report, y_prob = evaluate(Predictor(model), test, run.labels)
    config, manifest = run.config, run.dataset.manifest
    save_checkpoint(model, run.run_dir.best, {
        "labels": run.labels,
        "model": config.model,
        "head": head_type(model),
        "input_shape": list(run.shape),
        "dataset": manifest.dataset,
        **data_metadata(manifest),
        "thresholds": _decision_thresholds(run, model, selection),
        "best_epoch": best.best_epoch,
        "selection_split": config.selection_split,
        "monitor": config.monitor,
        "finetuned_from": source,
        "versions": versions(),
    })
    save_predictions(run.run_dir.predictions, test, y_prob, run.labels)
    faults.point("finish_checkpoint", config.epochs)
    metrics = _metrics(run, report, best, time.perf_counter() - started, phase_starts)
    write_json_atomic(run.run_dir.metrics, metrics)
    faults.point("finish_metrics", config.epochs)
    run.run_dir.remove_resume_state()
    run.log(
        f"best epoch {best.best_epoch} ({best.monitor} {best.best_value:.4f}); test weighted F1 "
        f"{metrics['test_weighted_f1']:.4f}, macro AUC {_fmt(metrics['test_macro_auc'])} "
        f"-> {run.run_dir.path}"
    )
    return metrics


def _decision_thresholds(run: _Run, model, selection: EvalSplit | None) -> dict:
    """Per-label thresholds maximising F1 on the selection split, from the best weights."""
    if selection is None:
        return fixed_thresholds(run.labels, "the best epoch was selected on the test split; "
                                            "thresholds are never chosen on the test split")
    return max_f1_thresholds(selection.y_true, Predictor(model)(selection.signals), run.labels,
                             split=run.config.selection_split)


def _records_per_epoch(count: int, batch_size: int, replicas: int, even: bool = False) -> int:
    """Records used per epoch: drops a last batch too small to give every replica a record
    (``even``: drops what keeps the last batch from splitting evenly over the replicas)."""
    remainder = count % batch_size
    if even:
        return count - remainder % replicas
    return count - remainder if replicas > 1 and 0 < remainder < replicas else count


def _metrics(run: _Run, report: dict, best: cb.BestWeights, wall_time: float,
             phase_starts: list[int]) -> dict:
    config, plan = run.config, run.plan
    with open(run.run_dir.history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_time = sum(float(row["seconds"]) for row in rows)
    selection_f1 = rows[best.best_epoch - 1].get(f"{config.select_on}_weighted_f1")
    return {
        **{f"test_{name}": value for name, value in report["metrics"].items()},
        "test_weighted_f1": report["weighted_f1"],
        "test_macro_f1": report["macro_f1"],
        "per_label_f1": report["per_label_f1"],
        "test_macro_auc": report["macro_auc"],
        "auc_labels": report["auc_labels"],
        "auc_skipped_labels": report["auc_skipped_labels"],
        "threshold": report["threshold"],
        "best_epoch": best.best_epoch,
        "monitor": config.monitor,
        "best_monitor_value": best.best_value,
        "best_selection_weighted_f1": None if selection_f1 is None else float(selection_f1),
        "selection_metric": config.monitor,
        "selection_split": config.selection_split,
        "select_on": config.select_on,
        "epochs": len(rows),
        "wall_time_s": round(wall_time, 3),
        "train_time_s": round(train_time, 3),
        "records": plan.summary(),
        "model": config.model,
        "finetune": config.finetune if config.finetune_from else None,
        "finetune_phase_starts": ([start + 1 for start in phase_starts]
                                  if config.finetune_from else None),
        "finetune_from": config.finetune_from,
        "optimizer": config.optimizer,
        "loss": config.loss,
        "seed": config.seed,
    }


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
