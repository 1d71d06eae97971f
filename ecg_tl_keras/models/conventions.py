"""Input conventions of pre-trained models, as the model's first layer.

Our models take signals in mV and scale them in their first layer, named
`normalization` (see `ecg_tl_keras.models.normalization`). A foundation model
was trained on its own convention; its preset puts that convention in the same
place, so training, evaluating and predicting from the preset apply it:

- `"record_zscore"`: the whole record (every lead, every sample) minus its mean,
  divided by its standard deviation plus `epsilon` (ECGFounder's datasets:
  `(x - mean(x)) / (std(x) + 1e-8)` over the `leads x samples` array).
- `"scale"`: the signal multiplied by `factor` (Ribeiro et al.'s units).

`convention_layer(spec)` builds the layer of a spec (`{"type": ..., ...}`, as a
preset's `metadata.json` stores it under `input.normalization`).
"""

import keras
from keras import layers, ops

from ecg_tl_keras.models.normalization import NORMALIZATION_NAME

CONVENTIONS = ("record_zscore", "scale")


@keras.saving.register_keras_serializable(package="ecg_tl_keras")
class RecordStandardization(layers.Layer):
    """Standardizes each record by its own mean and standard deviation over all leads.

    Args:
        epsilon: Added to the standard deviation (ECGFounder: 1e-8).

    Example:
        >>> import numpy as np
        >>> x = np.array([[[1.0, 3.0], [1.0, 3.0]]], "float32")
        >>> RecordStandardization(epsilon=0.0)(x).numpy()[0].tolist()
        [[-1.0, 1.0], [-1.0, 1.0]]
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def call(self, inputs):
        mean = ops.mean(inputs, axis=(-2, -1), keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(inputs - mean), axis=(-2, -1), keepdims=True))
        return (inputs - mean) / (std + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def convention_layer(spec):
    """The first layer (named `normalization`) applying an input convention.

    Args:
        spec: `{"type": "record_zscore", "epsilon": 1e-8}` or
            `{"type": "scale", "factor": 10.0}`.

    Returns:
        A Keras layer named `"normalization"`.

    Raises:
        ValueError: For an unknown type or a missing or invalid value.

    Example:
        >>> convention_layer({"type": "scale", "factor": 10.0}).scale
        10.0
    """
    kind = spec.get("type") if hasattr(spec, "get") else None
    if kind == "record_zscore":
        return RecordStandardization(epsilon=spec.get("epsilon", 1e-8), name=NORMALIZATION_NAME)
    if kind == "scale":
        factor = spec.get("factor")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise ValueError(f"a scale convention needs a positive factor, got {factor!r}")
        return layers.Rescaling(float(factor), name=NORMALIZATION_NAME)
    raise ValueError(f"input normalization must be a mapping with type one of "
                     f"{', '.join(CONVENTIONS)}; got {spec!r}")
