"""Transfer helpers: new head, frozen or partly frozen backbone.

Fine-tuning strategies of the study:

- full: `replace_head` and train everything;
- linear: `replace_head`, `freeze_backbone`, train the head only;
- gradual: train the head first, then `unfreeze_stages` one stage at a time
  from the output side towards the input (`backbone_stages` lists them).

Frozen layers have `trainable = False`, which in Keras 3 also runs their
BatchNormalization in inference mode (moving statistics untouched). Compile
the model again after changing what is trainable.
"""

import keras

from ecg_tl_keras.models.heads import HEAD_NAME, output_layer
from ecg_tl_keras.models.registry import BACKBONE_NAME, available_backbones, get_backbone_spec


def replace_head(model, n_labels):
    """Returns a copy of `model` with a fresh `head` for `n_labels` labels.

    All other weights (normalization, backbone and an MLP head's
    `head_hidden`) are copied bit for bit; the copy shares no variables with
    `model`, so training it leaves `model` unchanged. Trainable flags are
    copied too.

    Args:
        model: A model from `build_model` (or loaded from its checkpoint).
        n_labels: Number of labels of the new head, at least 1.

    Returns:
        A new uncompiled functional `keras.Model` with the same name.

    Raises:
        ValueError: If `model` has no `head` layer or `n_labels` is invalid.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> source = build_model("lstm", 5, input_shape=(100, 12))
        >>> replace_head(source, 3).output_shape
        (None, 3)
    """
    new_head = output_layer(n_labels)
    _get_layer(model, HEAD_NAME)  # fail before cloning when there is no head
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    outputs = new_head(copy.get_layer(HEAD_NAME).input)
    return keras.Model(copy.input, outputs, name=model.name)


def reinitialized(model, seed: int):
    """``model``'s architecture (input layer, backbone, head) with fresh weights from ``seed``.

    Built from the model's configuration, so layers with their settings in the configuration
    (a preset's input convention, a checkpoint's per-lead statistics) keep them; every weight
    is drawn anew by its initializer.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> source = build_model("gru", 2, input_shape=(50, 12), units=4)
        >>> first, again = reinitialized(source, 0), reinitialized(source, 0)
        >>> bool((first.get_weights()[1] == again.get_weights()[1]).all())
        True
    """
    import ecg_tl_keras.models  # noqa: F401  (registers the package's serializable objects)

    keras.utils.set_random_seed(seed)
    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model),
                                                 safe_mode=True)


def untrained_copy(model, seed: int, n_labels: int, policy: str = "float32"):
    """The from-scratch side of a fine-tune of ``model``: its architecture with fresh weights
    from ``seed`` (:func:`reinitialized`), a head for ``n_labels`` and its backbone computing
    under ``policy`` (the one the fine-tune trains with, so the pair is like for like).

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> source = build_model("gru", 2, input_shape=(50, 12), units=4)
        >>> copy = untrained_copy(source, 0, 5, "mixed_bfloat16")
        >>> copy.output_shape, copy.get_layer("backbone").layers[-1].dtype_policy.name
        ((None, 5), 'mixed_bfloat16')
    """
    from ecg_tl_keras.precision import apply_precision

    return apply_precision(replace_head(reinitialized(model, seed), n_labels), policy)


def backbone_stages(model, stages=None):
    """Groups the backbone's weighted layers into stages, input to output.

    The stage names come from `stages`, else from the `BackboneSpec` of the
    backbone the model was built from (`build_model` names the model after
    it): `stem`, `stage1` ... `stage4` for the ResNets, `rnn` for the
    recurrent backbones. A layer belongs to stage `p` when its name is `p`
    or starts with `p_`. Without a spec (a `keras.Model` backbone, or a
    spec registered with `stages=None`), each distinct name prefix before
    the first underscore is a stage.

    Args:
        model: A model from `build_model`.
        stages: Layer-name prefixes, input to output; overrides the spec.

    Returns:
        A list of stages, each a list of `keras.layers.Layer` holding weights.

    Raises:
        ValueError: If `model` has no `backbone` layer, or a weighted layer
            belongs to none of the stages, or a stage has no weighted layer.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> model = build_model("resnet1d18", 5, input_shape=(200, 12))
        >>> [stage[0].name.split("_")[0] for stage in backbone_stages(model)]
        ['stem', 'stage1', 'stage2', 'stage3', 'stage4']
    """
    layers = [layer for layer in _get_layer(model, BACKBONE_NAME).layers if layer.weights]
    if stages is None and model.name in available_backbones():
        stages = get_backbone_spec(model.name).stages
    if stages is None:
        stages = list(dict.fromkeys(layer.name.split("_")[0] for layer in layers))
    groups = {stage: [] for stage in stages}
    for layer in layers:
        owner = next((stage for stage in stages
                      if layer.name == stage or layer.name.startswith(f"{stage}_")), None)
        if owner is None:
            raise ValueError(
                f"backbone layer {layer.name!r} of model {model.name!r} belongs to none of the "
                f"stages {', '.join(stages)}; name it '<stage>_...'"
            )
        groups[owner].append(layer)
    empty = [stage for stage, members in groups.items() if not members]
    if empty:
        raise ValueError(f"stage(s) {', '.join(empty)} of model {model.name!r} have no "
                         "layer with weights")
    return list(groups.values())


def freeze_backbone(model):
    """Makes every backbone layer non-trainable (BatchNorm in inference mode).

    Args:
        model: A model from `build_model`; changed in place.

    Raises:
        ValueError: If `model` has no `backbone` layer.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> model = build_model("gru", 5, input_shape=(100, 12))
        >>> freeze_backbone(model)
        >>> [w.path for w in model.trainable_weights]
        ['head/kernel', 'head/bias']
    """
    for layer in _get_layer(model, BACKBONE_NAME).layers:
        layer.trainable = False


def unfreeze_backbone(model):
    """Makes the whole backbone trainable again.

    Args:
        model: A model from `build_model`; changed in place.

    Raises:
        ValueError: If `model` has no `backbone` layer.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> model = build_model("gru", 5, input_shape=(100, 12))
        >>> freeze_backbone(model)
        >>> unfreeze_backbone(model)
        >>> len(model.trainable_weights)
        5
    """
    backbone = _get_layer(model, BACKBONE_NAME)
    # Set every layer: with the TensorFlow backend, assigning the value a
    # layer already has is skipped, so the container alone may not propagate.
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = True


def unfreeze_stages(model, count):
    """Makes only the last `count` backbone stages trainable (gradual tuning).

    Args:
        model: A model from `build_model`; changed in place.
        count: How many stages, counted from the output side, to train;
            0 freezes the backbone, `len(backbone_stages(model))` unfreezes it.

    Raises:
        ValueError: If `model` has no `backbone` layer or `count` is out of range.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> model = build_model("resnet1d18", 5, input_shape=(200, 12))
        >>> unfreeze_stages(model, 1)
        >>> sorted({w.path.split("_")[0] for w in model.trainable_weights})
        ['head/bias', 'head/kernel', 'stage4']
    """
    stages = backbone_stages(model)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= len(stages):
        raise ValueError(f"count must be an integer in [0, {len(stages)}], got {count!r}")
    unfreeze_backbone(model)
    for stage in stages[: len(stages) - count]:
        for layer in stage:
            layer.trainable = False


def _get_layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no {name!r} layer; build it with build_model"
        ) from None
