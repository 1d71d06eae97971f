"""Classification heads put on top of a backbone's features.

`"linear"`: one `Dense(n_labels, sigmoid)` layer named `head`.
`"mlp"`: the head of the study's released code, `Dense(512) + ReLU` (named
`head_hidden`) and then the `head` layer. Only `head` is replaced when a model
is transferred to a new label set, as in the study's fine-tuning code.
The head computes in float32, so its sigmoid stays accurate under mixed precision.
"""

from keras import layers

from ecg_tl_keras.choices import HEADS, check_choice
from ecg_tl_keras.models.validation import check_n_labels

HEAD_NAME = "head"
HEAD_HIDDEN_NAME = "head_hidden"
MLP_UNITS = 512


def output_layer(n_labels):
    """Returns a fresh `Dense(n_labels, sigmoid)` layer named `head`.

    Args:
        n_labels: Number of labels, at least 1.

    Returns:
        An unbuilt `keras.layers.Dense`.

    Raises:
        ValueError: If `n_labels` is not an integer >= 1.

    Example:
        >>> output_layer(5).units
        5
    """
    return layers.Dense(
        check_n_labels(n_labels), activation="sigmoid", dtype="float32", name=HEAD_NAME
    )


def apply_head(features, n_labels, head="linear"):
    """Applies a classification head to a feature tensor.

    Args:
        features: Symbolic tensor `(batch, features)`.
        n_labels: Number of labels, at least 1.
        head: One of `HEADS`.

    Returns:
        The symbolic probabilities `(batch, n_labels)`.

    Raises:
        ValueError: If `head` is unknown or `n_labels` invalid.

    Example:
        >>> import keras
        >>> features = keras.Input(shape=(64,))
        >>> apply_head(features, 3, head="mlp").shape
        (None, 3)
    """
    if check_choice("head", head, HEADS) == "mlp":
        features = layers.Dense(MLP_UNITS, activation="relu", name=HEAD_HIDDEN_NAME)(
            features
        )
    return output_layer(n_labels)(features)
