"""Input scaling baked into the model (`INPUT_SCALINGS`).

Models take signals in mV; the first layer, named `normalization`, scales
them, so a saved checkpoint carries its own preprocessing:

- `"zscore"` (default): subtract the per-lead mean and divide by the per-lead
  standard deviation of the training split (the dataset manifest's
  `"normalization"` entry); a stock `keras.layers.Normalization`, which
  serializes the statistics in its config.
- `"minmax"`: the study's released code: each record, each lead on its own,
  min-max scaled to [-1, 1], as `sklearn.preprocessing.MinMaxScaler((-1, 1))`
  fitted on that one record (`MinMaxScaling`); no dataset statistics.
"""

import keras
import numpy as np
from keras import layers, ops

from ecg_tl_keras.choices import INPUT_SCALINGS, check_choice

NORMALIZATION_NAME = "normalization"


@keras.saving.register_keras_serializable(package="ecg_tl_keras")
class MinMaxScaling(layers.Layer):
    """Scales each record's leads to [-1, 1] by their own minimum and maximum.

    For a record `x` of shape `(samples, leads)` each lead becomes
    `-1 + 2 * (x - min) / (max - min)`, min and max taken over that record's
    samples: what the study did with `MinMaxScaler((-1, 1)).fit_transform(x)`
    per record. A constant lead (range below float32 resolution) maps to -1,
    as scikit-learn maps it (it divides by 1 instead of 0).

    Example:
        >>> layer = MinMaxScaling()
        >>> layer(np.array([[[0.0, 5.0], [2.0, 5.0], [4.0, 5.0]]])).numpy()[0].tolist()
        [[-1.0, -1.0], [0.0, -1.0], [1.0, -1.0]]
    """

    def call(self, inputs):
        low = ops.min(inputs, axis=-2, keepdims=True)
        span = ops.max(inputs, axis=-2, keepdims=True) - low
        tiny = 10 * np.finfo(np.float32).eps
        span = ops.where(span < tiny, ops.ones_like(span), span)
        return (inputs - low) * (2.0 / span) - 1.0

    def compute_output_shape(self, input_shape):
        return input_shape


def input_scaling_layer(input_scaling, normalization, n_leads):
    """Builds the model's first layer, named `normalization`, for a scaling.

    Args:
        input_scaling: `"zscore"` or `"minmax"`.
        normalization: the per-lead statistics `"zscore"` uses (see
            `normalization_layer`); `"minmax"` uses none and ignores them.
        n_leads: Number of leads (last input axis).

    Returns:
        A Keras layer named `"normalization"`.

    Raises:
        ValueError: For an unknown scaling or statistics that do not fit.

    Example:
        >>> input_scaling_layer("minmax", None, 12).name
        'normalization'
    """
    if check_choice("input_scaling", input_scaling, INPUT_SCALINGS) == "minmax":
        return MinMaxScaling(name=NORMALIZATION_NAME)
    return normalization_layer(normalization, n_leads)


def layer_input_scaling(layer):
    """The scaling (`"zscore"` or `"minmax"`) a model's `normalization` layer does.

    Example:
        >>> layer_input_scaling(MinMaxScaling())
        'minmax'
    """
    return "minmax" if isinstance(layer, MinMaxScaling) else "zscore"


def normalization_layer(normalization, n_leads):
    """Builds the input standardization layer.

    Args:
        normalization: `None` (identity), a `(mean, std)` pair or a mapping
            with `"mean"` and `"std"` (as in the dataset manifest); each a
            sequence of `n_leads` finite floats, std > 0.
        n_leads: Number of leads (last input axis).

    Returns:
        A `keras.layers.Normalization` named `"normalization"`.

    Raises:
        ValueError: If the statistics have the wrong length, are not finite
            or a standard deviation is not positive.

    Example:
        >>> layer = normalization_layer({"mean": [0.0, 1.0], "std": [1.0, 2.0]}, 2)
        >>> layer(np.array([[0.0, 3.0]])).numpy().tolist()
        [[0.0, 1.0]]
    """
    mean, std = _statistics(normalization, n_leads)
    return layers.Normalization(
        axis=-1, mean=mean.tolist(), variance=(std**2).tolist(), name=NORMALIZATION_NAME
    )


def _statistics(normalization, n_leads):
    if normalization is None:
        return np.zeros(n_leads), np.ones(n_leads)
    if hasattr(normalization, "keys"):
        if not {"mean", "std"} <= set(normalization.keys()):
            raise ValueError('normalization mapping needs "mean" and "std" keys')
        normalization = (normalization["mean"], normalization["std"])
    try:
        mean, std = (np.asarray(values, dtype=np.float64) for values in normalization)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"normalization must be None or (mean, std) of {n_leads} floats each: {error}"
        ) from None
    if mean.shape != (n_leads,) or std.shape != (n_leads,):
        raise ValueError(
            f"normalization mean and std need {n_leads} values each (one per lead), "
            f"got shapes {mean.shape} and {std.shape}"
        )
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise ValueError("normalization mean must be finite and std finite and > 0")
    return mean, std
