"""Distribution strategies and the multi-worker training loop.

``--strategy``:

- ``auto``: ``MirroredStrategy`` over all GPUs when more than one is visible,
  else the default (single-device) strategy;
- ``default``: the default strategy;
- ``mirrored``: ``MirroredStrategy`` over all visible GPUs, or over all
  logical CPU devices when there is no GPU;
- ``multiworker``: ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``;
- ``data-parallel``: ``keras.distribution.DataParallel``, under the JAX backend only.

Under a Keras backend other than TensorFlow, :func:`make_strategy` returns a
:class:`~ecg_tl_keras.training.keras_distribution.KerasDistribution` instead and this
module does not import TensorFlow.

The global batch size is always the requested one; it is split over replicas.

``Model.fit`` does not work under ``MultiWorkerMirroredStrategy`` in Keras 3
(keras-team/keras#20585): ``fit`` first reduces a *structure* of input
``PerReplica`` values with ``strategy.reduce`` (which only takes single values),
then reduces the step's scalar logs with ``axis=0``. Multi-worker runs
therefore use :func:`fit_custom`, a small loop with ``strategy.run`` and
cross-replica reductions that drives the same Keras callbacks as ``fit``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

import keras

from ecg_tl_keras.backends import uses_tf_data
from ecg_tl_keras.training.keras_distribution import (DATA_PARALLEL, KerasDistribution,
                                                      make_distribution)

if TYPE_CHECKING:
    import tensorflow as tf

#: What a run trains under: a ``tf.distribute`` strategy or a Keras distribution.
Strategy = Union["tf.distribute.Strategy", KerasDistribution]


def make_strategy(name: str) -> Strategy:
    """The ``tf.distribute`` strategy for ``--strategy name`` (a :class:`KerasDistribution`
    under another Keras backend).

    Create it before any other TensorFlow work (``MultiWorkerMirroredStrategy``
    requires it).

    Raises:
        ValueError: unknown name, ``multiworker`` without a ``TF_CONFIG``, or a strategy
            the backend does not have.

    Example:
        >>> make_strategy("default").num_replicas_in_sync
        1
    """
    if not uses_tf_data():
        return make_distribution(name)
    import tensorflow as tf

    if name == DATA_PARALLEL:
        raise ValueError(f"--strategy {DATA_PARALLEL} is keras.distribution's, for "
                         "KERAS_BACKEND=jax; under TensorFlow use --strategy mirrored")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--strategy multiworker needs the TF_CONFIG environment variable "
                '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}})'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose auto, default, mirrored or multiworker")


def is_multiworker(strategy: Strategy) -> bool:
    if isinstance(strategy, KerasDistribution):
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def needs_even_batches(strategy: Strategy) -> bool:
    """Whether every batch must split evenly over the replicas (``keras.distribution``)."""
    return isinstance(strategy, KerasDistribution) and strategy.num_replicas_in_sync > 1


def fit_scope(strategy: Strategy):
    """The context ``fit`` and the final evaluation run in: a Keras distribution's scope (its
    batches are split over its devices there); nothing for a ``tf.distribute`` strategy (the
    model remembers it)."""
    return strategy.scope() if isinstance(strategy, KerasDistribution) else (
        contextlib.nullcontext())


def worker_task(strategy: Strategy) -> tuple[str, int] | None:
    """``(task_type, task_id)`` of this process in a multi-worker cluster, else None."""
    if not is_multiworker(strategy):
        return None
    resolver = strategy.cluster_resolver
    return resolver.task_type, int(resolver.task_id)


def is_chief(strategy: Strategy) -> bool:
    """Whether this process writes the run directory (worker 0 when there is no chief task).

    Example:
        >>> is_chief(make_strategy("default"))
        True
    """
    task = worker_task(strategy)
    if task is None:
        return True
    task_type, task_id = task
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)


def run_directory(out: str | os.PathLike, strategy: Strategy) -> Path:
    """The chief writes ``out``; another worker writes ``out/workers/<type>-<id>``.

    Every worker keeps its own backup there, so each resumes from its own state.
    """
    if is_chief(strategy):
        return Path(out)
    task_type, task_id = worker_task(strategy)
    return Path(out) / "workers" / f"{task_type}-{task_id}"


def pad_and_shard(
    count: int,
    steps: int,
    global_batch: int,
    shape: tuple[int, int],
    n_labels: int,
    context: tf.distribute.InputContext,
) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
    """Per-epoch transformation for the multi-worker loop.

    Adds a per-record weight (1 for real records), pads the epoch with
    zero-weight records up to ``steps * global_batch`` so every worker runs
    the same number of equal steps, and keeps this worker's share.
    """
    import tensorflow as tf

    padding = steps * global_batch - count

    def transform(ds: tf.data.Dataset) -> tf.data.Dataset:
        weighted = ds.map(lambda x, y: (x, y, tf.constant(1.0)))
        filler = tf.data.Dataset.from_tensors(
            (tf.zeros(shape, tf.float32), tf.zeros([n_labels], tf.float32), tf.constant(0.0))
        )
        return weighted.concatenate(filler.repeat(padding)).shard(
            context.num_input_pipelines, context.input_pipeline_id
        )

    return transform


def per_record_loss(loss, y_true, y_pred):
    """The unreduced (one value per record) loss of a compiled ``Model.loss``.

    Example:
        >>> per_record_loss(keras.losses.BinaryCrossentropy(), [[1.0]], [[0.5]]).shape
        TensorShape([1])
    """
    import tensorflow as tf

    if isinstance(loss, keras.losses.Loss):
        return loss.call(tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred))
    return loss(y_true, y_pred)


def _train_step_function(model: keras.Model, strategy: tf.distribute.Strategy) -> Callable:
    import tensorflow as tf

    variables = model.trainable_variables

    def replica_step(x, y, weight):
        with tf.GradientTape() as tape:
            y_prob = model(x, training=True)
            per_record = per_record_loss(model.loss, y, y_prob)
            total_weight = tf.distribute.get_replica_context().all_reduce(
                "SUM", tf.reduce_sum(weight)
            )
            loss = tf.reduce_sum(per_record * weight) / tf.maximum(total_weight, 1.0)
        gradients = tape.gradient(loss, variables)
        model.optimizer.apply_gradients(zip(gradients, variables))
        return tf.reduce_sum(per_record * weight), tf.reduce_sum(weight)

    @tf.function
    def step(iterator):
        loss_sum, weight_sum = strategy.run(replica_step, args=next(iterator))
        return (
            strategy.reduce("SUM", loss_sum, axis=None),
            strategy.reduce("SUM", weight_sum, axis=None),
        )

    return step


def fit_custom(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset],
    *,
    steps_per_epoch: int,
    epochs: int,
    initial_epoch: int,
    callbacks: list[keras.callbacks.Callback],
    verbose,
) -> keras.callbacks.History:
    """Trains like ``Model.fit`` with a ``strategy.run`` step; for multi-worker runs.

    ``dataset_fn`` yields per-replica batches of ``(x, y, weight)`` for all
    remaining epochs (see :func:`pad_and_shard`). The epoch loss is the
    weight-averaged binary cross-entropy. Callbacks see the same hooks and
    logs as under ``fit``; the step is rebuilt when the trainable set changes
    (gradual unfreezing).
    """
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=1 if verbose == "auto" else verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
    callback_list.on_train_begin()
    step, step_variables, logs = None, None, {}
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        trainable = [id(v) for v in model.trainable_variables]
        if trainable != step_variables:
            step, step_variables = _train_step_function(model, strategy), trainable
        loss_sum = weight_sum = 0.0
        for batch in range(steps_per_epoch):
            callback_list.on_train_batch_begin(batch)
            batch_loss, batch_weight = step(iterator)
            loss_sum += float(batch_loss)
            weight_sum += float(batch_weight)
            callback_list.on_train_batch_end(batch, {"loss": loss_sum / max(weight_sum, 1.0)})
        logs = {"loss": loss_sum / max(weight_sum, 1.0)}
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end(logs)
    return model.history
