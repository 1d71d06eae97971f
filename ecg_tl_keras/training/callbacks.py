"""Keras callbacks of a training run: split metrics, best-epoch weights, history, backup.

All of them survive an interrupted run: :class:`BestWeights` (and any other callback
with a state, such as the fine-tuning phases) is saved with every epoch's
:class:`RunBackup` snapshot and reloaded when the run resumes;
:class:`HistoryCSV` drops the rows of epochs that will be run again;
:class:`EpochReseed` makes dropout masks a function of (seed, epoch) only, so a
resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence

import keras
import numpy as np

from ecg_tl_keras.backends import uses_tf_data
from ecg_tl_keras.metrics import macro_auc, macro_f1, weighted_f1
from ecg_tl_keras.training import faults
from ecg_tl_keras.training.evaluation import EvalSplit, Predictor
from ecg_tl_keras.training.rundir import RunDir

#: The metrics :class:`SplitMetrics` adds for each split (``<split>_<metric>``).
SPLIT_METRICS = ("weighted_f1", "macro_f1", "macro_auc", "loss")


def split_metrics(split: str, y_true, y_prob, loss: Callable | None = None,
                  threshold: float = 0.5) -> dict[str, float]:
    """The epoch-log metrics of one split's predictions (NaN for an undefined AUC).

    Example:
        >>> sorted(split_metrics("val", [[1, 0], [0, 1]], [[0.9, 0.2], [0.3, 0.8]]))
        ['val_macro_auc', 'val_macro_f1', 'val_weighted_f1']
    """
    auc = macro_auc(y_true, y_prob)["macro_auc"]
    logs = {f"{split}_weighted_f1": weighted_f1(y_true, y_prob, threshold),
            f"{split}_macro_f1": macro_f1(y_true, y_prob, threshold),
            f"{split}_macro_auc": math.nan if auc is None else auc}
    if loss is not None:
        value = loss(np.asarray(y_true, np.float32), np.asarray(y_prob, np.float32))
        logs[f"{split}_loss"] = float(np.mean(keras.ops.convert_to_numpy(value)))
    return logs


class SplitMetrics(keras.callbacks.Callback):
    """After every epoch, predicts each split and adds its metrics to the epoch logs.

    For a split named ``val`` it adds ``val_weighted_f1``, ``val_macro_f1``,
    ``val_macro_auc`` (NaN when no label has both classes) and, given a loss,
    ``val_loss``, so the progress bar, history, TensorBoard and any later
    callback (:class:`BestWeights`, ``keras.callbacks.EarlyStopping``) see them.

    Args:
        splits: the splits to score (distinct names).
        loss: the loss function to report as ``<split>_loss`` (None: not reported).
        threshold: probability threshold of the F1 scores.

    Example:
        >>> metrics = SplitMetrics([val_split, test_split])  # doctest: +SKIP
        >>> model.fit(train, epochs=10, callbacks=[metrics])  # doctest: +SKIP
    """

    def __init__(self, splits: Sequence[EvalSplit], *, loss: Callable | None = None,
                 threshold: float = 0.5):
        super().__init__()
        names = [split.name for split in splits]
        if len(set(names)) != len(names):
            raise ValueError(f"split names must differ, got {names}")
        self.splits, self.loss, self.threshold = list(splits), loss, threshold
        self._predictor: Predictor | None = None

    @property
    def keys(self) -> list[str]:
        """The log keys this callback adds."""
        metrics = SPLIT_METRICS if self.loss is not None else SPLIT_METRICS[:-1]
        return [f"{split.name}_{metric}" for split in self.splits for metric in metrics]

    def on_train_begin(self, logs=None):
        if self._predictor is None or self._predictor.model is not self.model:
            self._predictor = Predictor(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for split in self.splits:
            y_prob = self._predictor(split.signals)
            logs.update(split_metrics(split.name, split.y_true, y_prob, self.loss,
                                      self.threshold))


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best value of a monitored log key.

    Strictly better wins (ties keep the earlier epoch; NaN never wins). The best
    weights are kept on the model's device(s): under TensorFlow in variables created
    under its distribution strategy's scope and updated by assignment when the monitored
    value improves, under another backend as copies of the weights' backend arrays (with
    their sharding); at the end of training the model gets them back by assignment. They are
    copied to the host only when a backup snapshot needs them. Its state
    (:meth:`state`, :meth:`load_state`) is saved with each :class:`RunBackup`
    snapshot, so a resumed run selects as an uninterrupted one.

    Args:
        monitor: the epoch-log key, e.g. ``"val_weighted_f1"`` (from :class:`SplitMetrics`).
        mode: ``"max"`` or ``"min"``.

    Attributes:
        best_value: best value so far (-inf, or inf for ``"min"``, before the first epoch).
        best_epoch: 1-based epoch of ``best_value`` (0 before the first epoch).

    Example:
        >>> best = BestWeights("val_weighted_f1")
        >>> best.best_epoch, best.best_value
        (0, -inf)
    """

    def __init__(self, monitor: str, mode: str = "max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.best_value = -np.inf if mode == "max" else np.inf
        self.best_epoch = 0
        self._on_device: list | None = None  # tf.Variable copies, or backend arrays
        self._on_host: list[np.ndarray] | None = None  # None: not copied since the last change

    @property
    def best_weights(self) -> list[np.ndarray] | None:
        """The best epoch's weights as NumPy arrays (copied from the device when needed)."""
        if self._on_host is None and self._on_device is not None and self.best_epoch:
            self._on_host = [np.asarray(keras.ops.convert_to_numpy(copy))
                             for copy in self._on_device]
        return self._on_host

    def on_train_begin(self, logs=None):
        if uses_tf_data():
            import tensorflow as tf

            with self.model.distribute_strategy.scope():
                self._on_device = [tf.Variable(weight.value, trainable=False)
                                   for weight in self.model.weights]
        else:
            self._on_device = self._copies(weight.value for weight in self.model.weights)
        if self._on_host is not None:  # a resumed run's best weights
            self._keep(self._on_host)

    @staticmethod
    def _copies(values) -> list:
        """New backend arrays holding ``values`` (weights' arrays or NumPy arrays)."""
        return [keras.ops.copy(value) for value in values]

    def _keep(self, values) -> None:
        """Makes ``values`` (the model's current weights, or a backup's) the best ones."""
        if uses_tf_data():
            for copy, value in zip(self._on_device, values):
                copy.assign(value)
        else:
            self._on_device = self._copies(values)

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"monitor {self.monitor!r} is not in the epoch logs; "
                             f"available: {', '.join(sorted(logs))}")
        value = _scalar(logs[self.monitor])
        if self._better(value):
            self.best_value, self.best_epoch = value, epoch + 1
            self._keep([weight.value for weight in self.model.weights])
            self._on_host = None

    def on_train_end(self, logs=None):
        if self.best_epoch and self._on_device is not None:
            for weight, copy in zip(self.model.weights, self._on_device):
                weight.assign(copy)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez``: best value, epoch and weights."""
        weights = {f"weight_{i}": value for i, value in enumerate(self.best_weights or [])}
        return {"best_value": np.float64(self.best_value),
                "best_epoch": np.int64(self.best_epoch), **weights}

    def load_state(self, stored) -> None:
        """Restores :meth:`state`'s arrays (an ``np.load`` result or a dict)."""
        count = sum(name.startswith("weight_") for name in stored)
        self._on_host = [np.asarray(stored[f"weight_{i}"]) for i in range(count)] or None
        self.best_value = float(stored["best_value"])
        self.best_epoch = int(stored["best_epoch"])
        if self._on_device is not None and self._on_host is not None:
            self._keep(self._on_host)


class Stateful(Protocol):
    """A callback whose state a backup snapshot keeps (:class:`BestWeights` is one)."""

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez``."""

    def load_state(self, stored) -> None:
        """Restores :meth:`state`'s arrays (an ``np.load`` result or a dict)."""


class RunBackup(keras.callbacks.Callback):
    """Saves the state to resume from after every epoch, atomically, keeping the last two.

    Each snapshot is a folder ``backup/epoch-NNNNN/`` with the model and optimizer
    weights, the state of each of ``states`` (``<name>.npz``) and ``state.json``
    (epoch and the sha256 of each file). It is written under a temporary name and
    renamed when complete, and the previous snapshot is kept until the new one is in
    place, so a run killed at any moment leaves at least one complete snapshot;
    :func:`restore_backup` picks the newest one whose files match their sha256.

    Args:
        run_dir: the run directory.
        states: the callbacks whose state to save, by name (file name without ``.npz``);
            place this callback after them.

    Example:
        >>> RunBackup(RunDir("runs/a"), {"best": best})  # doctest: +SKIP
    """

    WEIGHTS = "model.weights.h5"
    STATE = "state.json"
    KEEP = 2

    def __init__(self, run_dir: RunDir, states: Mapping[str, Stateful]):
        super().__init__()
        self.run_dir, self.states = run_dir, dict(states)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        final = self.run_dir.snapshot(done)
        partial = final.with_name(f".{final.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self.model.save_weights(partial / self.WEIGHTS)
        faults.point("backup_weights", done)
        for name, owner in self.states.items():
            np.savez(partial / _state_file(name), **owner.state())
        files = {name: _sha256(partial / name)
                 for name in (self.WEIGHTS, *map(_state_file, self.states))}
        _write_synced(partial / self.STATE, json.dumps({"epoch": done, "sha256": files}))
        faults.point("backup_state", done)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        faults.point("backup_renamed", done)
        for _, older in self.run_dir.snapshots()[self.KEEP:]:
            shutil.rmtree(older, ignore_errors=True)


def restore_backup(run_dir: RunDir, model: keras.Model, states: Mapping[str, Stateful],
                   log: Callable[[str], None]) -> int:
    """Loads the newest intact snapshot into ``model`` and ``states``; returns its epoch.

    A snapshot whose files are missing or differ from their recorded sha256 is
    skipped, saying so; 0 means no snapshot was usable (the run starts over).
    """
    files = [RunBackup.WEIGHTS, *map(_state_file, states)]
    for epoch, folder in run_dir.snapshots():
        problem = _snapshot_problem(folder, files)
        if problem is None:
            model.load_weights(folder / RunBackup.WEIGHTS)
            for name, owner in states.items():
                with np.load(folder / _state_file(name), allow_pickle=False) as stored:
                    owner.load_state(stored)
            return epoch
        log(f"the backup after epoch {epoch} is damaged ({problem}); trying an older one")
    if run_dir.has_resume_state():
        log(f"no intact backup in {run_dir.backup}: starting over")
    return 0


def _state_file(name: str) -> str:
    return f"{name}.npz"


def _snapshot_problem(folder: Path, files: Sequence[str]) -> str | None:
    try:
        digests = json.loads((folder / RunBackup.STATE).read_text())["sha256"]
        missing = [name for name in files if name not in digests]
        if missing:
            return f"it has no {', '.join(missing)}"
        for name, digest in digests.items():
            if _sha256(folder / name) != digest:
                return f"{name} does not match its sha256"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())


class EpochTimer(keras.callbacks.Callback):
    """Adds the epoch's wall time so far to the epoch logs as ``seconds``.

    The one clock of an epoch: place it after the callbacks whose work counts
    (the per-epoch evaluation) and before those that report it.

    Example:
        >>> timer, logs = EpochTimer(), {}
        >>> timer.on_epoch_begin(0); timer.on_epoch_end(0, logs)
        >>> logs["seconds"] >= 0
        True
    """

    def __init__(self):
        super().__init__()
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._started


class HistoryCSV(keras.callbacks.Callback):
    """Writes one row per epoch (1-based ``epoch`` first, then ``columns``, then ``seconds``).

    ``seconds`` is the epoch logs' ``seconds``, which an :class:`EpochTimer` placed
    before this callback adds.

    On a fresh run (``initial_epoch == 0``) the file is started anew; on a
    resumed run the rows of epochs after ``initial_epoch`` (left by the
    interrupted run) are dropped, so every epoch appears exactly once.

    Example:
        >>> HistoryCSV("runs/a/history.csv", ["loss", "lr"])  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, columns: list[str], initial_epoch: int = 0):
        super().__init__()
        self.path, self.columns, self.initial_epoch = Path(path), list(columns), initial_epoch

    @property
    def fieldnames(self) -> list[str]:
        return ["epoch", *self.columns, "seconds"]

    def on_train_begin(self, logs=None):
        kept = []
        if self.initial_epoch > 0 and self.path.is_file():
            with open(self.path, newline="") as handle:
                kept = [
                    row for row in csv.DictReader(handle) if int(row["epoch"]) <= self.initial_epoch
                ]
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.fieldnames)
            writer.writeheader()
            writer.writerows(kept)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {"epoch": epoch + 1, "seconds": round(_scalar(logs.get("seconds", math.nan)), 3)}
        row.update({name: _scalar(logs.get(name, float("nan"))) for name in self.columns})
        faults.point("epoch_end", epoch + 1)
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.fieldnames).writerow(row)
        faults.point("history", epoch + 1)


class EpochLine(keras.callbacks.Callback):
    """Prints one console line per epoch: loss, the split metrics a user watches, the best so far.

    Place it after :class:`BestWeights` so the line shows the best epoch including this one,
    and after an :class:`EpochTimer`, whose ``seconds`` it shows.

    Example:
        >>> line = EpochLine(5, ["val_weighted_f1", "test_weighted_f1"], best=None, log=print)
        >>> line.format(1, {"loss": 0.41, "val_weighted_f1": 0.62, "test_weighted_f1": 0.6}, 3.2)
        'epoch 2/5  loss 0.4100  val_weighted_f1 0.6200  test_weighted_f1 0.6000  3.2 s'
    """

    def __init__(self, epochs: int, keys: Sequence[str], best: "BestWeights | None",
                 log: Callable[[str], None]):
        super().__init__()
        self.epochs, self.keys, self.best, self.log = epochs, list(keys), best, log

    def format(self, epoch: int, logs: dict, seconds: float) -> str:
        """The line of 0-based ``epoch`` from its logs and duration."""
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        parts += [f"{key} {_scalar(logs[key]):.4f}" for key in ["loss", *self.keys] if key in logs]
        if self.best is not None and self.best.best_epoch:
            parts.append(f"best {self.best.best_value:.4f} (epoch {self.best.best_epoch})")
        parts.append(f"{seconds:.1f} s")
        return "  ".join(parts)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.log(self.format(epoch, logs, _scalar(logs.get("seconds", math.nan))))


def _scalar(value) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value)))


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate of each epoch's first step to the epoch logs as ``lr``.

    Works with a constant rate and with a ``LearningRateSchedule`` (read before
    the epoch's first step, so a phase change at an epoch boundary shows in its epoch).
    """

    def __init__(self):
        super().__init__()
        self._rate = math.nan

    def on_epoch_begin(self, epoch, logs=None):
        self._rate = _scalar(self.model.optimizer.learning_rate)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self._rate


class EpochReseed(keras.callbacks.Callback):
    """Sets every random-op seed state of the model to a function of (seed, epoch).

    Keras does not save the state of dropout's seed generators with the
    weights; reseeding at the start of each epoch makes the dropout masks of
    epoch ``e`` the same whether or not the run was interrupted before ``e``.

    Example:
        >>> EpochReseed(seed=0)  # doctest: +SKIP
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        states = [v for v in self.model.variables if v.name == "seed_generator_state"]
        for index, state in enumerate(states):
            state.assign(
                np.array(
                    [self.seed * 1_000_003 + index, epoch << 20],
                    dtype=keras.backend.standardize_dtype(state.dtype),
                )
            )


class TensorBoardScalars(keras.callbacks.Callback):
    """Writes every epoch log (loss, F1s, AUC, lr, ...) as a TensorBoard scalar ``epoch_<name>``.

    Under TensorFlow with TensorFlow's own summary writer, under another backend with
    :class:`~ecg_tl_keras.training.events.EventWriter`; neither needs the
    ``tensorboard`` package, which is only needed to view the logs
    (``tensorboard --logdir RUN/tensorboard``). Steps are 1-based epochs.

    Example:
        >>> TensorBoardScalars("runs/a/tensorboard")  # doctest: +SKIP
    """

    def __init__(self, log_dir: str | os.PathLike):
        super().__init__()
        self.log_dir = str(log_dir)
        self._writer = None

    def on_train_begin(self, logs=None):
        if uses_tf_data():
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.log_dir)
        else:
            from ecg_tl_keras.training.events import EventWriter

            self._writer = EventWriter(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        scalars = {f"epoch_{name}": _scalar(value) for name, value in (logs or {}).items()}
        if not uses_tf_data():
            self._writer.scalars(epoch + 1, scalars)
            return
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        with self._writer.as_default():
            for name, value in scalars.items():
                tf.summary.write(name, tf.constant(value, tf.float32), step=epoch + 1,
                                 metadata=metadata)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
