"""Building the model of a run and applying a fine-tuning strategy.

Strategies (``--finetune``), all starting from a checkpoint whose head is
replaced by a fresh one sized for the new labels:

- ``full`` (the study's): every layer trains at ``lr`` from the first epoch.
- ``linear``: the backbone stays frozen (BatchNorm in inference mode); only
  the head (and an MLP head's hidden layer) trains.
- ``gradual``: the epochs are split into ``S + 1`` equal phases, ``S`` being
  the number of backbone stages (5 for the ResNets: stem, stage1-4; 1 for
  the recurrent backbones). Phase 0 trains the head alone at ``lr``; phase
  ``k`` also trains the ``k`` stages nearest the output, all at
  ``lr * GRADUAL_LR_FACTOR``; the last phase trains the whole network. It
  needs ``epochs >= S + 1``.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from ecg_tl_keras.models import (
    backbone_stages,
    build_model,
    freeze_backbone,
    replace_head,
    unfreeze_backbone,
    unfreeze_stages,
)
from ecg_tl_keras.models.normalization import layer_input_scaling
from ecg_tl_keras.training.checkpoints import label_names, load_checkpoint

GRADUAL_LR_FACTOR = 0.1


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
    checkpoint: str, backbone: str, shape: tuple[int, int], labels: list[str], head: str | None,
    **options,
) -> tuple[keras.Model, dict]:
    """The checkpoint's network with a fresh head for ``labels``.

    Returns:
        ``(model, source)``; ``source`` describes the checkpoint (path, labels, dataset).

    Raises:
        ValueError: unloadable checkpoint, input shape differing from the data,
            backbone or head type differing from the requested one.
    """
    source_model, metadata = load_checkpoint(checkpoint)
    source_shape = tuple(source_model.input_shape[1:])
    if source_shape != tuple(shape):
        raise ValueError(
            f"checkpoint {checkpoint} takes inputs of shape {source_shape} but the "
            f"dataset's signals are {tuple(shape)} (samples, leads)"
        )
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


@dataclasses.dataclass(frozen=True)
class Phase:
    """A gradual-unfreezing phase: from ``start_epoch`` (0-based), ``stages`` trained at ``lr``."""

    start_epoch: int
    stages: int
    lr: float


def gradual_phases(n_stages: int, epochs: int, lr: float) -> list[Phase]:
    """The phases of ``--finetune gradual`` (see the module docstring).

    Raises:
        ValueError: fewer epochs than phases.

    Example:
        >>> [(p.start_epoch, p.stages) for p in gradual_phases(2, 7, 0.01)]
        [(0, 0), (2, 1), (4, 2)]
    """
    phases = n_stages + 1
    if epochs < phases:
        raise ValueError(
            f"--finetune gradual needs at least {phases} epochs for this backbone "
            f"(head alone, then {n_stages} stage(s) unfrozen one by one); got {epochs}"
        )
    return [
        Phase((k * epochs) // phases, k, lr if k == 0 else lr * GRADUAL_LR_FACTOR)
        for k in range(phases)
    ]


class GradualUnfreezing(keras.callbacks.Callback):
    """Applies the phase of each epoch: trainable stages and learning rate.

    The phase depends only on the epoch number, so a resumed run is in the
    same phase as an uninterrupted one. When the trainable set changes, the
    train function is rebuilt (``Model.fit``); the multi-worker loop notices
    the change itself.
    """

    def __init__(self, phases: list[Phase]):
        super().__init__()
        self.phases = phases
        self._current: Phase | None = None

    def phase_of(self, epoch: int) -> Phase:
        return [phase for phase in self.phases if phase.start_epoch <= epoch][-1]

    def on_epoch_begin(self, epoch, logs=None):
        phase = self.phase_of(epoch)
        if phase == self._current:
            return
        unfreeze_stages(self.model, phase.stages)
        self.model.optimizer.learning_rate.assign(phase.lr)
        if getattr(self.model, "train_function", None) is not None:
            self.model.make_train_function(force=True)
        self._current = phase


def prepare_finetuning(
    model: keras.Model, finetune: str, epochs: int, lr: float
) -> list[keras.callbacks.Callback]:
    """Builds the optimizer over every weight, then applies ``finetune``.

    The optimizer gets slots for the whole network (so unfreezing later needs
    no rebuild, and saved optimizer states always have the same layout).

    Returns:
        The callbacks the strategy needs during training (empty for full/linear).
    """
    unfreeze_backbone(model)
    model.optimizer.build(model.trainable_variables)
    if finetune == "linear":
        freeze_backbone(model)
    if finetune == "gradual":
        return [GradualUnfreezing(gradual_phases(len(backbone_stages(model)), epochs, lr))]
    return []


def trainable_parameter_count(model: keras.Model) -> int:
    """Number of trainable scalars (for the run summary)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
