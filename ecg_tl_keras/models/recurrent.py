"""Recurrent backbones: one LSTM, bidirectional LSTM or GRU layer.

The layer (named `rnn`) reads the whole ECG. Its output becomes the feature
vector in one of two readouts (`READOUTS`):

- `"last"` (default): the final hidden state (`units` features, `2 * units`
  for the bidirectional LSTM);
- `"flatten"`: the study's released code: every time step's output, flattened
  (layer `rnn_flatten`, `samples * units` features). The linear head on top is
  then the study's `Linear(1000 * 100, n)` classifier, and `replace_head`
  re-initialises it when fine-tuning, as the study did (for an LSTM with 5
  labels, 500,005 of its weights).

Dropout is applied to those features (layer `rnn_dropout`), so it acts in
training, unlike the study's `nn.LSTM(dropout=0.3)` with one layer, where
PyTorch ignores it (`dropout=0.0` reproduces that). The recurrent layers keep
Keras' defaults (tanh, sigmoid gates, bias, no recurrent dropout, not
unrolled, GRU `reset_after=True`), which is what the TensorFlow backend needs
to run them with cuDNN on a GPU.
"""

import keras
from keras import layers

from ecg_tl_keras.choices import READOUTS, check_choice
from ecg_tl_keras.models.registry import BACKBONE_NAME, register_backbone
from ecg_tl_keras.models.validation import check_input_shape

DEFAULT_UNITS = 100
DEFAULT_DROPOUT = 0.3


def recurrent_backbone(input_shape, recurrent_layer, dropout, readout="last"):
    """Wraps a recurrent layer into a backbone with a readout and feature dropout.

    Args:
        input_shape: `(samples, leads)` of the ECG input.
        recurrent_layer: A Keras RNN layer named `"rnn"`; it returns only its
            final output (`return_sequences=False`) for `readout="last"` and
            every step's output (`return_sequences=True`) for `"flatten"`.
        dropout: Dropout rate on the features, in `[0, 1)`.
        readout: `"last"` (final state) or `"flatten"` (all steps, flattened).

    Returns:
        A functional `keras.Model` named `"backbone"`.

    Raises:
        ValueError: If `input_shape`, `dropout` or `readout` is invalid.

    Example:
        >>> rnn = keras.layers.GRU(8, return_sequences=True, name="rnn")
        >>> recurrent_backbone((50, 12), rnn, 0.3, readout="flatten").output_shape
        (None, 400)
    """
    input_shape = check_input_shape(input_shape)
    check_choice("readout", readout, READOUTS)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input(shape=input_shape, name="backbone_input")
    x = recurrent_layer(inputs)
    if readout == "flatten":
        x = layers.Flatten(name="rnn_flatten")(x)
    features = layers.Dropout(dropout, name="rnn_dropout")(x)
    return keras.Model(inputs, features, name=BACKBONE_NAME)


def _sequences(readout):
    """Whether the recurrent layer returns every step: the `"flatten"` readout."""
    return check_choice("readout", readout, READOUTS) == "flatten"


def _check_units(units):
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"units must be an integer >= 1, got {units!r}")
    return units


@register_backbone("lstm", family="rnn", stages=("rnn",), cpu_samples_per_s=190.6,
                   marker="^")
def lstm(input_shape=(1000, 12), units=DEFAULT_UNITS, dropout=DEFAULT_DROPOUT, readout="last"):
    """One LSTM layer; the final hidden state (`units` values) or every step (`"flatten"`).

    Example:
        >>> lstm((100, 12)).output_shape
        (None, 100)
        >>> lstm((100, 12), readout="flatten").output_shape
        (None, 10000)
    """
    layer = layers.LSTM(
        _check_units(units), return_sequences=_sequences(readout), name="rnn"
    )
    return recurrent_backbone(input_shape, layer, dropout, readout)


@register_backbone("bilstm", family="rnn", stages=("rnn",), cpu_samples_per_s=187.9,
                   marker="v")
def bilstm(input_shape=(1000, 12), units=DEFAULT_UNITS, dropout=DEFAULT_DROPOUT, readout="last"):
    """One bidirectional LSTM layer; both final states (`2 * units` values) or every step.

    Example:
        >>> bilstm((100, 12)).output_shape
        (None, 200)
        >>> bilstm((100, 12), readout="flatten").output_shape
        (None, 20000)
    """
    layer = layers.Bidirectional(
        layers.LSTM(_check_units(units), return_sequences=_sequences(readout)), name="rnn"
    )
    return recurrent_backbone(input_shape, layer, dropout, readout)


@register_backbone("gru", family="rnn", stages=("rnn",), cpu_samples_per_s=216.9,
                   marker="P")
def gru(input_shape=(1000, 12), units=DEFAULT_UNITS, dropout=DEFAULT_DROPOUT, readout="last"):
    """One GRU layer; the final hidden state (`units` values) or every step (`"flatten"`).

    Example:
        >>> gru((100, 12)).output_shape
        (None, 100)
        >>> gru((100, 12), readout="flatten").output_shape
        (None, 10000)
    """
    layer = layers.GRU(
        _check_units(units), return_sequences=_sequences(readout), name="rnn"
    )
    return recurrent_backbone(input_shape, layer, dropout, readout)
