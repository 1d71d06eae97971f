"""Predicting a whole split and scoring the predictions."""

from __future__ import annotations

import dataclasses
import os
import weakref

from typing import Iterable

import keras
import numpy as np

from ecg_tl_keras.backends import uses_tf_data
from ecg_tl_keras.built import BuiltDataset
from ecg_tl_keras.metrics import classification_report

EVAL_BATCH_SIZE = 256


@dataclasses.dataclass
class EvalSplit:
    """A split held for repeated evaluation: batched signals plus targets and ids.

    Attributes:
        name: split name used in logs (``"val"``, ``"test"``).
        signals: batched signals, in the order of ``y_true``: a ``tf.data.Dataset`` under
            TensorFlow, else a re-iterable of NumPy batches (``pydata.SignalBatches``).
        y_true: multi-hot targets, ``(records, labels)``.
        record_ids: record ids, ``(records,)``.

    Example:
        >>> split = EvalSplit.from_arrays("val", np.zeros((4, 10, 12), "float32"),
        ...                               np.eye(4, 2), ["a", "b", "c", "d"])
        >>> split.y_true.shape
        (4, 2)
    """

    name: str
    signals: Iterable
    y_true: np.ndarray
    record_ids: np.ndarray

    @classmethod
    def from_records(
        cls, name: str, records, batch_size: int = EVAL_BATCH_SIZE
    ) -> "EvalSplit":
        """From a ``tf.data.Dataset`` of unbatched ``(signal, labels, record_id)`` records
        (one pass reads targets)."""
        import tensorflow as tf

        targets = records.map(lambda signal, labels, record_id: (labels, record_id)).batch(4096)
        labels, ids = [], []
        for batch_labels, batch_ids in targets.as_numpy_iterator():
            labels.append(batch_labels)
            ids.append(batch_ids)
        if not labels:
            raise ValueError(f"the {name} split selects no records")
        signals = records.map(lambda signal, labels, record_id: signal).batch(batch_size)
        return cls(
            name,
            signals.prefetch(tf.data.AUTOTUNE),
            np.concatenate(labels),
            np.array([i.decode() for i in np.concatenate(ids)], dtype=str),
        )

    @classmethod
    def from_arrays(
        cls, name: str, signals, y_true, record_ids, batch_size: int = EVAL_BATCH_SIZE
    ) -> "EvalSplit":
        """From in-memory arrays (tests, small data)."""
        signals = np.asarray(signals, np.float32)
        if uses_tf_data():
            import tensorflow as tf

            dataset = tf.data.Dataset.from_tensor_slices(signals).batch(batch_size)
        else:
            dataset = [signals[start:start + batch_size]
                       for start in range(0, len(signals), batch_size)]
        return cls(name, dataset, np.asarray(y_true, np.float32), np.asarray(record_ids, dtype=str))


def load_eval_split(
    data_dir: str | os.PathLike | BuiltDataset,
    split: str,
    *,
    name: str | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
    **filters,
) -> EvalSplit:
    """An :class:`EvalSplit` of a built dataset's split (``filters`` as in ``load_records``).

    Example:
        >>> test = load_eval_split("OUT/ptbxl", "test")  # doctest: +SKIP
    """
    if not uses_tf_data():
        return _eval_split_from_shards(data_dir, split, name or split, batch_size, filters)
    from ecg_tl_keras import datasets

    records = datasets.load_records(data_dir, split, with_ids=True, **filters)
    return EvalSplit.from_records(name or split, records, batch_size)


def _eval_split_from_shards(data_dir, split: str, name: str, batch_size: int,
                            filters: dict) -> EvalSplit:
    """:func:`load_eval_split` without TensorFlow: targets read once, signals on each pass."""
    from ecg_tl_keras.shards import RecordFilter, iter_records
    from ecg_tl_keras.training.pydata import SignalBatches

    data, keep = BuiltDataset.open(data_dir), RecordFilter.of(**filters)
    records = list(iter_records(data, split, keep=keep, with_signal=False))
    if not records:
        raise ValueError(f"the {name} split selects no records")
    return EvalSplit(name, SignalBatches(data, split, keep, batch_size),
                     np.stack([record.labels for record in records]),
                     np.array([record.record_id for record in records], dtype=str))


class Predictor:
    """Forward passes of one model in inference mode, traced once per model.

    Under TensorFlow:

    The forward function has a fixed input signature (any batch size), so batches
    of different sizes (a split's last batch, another split) never retrace it, and
    every ``Predictor`` of the same model shares it: the per-epoch evaluation, the
    final test and ``evaluate`` trace once in all (no ``tf.function`` retracing
    warnings). Runs in the current (cross-replica) context, so it works the same
    under every distribution strategy and returns predictions in dataset order. Under
    another backend: ``Model.predict_on_batch`` (compiled by the backend once per shape).

    Example:
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, "sigmoid")])
        >>> Predictor(model)(EvalSplit.from_arrays("x", np.zeros((2, 3)), [[0]] * 2,
        ...                                        ["a", "b"]).signals).shape
        (2, 1)
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self._forward = _forward_function(model) if uses_tf_data() else None

    def __call__(self, signals: Iterable) -> np.ndarray:
        if self._forward is None:
            outputs = [self._predict_on_batch(np.asarray(batch)) for batch in signals]
        else:
            outputs = [self._forward(batch).numpy() for batch in signals]
        return np.concatenate(outputs).astype(np.float32)


    def _predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        """Under a Keras distribution, a batch padded to split evenly over its devices."""
        from ecg_tl_keras.training.keras_distribution import batch_multiple

        padding = -len(batch) % batch_multiple()
        if padding:
            batch = np.concatenate([batch, np.zeros((padding, *batch.shape[1:]), batch.dtype)])
        return np.asarray(self.model.predict_on_batch(batch))[:len(batch) - padding]


_FORWARD_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _forward_function(model: keras.Model):
    """The model's inference ``tf.function`` (one per model, traced on first use)."""
    import tensorflow as tf

    if model not in _FORWARD_FUNCTIONS:
        reference = weakref.ref(model)  # the function must not keep the model alive
        signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)]
        _FORWARD_FUNCTIONS[model] = tf.function(
            lambda x: reference()(x, training=False), input_signature=signature)
    return _FORWARD_FUNCTIONS[model]


def evaluate(predictor: Predictor, split: EvalSplit, label_names) -> tuple[dict, np.ndarray]:
    """Predicts ``split`` and returns ``(classification_report, y_prob)``.

    Example:
        >>> report, y_prob = evaluate(Predictor(model), test, ["NORM", "MI"])  # doctest: +SKIP
    """
    y_prob = predictor(split.signals)
    return classification_report(split.y_true, y_prob, label_names), y_prob


def save_predictions(
    path: str | os.PathLike, split: EvalSplit, y_prob: np.ndarray, label_names
) -> None:
    """Writes ``record_id``, ``y_true``, ``y_prob`` and ``labels`` to an ``.npz`` (no pickles).

    Example:
        >>> save_predictions("runs/a/predictions_test.npz", test, y_prob, names)  # doctest: +SKIP
    """
    np.savez(
        path,
        record_id=split.record_ids,
        y_true=split.y_true.astype(np.float32),
        y_prob=y_prob.astype(np.float32),
        labels=np.asarray(label_names, dtype=str),
    )


def evaluate_checkpoint(checkpoint: str, data, split: str = "test", *, verify: bool = True) -> dict:
    """Metrics of a checkpoint on a split: weighted/macro/per-label F1 and macro AUC.

    Raises:
        FileNotFoundError: missing checkpoint, manifest or shard.
        ValueError: unloadable checkpoint, its inputs or labels differ from the dataset's,
            or a shard differs from the manifest's sha256 (with ``verify``).

    Example:
        >>> evaluate_checkpoint("runs/r18/best.keras", "OUT/ptbxl")["weighted_f1"]  # doctest: +SKIP
        0.71
    """
    from ecg_tl_keras.training.checkpoints import input_mismatch, label_names, load_checkpoint

    dataset = BuiltDataset.open(data)
    if verify:
        dataset.verify([split])
    model, metadata = load_checkpoint(checkpoint)
    problem = input_mismatch(metadata, model.input_shape[1:], dataset.manifest)
    if problem:
        raise ValueError(f"{checkpoint} cannot read {data}: {problem}")
    names = label_names(model, metadata)
    if metadata.get("labels", dataset.labels) != dataset.labels or len(names) != len(
        dataset.labels
    ):
        raise ValueError(f"{checkpoint} predicts labels {names}, {data} has {dataset.labels}")
    report, _ = evaluate(Predictor(model), load_eval_split(dataset, split), dataset.labels)
    return {"checkpoint": str(checkpoint), "data": str(data), "split": split, **report}
