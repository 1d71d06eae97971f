"""Recurrent backbones: one LSTM, bidirectional LSTM or GRU layer.

The layer (named `rnn`) reads the whole ECG and its final hidden state is the
feature vector (`units` features, `2 * units` for the bidirectional LSTM).
Dropout is applied to those features (layer `rnn_dropout`), so it acts in
training, unlike the study's `nn.LSTM(dropout=0.3)` with one layer, where
PyTorch ignores it. The recurrent layers keep Keras' defaults (tanh, sigmoid
gates, bias, no recurrent dropout, not unrolled, GRU `reset_after=True`), which
is what the TensorFlow backend needs to run them with cuDNN on a GPU.
"""

import keras
from keras import layers

from ecg_tl_keras.models.registry import BACKBONE_NAME, register_backbone
from ecg_tl_keras.models.validation import check_input_shape

DEFAULT_UNITS = 100
DEFAULT_DROPOUT = 0.3


def recurrent_backbone(input_shape, recurrent_layer, dropout):
    """Wraps a recurrent layer into a backbone with feature dropout.

    Args:
        input_shape: `(samples, leads)` of the ECG input.
        recurrent_layer: A Keras RNN layer named `"rnn"` that returns only its
            final output (`return_sequences=False`).
        dropout: Dropout rate on the features, in `[0, 1)`.

    Returns:
        A functional `keras.Model` named `"backbone"`.

    Raises:
        ValueError: If `input_shape` or `dropout` is invalid.

    Example:
        >>> rnn = keras.layers.GRU(8, name="rnn")
        >>> recurrent_backbone((50, 12), rnn, 0.3).output_shape
        (None, 8)
    """
    input_shape = check_input_shape(input_shape)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input(shape=input_shape, name="backbone_input")
    x = recurrent_layer(inputs)
    features = layers.Dropout(dropout, name="rnn_dropout")(x)
    return keras.Model(inputs, features, name=BACKBONE_NAME)


def _check_units(units):
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"units must be an integer >= 1, got {units!r}")
    return units


@register_backbone("lstm", family="rnn", stages=("rnn",), cpu_samples_per_s=190.6)
def lstm(input_shape=(1000, 12), units=DEFAULT_UNITS, dropout=DEFAULT_DROPOUT):
    """One LSTM layer; its final hidden state (`units` values) is the output.

    Example:
        >>> lstm((100, 12)).output_shape
        (None, 100)
    """
    layer = layers.LSTM(_check_units(units), name="rnn")
    return recurrent_backbone(input_shape, layer, dropout)


@register_backbone("bilstm", family="rnn", stages=("rnn",), cpu_samples_per_s=187.9)
def bilstm(input_shape=(1000, 12), units=DEFAULT_UNITS, dropout=DEFAULT_DROPOUT):
    """One bidirectional LSTM layer; both final states (`2 * units` values).

    Example:
        >>> bilstm((100, 12)).output_shape
        (None, 200)
    """
    layer = layers.Bidirectional(layers.LSTM(_check_units(units)), name="rnn")
    return recurrent_backbone(input_shape, layer, dropout)


@register_backbone("gru", family="rnn", stages=("rnn",), cpu_samples_per_s=216.9)
def gru(input_shape=(1000, 12), units=DEFAULT_UNITS, dropout=DEFAULT_DROPOUT):
    """One GRU layer; its final hidden state (`units` values) is the output.

    Example:
        >>> gru((100, 12)).output_shape
        (None, 100)
    """
    layer = layers.GRU(_check_units(units), name="rnn")
    return recurrent_backbone(input_shape, layer, dropout)
