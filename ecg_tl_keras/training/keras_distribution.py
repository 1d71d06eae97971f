"""The devices of a run under a Keras backend other than TensorFlow (``keras.distribution``).

``--strategy`` under the JAX backend:

- ``auto``: ``keras.distribution.DataParallel`` over all accelerators when more than one
  is visible, else one device;
- ``default``: one device;
- ``data-parallel``: ``keras.distribution.DataParallel`` over every device Keras lists
  (on a CPU, the host devices ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes).

``mirrored`` and ``multiworker`` are ``tf.distribute`` strategies and need TensorFlow.
:class:`KerasDistribution` answers what the trainer asks of a ``tf.distribute``
strategy (``scope()``, ``num_replicas_in_sync``).

Example:
    >>> make_distribution("default").num_replicas_in_sync
    1
"""

from __future__ import annotations

import contextlib

#: ``--strategy`` names that only ``tf.distribute`` has.
TENSORFLOW_ONLY = ("mirrored", "multiworker")
DATA_PARALLEL = "data-parallel"


class KerasDistribution:
    """One device, or a ``keras.distribution.Distribution`` over several.

    Attributes:
        distribution: the Keras distribution (None: one device).
    """

    def __init__(self, distribution=None):
        self.distribution = distribution

    @property
    def num_replicas_in_sync(self) -> int:
        """The devices a batch is split over."""
        if self.distribution is None:
            return 1
        return int(self.distribution.device_mesh.devices.size)

    def scope(self):
        """The context to build, train and evaluate the model in."""
        return contextlib.nullcontext() if self.distribution is None else self.distribution.scope()


def batch_multiple() -> int:
    """What a batch's size must be a multiple of under the Keras distribution in scope
    (its device count; 1 without one).

    Example:
        >>> batch_multiple()
        1
    """
    import keras

    current = keras.distribution.distribution()
    return 1 if current is None else int(current.device_mesh.devices.size)


def _data_parallel(devices: list) -> KerasDistribution:
    import keras

    return KerasDistribution(keras.distribution.DataParallel(devices=devices))


def make_distribution(name: str) -> KerasDistribution:
    """The devices for ``--strategy name`` under a Keras backend other than TensorFlow.

    Raises:
        ValueError: a ``tf.distribute`` strategy, or an unknown name.
    """
    import keras

    if name == "default":
        return KerasDistribution()
    if name == "auto":
        accelerators = [device for device in keras.distribution.list_devices()
                        if not device.lower().startswith("cpu")]
        return _data_parallel(accelerators) if len(accelerators) > 1 else KerasDistribution()
    if name == DATA_PARALLEL:
        return _data_parallel(keras.distribution.list_devices())
    if name in TENSORFLOW_ONLY:
        raise ValueError(f"--strategy {name} is a tf.distribute strategy: it needs "
                         f"KERAS_BACKEND=tensorflow (under {keras.backend.backend()}, use "
                         f"--strategy {DATA_PARALLEL} for several devices)")
    raise ValueError(f"unknown strategy {name!r}; choose auto, default or {DATA_PARALLEL}")
