"""Per-lead input standardization baked into the model.

Models take signals in mV; the first layer, named `normalization`, subtracts
the per-lead mean and divides by the per-lead standard deviation of the
training split (the dataset manifest's `"normalization"` entry), so a saved
checkpoint carries its own preprocessing. It is a stock
`keras.layers.Normalization`, which serializes the statistics in its config.
"""

import numpy as np
from keras import layers

NORMALIZATION_NAME = "normalization"


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
