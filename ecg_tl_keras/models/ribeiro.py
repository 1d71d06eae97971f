"""`ribeiro_resnet`: the ResNet of Ribeiro et al. (Nat. Commun. 2020), in Keras 3.

The architecture of the authors' automatic-ecg-diagnosis code: a stem
`Conv1D(64, 16)` + BN + ReLU, then four residual units of 128, 196, 256 and 320
filters, each shortening the signal 4x (4,096 -> 1,024 -> 256 -> 64 -> 16
samples). A unit takes the pair `(x, y)`: `y` (the skip path) is max-pooled by
the unit's factor ("same" padding) and projected by a 1x1 convolution when the
width changes; `x` goes through `Conv1D(k)` + BN + ReLU + Dropout and a strided
`Conv1D(k)`; the sum of both is the next `y` and, after BN + ReLU + Dropout, the
next `x` (pre-activation residual units). The last `x` is flattened into the
features (16 x 320 = 5,120 for 4,096 samples). Convolutions pad "same", have no
bias and use He-normal initialization; BatchNormalization uses the Keras
defaults the authors trained with (epsilon 1e-3).

Published model: 12 leads (I, II, III, aVR, aVL, aVF, V1-V6), 400 Hz, 4,096
samples (shorter tracings zero-padded), amplitudes in units of 1e-4 V, and a
`Dense(6, sigmoid)` head (1dAVb, RBBB, LBBB, SB, AF, ST).

Layer names: `stem_*`, `unit{i}_*` (1-based) and `flatten`; the gradual-unfreezing
stages are those prefixes. The layers are created in the authors' order (skip
path first in each unit), which `ecg_tl_keras.importers.ribeiro` relies on to
map a Keras 2 weight file onto them.
"""

import keras
from keras import layers

from ecg_tl_keras.models.registry import BACKBONE_NAME, register_backbone
from ecg_tl_keras.models.validation import check_input_shape

#: Filters and length reduction of each residual unit of the published model.
UNIT_FILTERS = (128, 196, 256, 320)
UNIT_DOWNSAMPLE = (4, 4, 4, 4)


def _conv(x, filters, kernel_size, name, stride=1):
    return layers.Conv1D(filters, kernel_size, strides=stride, padding="same", use_bias=False,
                         kernel_initializer="he_normal", name=name)(x)


def _bn_relu_dropout(x, name, dropout):
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def residual_unit(x, y, filters, downsample, *, kernel_size, dropout, name):
    """One pre-activation residual unit of the published network.

    Args:
        x: Symbolic main-path input `(batch, samples, channels)`.
        y: Symbolic skip-path input, same shape as `x`.
        filters: Output channels.
        downsample: Length reduction factor (>= 1).
        kernel_size: Taps of both convolutions.
        dropout: Dropout rate after each activation (0: none).
        name: Layer-name prefix.

    Returns:
        The pair `(x, y)` of the next unit.
    """
    if downsample > 1:
        y = layers.MaxPooling1D(downsample, strides=downsample, padding="same",
                                name=f"{name}_skip_pool")(y)
    if y.shape[-1] != filters:
        y = _conv(y, filters, 1, f"{name}_skip_conv")
    x = _conv(x, filters, kernel_size, f"{name}_conv1")
    x = _bn_relu_dropout(x, f"{name}_1", dropout)
    x = _conv(x, filters, kernel_size, f"{name}_conv2", stride=downsample)
    x = y = layers.Add(name=f"{name}_add")([x, y])
    x = _bn_relu_dropout(x, f"{name}_2", dropout)
    return x, y


@register_backbone("ribeiro_resnet", family="cnn", marker="d")
def ribeiro_resnet(input_shape=(4096, 12), stem_filters=64, unit_filters=UNIT_FILTERS,
                   unit_downsample=UNIT_DOWNSAMPLE, kernel_size=16, dropout=0.2):
    """Builds Ribeiro et al.'s ResNet (defaults: the published configuration).

    Args:
        input_shape: `(samples, leads)`; the published model takes `(4096, 12)`.
        stem_filters: Channels of the stem convolution.
        unit_filters: Output channels of each residual unit.
        unit_downsample: Length reduction factor of each unit.
        kernel_size: Taps of every convolution but the 1x1 projections.
        dropout: Dropout rate after each unit activation (published: 0.2).

    Returns:
        A functional `keras.Model` named `"backbone"` whose output is the
        flattened last unit, `(batch, samples_out * unit_filters[-1])`.

    Raises:
        ValueError: For an invalid shape or configuration.

    Example:
        >>> ribeiro_resnet((256, 12), unit_filters=(8, 16), unit_downsample=(4, 4)).output_shape
        (None, 256)
    """
    input_shape = check_input_shape(input_shape)
    if len(unit_filters) != len(unit_downsample) or not unit_filters:
        raise ValueError(f"unit_filters and unit_downsample need one entry per unit, got "
                         f"{list(unit_filters)} and {list(unit_downsample)}")
    if min(unit_downsample) < 1:
        raise ValueError(f"every unit_downsample must be >= 1, got {list(unit_downsample)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input(shape=input_shape, name="backbone_input")
    x = _conv(inputs, stem_filters, kernel_size, "stem_conv")
    x = _bn_relu_dropout(x, "stem", 0.0)
    y = x
    for index, (filters, factor) in enumerate(zip(unit_filters, unit_downsample), start=1):
        x, y = residual_unit(x, y, filters, factor, kernel_size=kernel_size, dropout=dropout,
                             name=f"unit{index}")
    features = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, features, name=BACKBONE_NAME)
