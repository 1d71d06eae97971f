"""Building the model of a run, its optimizer and loss, and applying a fine-tuning strategy.

The strategies themselves (which stages train when, at which rate factor) are in
:mod:`ecg_tl_keras.training.strategies`; :class:`PhasedFinetuning` applies their
trainable stages and decides when a phase that ends on convergence ends, and
:class:`PhaseSchedule` applies their rate factors.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from ecg_tl_keras.models import (
    backbone_stages,
    build_model,
    replace_head,
    unfreeze_backbone,
    unfreeze_stages,
)
from ecg_tl_keras.models.normalization import layer_input_scaling
from ecg_tl_keras.models.presets import load_pretrained
from ecg_tl_keras.training.checkpoints import input_mismatch, label_names
from ecg_tl_keras.training.frozen_updates import follow_trainable_variables
from tfrecords_builder.manifest import Manifest
from ecg_tl_keras.training.strategies import Phase, finetune_phases, phase_starts


def head_type(model: keras.Model) -> str:
    """``"mlp"`` when the model has a ``head_hidden`` layer, else ``"linear"``."""
    return "mlp" if any(layer.name == "head_hidden" for layer in model.layers) else "linear"


def architecture(model: keras.Model) -> dict:
    """The settings of a built model that fine-tuning keeps: head, readout, dropout, scaling.

    ``readout`` and ``dropout`` are None for backbones without them.
    """
    backbone = model.get_layer("backbone")
    names = {layer.name: layer for layer in backbone.layers}
    readout = "flatten" if "rnn_flatten" in names else "last" if "rnn" in names else None
    dropout = names["rnn_dropout"].rate if "rnn_dropout" in names else None
    return {"head": head_type(model), "readout": readout, "dropout": dropout,
            "input_scaling": layer_input_scaling(model.get_layer("normalization"))}


def new_model(
    backbone: str,
    labels: list[str],
    shape: tuple[int, int],
    head: str | None,
    normalization: dict | None,
    **options,
) -> keras.Model:
    """A fresh model for ``labels`` (raises ValueError listing names for an unknown backbone).

    ``options``: ``readout``, ``dropout``, ``input_scaling``; None keeps the default.
    """
    options = {name: value for name, value in options.items() if value is not None}
    return build_model(
        backbone, len(labels), input_shape=shape, head=head or "linear",
        normalization=normalization, **options
    )


def transferred_model(
    checkpoint: str, backbone: str, manifest: Manifest, labels: list[str], head: str | None,
    **options,
) -> tuple[keras.Model, dict]:
    """The checkpoint's network with a fresh head for ``labels``.

    Args:
        manifest: the manifest of the data to fine-tune on (its rate, length and leads
            must be the checkpoint's).

    Returns:
        ``(model, source)``; ``source`` describes the checkpoint (path, labels, dataset).

    Raises:
        ValueError: unloadable checkpoint, inputs differing from the data's (rate, length,
            leads by name), backbone or head type differing from the requested one.
    """
    source_model, metadata = load_pretrained(checkpoint)  # a .keras file or a preset folder
    problem = input_mismatch(metadata, source_model.input_shape[1:], manifest)
    if problem:
        raise ValueError(f"checkpoint {checkpoint} cannot read the dataset's signals: {problem}")
    source_backbone = metadata.get("model", source_model.name)
    if source_backbone != backbone:
        raise ValueError(
            f"checkpoint {checkpoint} holds a {source_backbone!r} model, not {backbone!r}"
        )
    kept = architecture(source_model)
    for name, value in {"head": head, **options}.items():
        if value is not None and value != kept[name]:
            raise ValueError(
                f"checkpoint {checkpoint} has {name} {kept[name]!r}; "
                f"--{name.replace('_', '-')} {value} cannot change it when fine-tuning"
            )
    model = replace_head(source_model, len(labels))
    return model, {
        "checkpoint": str(checkpoint),
        "labels": label_names(source_model, metadata),
        "dataset": metadata.get("dataset"),
    }


@keras.saving.register_keras_serializable(package="ecg_tl_keras")
class PhaseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A base rate or schedule multiplied by a per-phase factor, phases starting at given steps.

    This is how fine-tuning strategies change the learning rate: through the
    optimizer's schedule, a function of the optimizer's step count, so it
    composes with any base schedule and is restored with the optimizer on resume.
    The boundaries are held in a variable, so a phase that starts when the previous
    one has converged moves its boundary (:meth:`set_boundaries`) without
    rebuilding the train step; the config holds their current values.

    Args:
        base: a float or a ``LearningRateSchedule``.
        boundaries: the first step of phases 1, 2, ... (increasing).
        factors: one factor per phase (``len(boundaries) + 1``).

    Raises:
        ValueError: not one factor per phase, or boundaries not increasing.

    Example:
        >>> schedule = PhaseSchedule(0.01, [10], [1.0, 0.1])
        >>> [round(float(schedule(step)), 4) for step in (0, 9, 10)]
        [0.01, 0.01, 0.001]
        >>> schedule.set_boundaries([5])
        >>> round(float(schedule(5)), 4), schedule.get_config()["boundaries"]
        (0.001, [5])
    """

    def __init__(self, base, boundaries, factors):
        if len(factors) != len(boundaries) + 1:
            raise ValueError(f"need one factor per phase: {len(boundaries)} boundaries, "
                             f"{len(factors)} factors")
        self.base = base
        self.factors = [float(f) for f in factors]
        self._boundaries = keras.Variable(_increasing(boundaries), dtype="int32",
                                          trainable=False, name="phase_boundaries")

    @property
    def boundaries(self) -> list[int]:
        """The first step of phases 1, 2, ... (their current values)."""
        return [int(b) for b in keras.ops.convert_to_numpy(self._boundaries)]

    def set_boundaries(self, boundaries) -> None:
        """Moves the phase boundaries (as many, increasing); takes effect at the next step."""
        if len(boundaries) != len(self.factors) - 1:
            raise ValueError(f"this schedule has {len(self.factors) - 1} phase boundaries, "
                             f"got {len(boundaries)}")
        self._boundaries.assign(_increasing(boundaries))

    def __call__(self, step):
        base = self.base(step) if callable(self.base) else self.base
        started = keras.ops.greater_equal(keras.ops.cast(step, "int32"), self._boundaries)
        phase = keras.ops.sum(keras.ops.cast(started, "int32"))
        factor = keras.ops.take(keras.ops.convert_to_tensor(self.factors, "float32"), phase)
        return keras.ops.cast(base, "float32") * factor

    def get_config(self):
        base = self.base
        if isinstance(base, keras.optimizers.schedules.LearningRateSchedule):
            base = keras.optimizers.schedules.serialize(base)
        return {"base": base, "boundaries": self.boundaries, "factors": self.factors}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["base"], dict):
            config["base"] = keras.optimizers.schedules.deserialize(config["base"])
        return cls(**config)


def _increasing(boundaries) -> list[int]:
    steps = [int(b) for b in boundaries]
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        raise ValueError(f"phase boundaries must increase, got {steps}")
    return steps


def phase_schedule(optimizer: keras.optimizers.Optimizer) -> PhaseSchedule | None:
    """The optimizer's :class:`PhaseSchedule` (also inside a ``LossScaleOptimizer``), or None.

    Example:
        >>> phase_schedule(keras.optimizers.SGD(PhaseSchedule(0.1, [4], [1.0, 0.1]))).boundaries
        [4]
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = getattr(inner, "_learning_rate", None)  # where Keras keeps the schedule object
    return rate if isinstance(rate, PhaseSchedule) else None


def make_optimizer(identifier, lr: float, phases: list[Phase],
                   steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer of a run: ``keras.optimizers.get(identifier)``, rate ``lr`` unless its
    config sets one, with the phases' rate factors applied through :class:`PhaseSchedule`.

    Raises:
        ValueError: Keras cannot interpret ``identifier``.

    Example:
        >>> make_optimizer("adamw", 0.01, [Phase(0, None)], 10).learning_rate.numpy().item()
        0.009999999776482582
    """
    try:
        own = {} if isinstance(identifier, str) else dict(identifier.get("config", {}))
        probe = keras.optimizers.get(identifier if isinstance(identifier, str) else {
            **identifier, "config": {k: v for k, v in own.items() if k != "learning_rate"}})
        config = {**probe.get_config(), "learning_rate": lr, **own}
        rate = config["learning_rate"]
        if isinstance(rate, dict):
            rate = keras.optimizers.schedules.deserialize(rate)
        factors = [phase.lr_factor for phase in phases]
        if any(factor != 1.0 for factor in factors):
            rate = PhaseSchedule(rate, [p.start_epoch * steps_per_epoch for p in phases[1:]],
                                 factors)
        return type(probe).from_config({**config, "learning_rate": rate})
    except (ValueError, TypeError) as error:
        raise ValueError(f"optimizer {identifier!r}: {error_text(error)}") from None


def make_loss(identifier):
    """``keras.losses.get(identifier)``, with a one-line ValueError for a bad identifier.

    Example:
        >>> make_loss("binary_crossentropy").__name__
        'binary_crossentropy'
    """
    try:
        return keras.losses.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(f"loss {identifier!r}: {error_text(error)}") from None


def error_text(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class PhasedFinetuning(keras.callbacks.Callback):
    """Applies each epoch's phase of a fine-tuning strategy: which backbone stages train.

    The learning-rate factors are in the optimizer's :class:`PhaseSchedule`. A phase
    with ``until`` ends after the first epoch at which its rule holds on the epoch
    log's ``monitor`` (:func:`~ecg_tl_keras.training.strategies.phase_starts`); the
    next phase then starts at the next epoch and its schedule boundary moves there.
    The losses seen so far are the callback's state (:meth:`state`,
    :meth:`load_state`, saved with each backup), so a resumed run switches at the
    same epoch as an uninterrupted one. When the trainable set changes, the compiled
    train, test and predict steps are rebuilt (``Model.fit``); the multi-worker loop
    notices the change itself. Place it after the callback that adds ``monitor`` to the epoch logs.

    Args:
        phases: the strategy's phases.
        steps_per_epoch: optimizer steps per epoch (to place schedule boundaries).
        monitor: the epoch-log key of the loss that ``until`` rules watch.
        log: prints a line when a phase starts during training (None: silent).

    Attributes:
        starts: the epoch each phase starts at (0-based), as decided so far.

    Example:
        >>> PhasedFinetuning(finetune_phases("lp-ft", 1, 10), 100, monitor="val_loss").starts
        [0, 5]
    """

    def __init__(self, phases: list[Phase], steps_per_epoch: int, *, monitor: str = "loss",
                 log: Callable[[str], None] | None = None):
        super().__init__()
        self.phases, self.steps_per_epoch = list(phases), steps_per_epoch
        self.monitor, self.log = monitor, log
        self.starts = [phase.start_epoch for phase in self.phases]
        self.losses: list[float] = []
        self._current: int | None = None  # the index of the applied phase

    def phase_of(self, epoch: int) -> Phase:
        return self.phases[self._index(epoch)]

    def _index(self, epoch: int) -> int:
        return max(index for index, start in enumerate(self.starts) if start <= epoch)

    def on_epoch_begin(self, epoch, logs=None):
        index = self._index(epoch)
        if index == self._current:
            return
        phase = self.phases[index]
        n_stages = len(backbone_stages(self.model))
        unfreeze_stages(self.model, n_stages if phase.stages is None else phase.stages)
        if self._current is not None:
            _rebuild_step_functions(self.model)
            if self.log is not None and self.starts[index] == epoch:
                self.log(self._start_line(index, epoch))
        self._current = index

    def _start_line(self, index: int, epoch: int) -> str:
        phase = self.phases[index]
        trains = ("the whole network" if phase.stages is None else "the head alone"
                  if phase.stages == 0 else f"the head and {phase.stages} backbone stage(s)")
        line = (f"epoch {epoch + 1}: fine-tuning phase {index + 1}/{len(self.phases)}: "
                f"{trains} at lr x{phase.lr_factor:g}")
        if self.phases[index - 1].until is None:
            return line
        if epoch < phase.start_epoch:
            return f"{line} (phase {index} converged on {self.monitor})"
        return f"{line} (phase {index} reached its last epoch before {self.monitor} converged)"

    def on_epoch_end(self, epoch, logs=None):
        if all(phase.until is None for phase in self.phases):
            return
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"the fine-tuning phases watch {self.monitor!r}, which is not in "
                             f"the epoch logs; available: {', '.join(sorted(logs))}")
        value = float(keras.ops.convert_to_numpy(logs[self.monitor]))
        self.losses = [*self.losses[:epoch], value]
        self._update_starts()

    def _update_starts(self) -> None:
        starts = phase_starts(self.phases, self.losses)
        if starts == self.starts:
            return
        self.starts = starts
        schedule = phase_schedule(self.model.optimizer)
        if schedule is not None:
            schedule.set_boundaries([start * self.steps_per_epoch for start in starts[1:]])

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez``: the monitored loss of each epoch run so far."""
        return {"losses": np.asarray(self.losses, np.float64)}

    def load_state(self, stored) -> None:
        """Restores :meth:`state`'s arrays and the phase starts they decide."""
        self.losses = [float(value) for value in stored["losses"]]
        self._update_starts()


def _rebuild_step_functions(model: keras.Model) -> None:
    """Rebuilds the model's compiled steps after its trainable set changed: the train step
    updates other variables, and under a JAX distribution each step's output layout lists the
    trainable and non-trainable variables apart."""
    for step in ("train", "test", "predict"):
        if getattr(model, f"{step}_function", None) is not None:
            getattr(model, f"make_{step}_function")(force=True)


def strategy_phases(model: keras.Model, finetune: str, epochs: int) -> list[Phase]:
    """The phases of ``finetune`` for this model's backbone (its stage count)."""
    return finetune_phases(finetune, len(backbone_stages(model)), epochs)


def prepare_finetuning(model: keras.Model, phases: list[Phase], steps_per_epoch: int, *,
                       monitor: str = "loss",
                       log: Callable[[str], None] | None = None) -> PhasedFinetuning | None:
    """Builds the optimizer over every weight, then applies the first phase.

    The optimizer gets slots for the whole network (so unfreezing later needs
    no rebuild, and saved optimizer states always have the same layout); under JAX it
    then updates the trainable part of the moment
    (:func:`~ecg_tl_keras.training.frozen_updates.follow_trainable_variables`).

    Args:
        model: the compiled model (its optimizer from :func:`make_optimizer`).
        phases: the strategy's phases.
        steps_per_epoch: optimizer steps per epoch.
        monitor: the epoch-log key of the loss that phases ending on convergence watch.
        log: prints a line when a phase starts during training (None: silent).

    Returns:
        The callback applying the later phases during training (None for a single phase).
    """
    if any(layer.name == "backbone" for layer in model.layers):  # a build_model model
        unfreeze_backbone(model)
    model.optimizer.build(model.trainable_variables)
    if phases == [Phase(0, None)]:  # the whole network from the start: nothing to freeze
        return None
    follow_trainable_variables(model.optimizer, model)
    callback = PhasedFinetuning(phases, steps_per_epoch, monitor=monitor, log=log)
    callback.set_model(model)
    callback.on_epoch_begin(0)
    return callback if len(phases) > 1 else None


def trainable_parameter_count(model: keras.Model) -> int:
    """Number of trainable scalars (for the run summary)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
