"""Keras callbacks of a training run: best-weighted-F1 selection, history, reseeding.

All of them survive an interrupted run: :class:`BestWeightedF1` writes its
state (best score, epoch, weights) to ``state_dir`` whenever it improves and
reloads it when the run resumes; :class:`HistoryCSV` drops the rows of epochs
that will be run again; :class:`EpochReseed` makes dropout masks a function
of (seed, epoch) only, so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from ecg_tl_keras.metrics import macro_auc, weighted_f1
from ecg_tl_keras.training.evaluation import EvalSplit, Predictor

BEST_STATE_FILE = "best_state.npz"


def selection_key(split_name: str) -> str:
    """The log/history name of the selection metric, naming its split.

    Example:
        >>> selection_key("val")
        'selection_val_weighted_f1'
    """
    return f"selection_{split_name}_weighted_f1"


class BestWeightedF1(keras.callbacks.Callback):
    """Selects the epoch with the best sample-weighted F1 on the selection split.

    After every epoch it predicts the selection split and the test split,
    adds ``selection_<split>_weighted_f1``, ``test_weighted_f1`` and
    ``test_macro_auc`` to the epoch logs (so the progress bar, history and
    TensorBoard show them), and keeps the weights of the best epoch in memory
    (strictly better F1 wins; ties keep the earlier epoch). At the end of
    training the model gets the best weights back. The test split is only
    ever selected on when it *is* the selection split (``--select-on test``).

    Args:
        selection: the split the best epoch is chosen on.
        test: the test split (may be the same object as ``selection``).
        state_dir: where the best state is persisted for resuming (None: memory only).
        resume: load a persisted state at the start of training.
        threshold: probability threshold of the F1 score.

    Attributes:
        best_score: best selection F1 so far (-inf before the first epoch).
        best_epoch: 1-based epoch of ``best_score`` (0 before the first epoch).

    Example:
        >>> callback = BestWeightedF1(val_split, test_split)  # doctest: +SKIP
        >>> model.fit(train, epochs=10, callbacks=[callback])  # doctest: +SKIP
        >>> callback.best_epoch  # doctest: +SKIP
        7
    """

    def __init__(
        self,
        selection: EvalSplit,
        test: EvalSplit,
        *,
        state_dir: str | os.PathLike | None = None,
        resume: bool = False,
        threshold: float = 0.5,
    ):
        super().__init__()
        self.selection, self.test = selection, test
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.resume, self.threshold = resume, threshold
        self.best_score = -np.inf
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None
        self._predictor: Predictor | None = None

    @property
    def key(self) -> str:
        return selection_key(self.selection.name)

    def on_train_begin(self, logs=None):
        self._predictor = Predictor(self.model)
        state = None if self.state_dir is None else self.state_dir / BEST_STATE_FILE
        if self.resume and state is not None and state.is_file():
            self._load_state()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        test_prob = self._predictor(self.test.signals)
        logs["test_weighted_f1"] = weighted_f1(self.test.y_true, test_prob, self.threshold)
        auc = macro_auc(self.test.y_true, test_prob)["macro_auc"]
        logs["test_macro_auc"] = float("nan") if auc is None else auc
        if self.selection is self.test:
            score = logs["test_weighted_f1"]
        else:
            score = weighted_f1(
                self.selection.y_true, self._predictor(self.selection.signals), self.threshold
            )
        logs[self.key] = score
        if score > self.best_score:
            self.best_score, self.best_epoch = float(score), epoch + 1
            self.best_weights = self.model.get_weights()
            self._save_state()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def _save_state(self) -> None:
        """Writes score, epoch and weights together, atomically, to one ``.npz``."""
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        partial = self.state_dir / f".partial.{BEST_STATE_FILE}"
        weights = {f"weight_{i}": value for i, value in enumerate(self.best_weights)}
        np.savez(partial, best_score=self.best_score, best_epoch=self.best_epoch, **weights)
        os.replace(partial, self.state_dir / BEST_STATE_FILE)

    def _load_state(self) -> None:
        with np.load(self.state_dir / BEST_STATE_FILE, allow_pickle=False) as stored:
            count = sum(name.startswith("weight_") for name in stored.files)
            self.best_weights = [stored[f"weight_{i}"] for i in range(count)]
            self.best_score = float(stored["best_score"])
            self.best_epoch = int(stored["best_epoch"])


class HistoryCSV(keras.callbacks.Callback):
    """Writes one row per epoch (1-based ``epoch`` first, then ``columns``, then ``seconds``).

    On a fresh run (``initial_epoch == 0``) the file is started anew; on a
    resumed run the rows of epochs after ``initial_epoch`` (left by the
    interrupted run) are dropped, so every epoch appears exactly once.

    Example:
        >>> HistoryCSV("runs/a/history.csv", ["loss", "lr"])  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, columns: list[str], initial_epoch: int = 0):
        super().__init__()
        self.path, self.columns, self.initial_epoch = Path(path), list(columns), initial_epoch
        self._started = 0.0

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

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self._started, 3)}
        row.update({name: _scalar(logs.get(name, float("nan"))) for name in self.columns})
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.fieldnames).writerow(row)


def _scalar(value) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value)))


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs as ``lr``."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = _scalar(self.model.optimizer.learning_rate)


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

    Uses TensorFlow's own summary writer, so it works without the
    ``tensorboard`` package installed (which is only needed to view the logs:
    ``tensorboard --logdir RUN/tensorboard``). Steps are 1-based epochs.

    Example:
        >>> TensorBoardScalars("runs/a/tensorboard")  # doctest: +SKIP
    """

    def __init__(self, log_dir: str | os.PathLike):
        super().__init__()
        self.log_dir = str(log_dir)
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        with self._writer.as_default():
            for name, value in (logs or {}).items():
                tf.summary.write(
                    f"epoch_{name}",
                    tf.constant(_scalar(value), tf.float32),
                    step=epoch + 1,
                    metadata=metadata,
                )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
