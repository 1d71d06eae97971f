"""`build_model`: normalization + backbone + head, one functional model."""

import keras

from ecg_tl_keras.models.heads import apply_head
from ecg_tl_keras.models.normalization import input_scaling_layer
from ecg_tl_keras.models.registry import BACKBONE_NAME, get_backbone
from ecg_tl_keras.models.validation import check_input_shape

DEFAULT_INPUT_SHAPE = (1000, 12)
INPUT_NAME = "ecg"


def build_model(
    backbone, n_labels, *, input_shape=None, head="linear", normalization=None, name=None,
    readout=None, input_scaling="zscore", **backbone_kwargs,
):
    """Builds a multi-label ECG classifier.

    The model maps signals in mV `(batch, samples, leads)` to label
    probabilities `(batch, n_labels)` through the layers `normalization`
    (per-lead standardization), `backbone` (a nested model) and `head`
    (`Dense(n_labels, sigmoid)`, preceded by `head_hidden` for `head="mlp"`).

    Args:
        backbone: A name from `available_backbones()` or a functional
            `keras.Model` with one `(samples, leads)` input and a
            `(batch, features)` output (its layers are used, not copied).
        n_labels: Number of labels, at least 1.
        input_shape: `(samples, leads)`. Defaults to `(1000, 12)` for a named
            backbone and to the model's own input shape for a `keras.Model`.
        head: `"linear"` or `"mlp"` (the study's released code).
        normalization: `None`, `(mean, std)` or a mapping with `"mean"` and
            `"std"`: per-lead statistics of the training split, in mV.
        name: Model name; defaults to the backbone name or `"ecg_classifier"`.
        readout: For a recurrent backbone name: `"last"` (final state) or
            `"flatten"` (every step flattened into the head, the study's code);
            None keeps the backbone's default (`"last"`). Backbones without a
            `readout` argument reject a value.
        input_scaling: `"zscore"` (the `normalization` statistics) or
            `"minmax"` (each record, each lead to [-1, 1], the study's code).
        **backbone_kwargs: Architecture arguments of a named backbone (they
            override its spec's `default_kwargs`, e.g. `units=64` for `gru`).

    Returns:
        An uncompiled functional `keras.Model`.

    Raises:
        ValueError: For an unknown backbone or head, `n_labels < 1`, a bad
            `input_shape`, normalization statistics that do not fit, or
            backbone arguments the backbone does not take (or given with a
            `keras.Model` backbone).

    Example:
        >>> model = build_model("gru", 5, input_shape=(250, 12),
        ...                     normalization=([0.0] * 12, [0.2] * 12))
        >>> model.output_shape
        (None, 5)
        >>> [layer.name for layer in model.layers]
        ['ecg', 'normalization', 'backbone', 'head']
        >>> build_model("gru", 5, input_shape=(250, 12), units=16).get_layer(
        ...     "backbone").output_shape
        (None, 16)
    """
    if readout is not None:
        backbone_kwargs["readout"] = readout
    backbone_model = _resolve_backbone(backbone, input_shape, backbone_kwargs)
    shape = tuple(backbone_model.input_shape[1:])
    inputs = keras.Input(shape=shape, name=INPUT_NAME)
    x = input_scaling_layer(input_scaling, normalization, n_leads=shape[-1])(inputs)
    features = backbone_model(x)
    outputs = apply_head(features, n_labels, head)
    if name is None:
        name = backbone if isinstance(backbone, str) else "ecg_classifier"
    return keras.Model(inputs, outputs, name=name)


def _resolve_backbone(backbone, input_shape, backbone_kwargs):
    """Returns a backbone model named `"backbone"` for a name or a model."""
    if isinstance(backbone, str):
        shape = DEFAULT_INPUT_SHAPE if input_shape is None else input_shape
        return get_backbone(backbone, input_shape=shape, **backbone_kwargs)
    if not isinstance(backbone, keras.Model):
        raise ValueError(
            f"backbone must be a backbone name or a keras.Model, got {type(backbone).__name__}"
        )
    if backbone_kwargs:
        raise ValueError(
            f"backbone arguments ({', '.join(sorted(backbone_kwargs))}) apply to a named "
            "backbone, not to a keras.Model"
        )
    if len(getattr(backbone, "inputs", None) or ()) != 1 or len(backbone.outputs) != 1:
        raise ValueError("a backbone model must be functional with one input and one output")
    own_shape = check_input_shape(backbone.input_shape[1:])
    if input_shape is not None and check_input_shape(input_shape) != own_shape:
        raise ValueError(
            f"input_shape {tuple(input_shape)} differs from the backbone's input {own_shape}"
        )
    if len(backbone.output_shape) != 2:
        raise ValueError(
            f"a backbone must output (batch, features), got {backbone.output_shape}"
        )
    if backbone.name != BACKBONE_NAME:
        backbone = keras.Model(backbone.input, backbone.output, name=BACKBONE_NAME)
    return backbone
