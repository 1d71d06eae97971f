"""`net1d`: ECGFounder's `Net1D` (Hong et al.) re-implemented in Keras 3.

The network, as its authors describe it: a stem convolution (`kernel_size`,
stride 2) + Swish, then stages of bottleneck blocks, each block
`[BN] Swish [Dropout] 1x1 conv -> [BN] Swish [Dropout] grouped k-tap conv
(stride on the first block of a stage) -> [BN] Swish [Dropout] 1x1 conv ->
squeeze-excitation (mean over time, Dense(C/2) + Swish, Dense(C) + sigmoid,
channel-wise product)`, plus a shortcut: the input max-pooled by the stride
(zero-padded on the right when the length is odd, as the reference pads) and
zero-padded on the channel axis (half before, half after) when the block widens.
The first block of the first stage skips its pre-activation. Every convolution
pads "same" (left `total // 2`), has a bias, and the k-tap convolution has
`channels // groups_width` groups. Features are the mean over time of the last
stage, `filter_list[-1]` of them (1,024 for ECGFounder).

ECGFounder's published configuration (the default arguments): 12 leads at
500 Hz, 5,000 samples, `base_filters=64`, `filter_list=(64, 160, 160, 400, 400,
1024, 1024)`, `m_blocks_list=(2, 2, 2, 3, 3, 4, 4)`, `kernel_size=16`, `stride=2`,
`groups_width=16`, `ratio=1`, and, as the authors' fine-tuning and evaluation
scripts build it, `use_bn=False` (no batch normalization applied) and no dropout.
With a 150-unit head that is about 30.7 M parameters.

Layer names: `stem_*`, `stage{i}_block{j}_*` (1-based) and `avg_pool`; the
gradual-unfreezing stages are the name prefixes `stem`, `stage1` ... `stage7`
(one per entry of `filter_list`). `ecg_tl_keras.importers.ecgfounder` maps the reference
`state_dict` onto these names.
"""

import keras
from keras import layers, ops

from ecg_tl_keras.models.registry import BACKBONE_NAME, register_backbone
from ecg_tl_keras.models.validation import check_input_shape

#: ECGFounder's Net1D configuration (its authors' fine-tuning scripts).
ECGFOUNDER_CONFIG = {
    "base_filters": 64,
    "ratio": 1.0,
    "filter_list": (64, 160, 160, 400, 400, 1024, 1024),
    "m_blocks_list": (2, 2, 2, 3, 3, 4, 4),
    "kernel_size": 16,
    "stride": 2,
    "groups_width": 16,
    "use_bn": False,
    "dropout": 0.0,
}
#: PyTorch's BatchNorm1d defaults in Keras terms (momentum 0.1 there).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
SE_REDUCTION = 2
STEM = "stem"


@keras.saving.register_keras_serializable(package="ecg_tl_keras")
class ChannelZeroPadding(layers.Layer):
    """Pads the channel (last) axis with `before` and `after` zeros.

    Net1D's shortcut when a block widens: the identity keeps its channels in
    the middle of the wider output.

    Args:
        before: Zero channels put before the input's channels.
        after: Zero channels put after them.

    Example:
        >>> import numpy as np
        >>> ChannelZeroPadding(1, 2)(np.ones((1, 2, 1), "float32")).numpy()[0].tolist()
        [[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
    """

    def __init__(self, before, after, **kwargs):
        super().__init__(**kwargs)
        if min(before, after) < 0:
            raise ValueError(f"channel padding must be >= 0, got ({before}, {after})")
        self.before, self.after = int(before), int(after)

    def call(self, inputs):
        return ops.pad(inputs, [[0, 0], [0, 0], [self.before, self.after]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.before + self.after)

    def get_config(self):
        return {**super().get_config(), "before": self.before, "after": self.after}


def _conv(x, filters, kernel_size, name, stride=1, groups=1):
    return layers.Conv1D(filters, kernel_size, strides=stride, padding="same", groups=groups,
                         name=name)(x)


def _pre_activation(x, name, use_bn, dropout):
    """`[BN] Swish [Dropout]` in front of a convolution."""
    if use_bn:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                      name=f"{name}_bn")(x)
    x = layers.Activation("swish", name=f"{name}_swish")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def _squeeze_excitation(x, name):
    channels = x.shape[-1]
    se = layers.GlobalAveragePooling1D(keepdims=True, name=f"{name}_se_pool")(x)
    se = layers.Dense(channels // SE_REDUCTION, activation="swish", name=f"{name}_se_fc1")(se)
    se = layers.Dense(channels, activation="sigmoid", name=f"{name}_se_fc2")(se)
    return layers.Multiply(name=f"{name}_se_scale")([x, se])


def _shortcut(x, filters, stride, name):
    """The identity, max-pooled by `stride` and zero-padded to `filters` channels."""
    if stride > 1:
        pad = stride - 1  # the reference pads zeros (not -inf), left `pad // 2`
        x = layers.ZeroPadding1D((pad // 2, pad - pad // 2), name=f"{name}_pool_pad")(x)
        x = layers.MaxPooling1D(stride, strides=stride, name=f"{name}_pool")(x)
    extra = filters - x.shape[-1]
    if extra:
        x = ChannelZeroPadding(extra // 2, extra - extra // 2, name=f"{name}_widen")(x)
    return x


def net1d_block(x, filters, *, ratio, kernel_size, stride, groups, first, use_bn, dropout,
                name):
    """One Net1D bottleneck block with squeeze-excitation (see the module docstring).

    Args:
        x: Symbolic input `(batch, samples, channels)`.
        filters: Output channels.
        ratio: Middle channels are `int(filters * ratio)`.
        kernel_size: Taps of the grouped convolution.
        stride: Its stride (1 keeps the length).
        groups: Its groups.
        first: The network's very first block (no pre-activation before conv1).
        use_bn: Apply batch normalization before each activation.
        dropout: Dropout rate after each activation (0: none).
        name: Layer-name prefix.

    Returns:
        The symbolic output `(batch, ceil(samples / stride), filters)`.
    """
    middle = int(filters * ratio)
    y = x if first else _pre_activation(x, f"{name}_1", use_bn, dropout)
    y = _conv(y, middle, 1, f"{name}_conv1")
    y = _pre_activation(y, f"{name}_2", use_bn, dropout)
    y = _conv(y, middle, kernel_size, f"{name}_conv2", stride=stride, groups=groups)
    y = _pre_activation(y, f"{name}_3", use_bn, dropout)
    y = _conv(y, filters, 1, f"{name}_conv3")
    y = _squeeze_excitation(y, name)
    return layers.Add(name=f"{name}_add")([y, _shortcut(x, filters, stride, name)])


def _check_config(base_filters, filter_list, m_blocks_list, ratio, groups_width, dropout):
    if len(filter_list) != len(m_blocks_list) or not filter_list:
        raise ValueError(f"filter_list and m_blocks_list need one entry per stage, got "
                         f"{list(filter_list)} and {list(m_blocks_list)}")
    widths = [base_filters, *filter_list]
    if any(later < earlier for earlier, later in zip(widths, widths[1:])):
        raise ValueError(f"each stage is never narrower than the one before (the shortcut "
                         f"pads channels), got base_filters {base_filters} and filter_list "
                         f"{list(filter_list)}")
    if min(m_blocks_list) < 1:
        raise ValueError(f"every stage needs at least one block, got {list(m_blocks_list)}")
    for filters in filter_list:
        middle = int(filters * ratio)
        groups = filters // groups_width
        if groups < 1 or middle % groups:
            raise ValueError(f"a stage of {filters} filters has {groups} groups "
                             f"(filters // groups_width), which must divide its "
                             f"{middle} middle channels")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")


@register_backbone("net1d", family="cnn", marker="h")
def net1d(input_shape=(5000, 12), base_filters=64, ratio=1.0,
          filter_list=ECGFOUNDER_CONFIG["filter_list"],
          m_blocks_list=ECGFOUNDER_CONFIG["m_blocks_list"], kernel_size=16, stride=2,
          groups_width=16, use_bn=False, dropout=0.0):
    """Builds Net1D (ECGFounder's architecture; defaults are its configuration).

    Args:
        input_shape: `(samples, leads)`.
        base_filters: Channels of the stem convolution.
        ratio: Middle channels of a block relative to its output channels.
        filter_list: Output channels of each stage.
        m_blocks_list: Blocks in each stage.
        kernel_size: Taps of the stem and of every grouped convolution.
        stride: Stride of the stem-following downsampling (first block of each stage).
        groups_width: Channels per group of the grouped convolutions.
        use_bn: Batch normalization before each activation (ECGFounder's
            published forward pass: False).
        dropout: Dropout rate after each block activation (ECGFounder: 0).

    Returns:
        A functional `keras.Model` named `"backbone"`, `(batch, filter_list[-1])`.

    Raises:
        ValueError: For an invalid shape or configuration.

    Example:
        >>> small = net1d((256, 12), base_filters=8, filter_list=(16, 32),
        ...               m_blocks_list=(1, 2), groups_width=8)
        >>> small.output_shape, small.get_layer("stage2_block1_add").output.shape
        ((None, 32), (None, 32, 32))
    """
    input_shape = check_input_shape(input_shape)
    _check_config(base_filters, filter_list, m_blocks_list, ratio, groups_width, dropout)
    inputs = keras.Input(shape=input_shape, name="backbone_input")
    x = _conv(inputs, base_filters, kernel_size, f"{STEM}_conv", stride=2)
    if use_bn:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                      name=f"{STEM}_bn")(x)
    x = layers.Activation("swish", name=f"{STEM}_swish")(x)
    for stage, (filters, blocks) in enumerate(zip(filter_list, m_blocks_list), start=1):
        for block in range(1, blocks + 1):
            x = net1d_block(
                x, filters, ratio=ratio, kernel_size=kernel_size,
                stride=stride if block == 1 else 1, groups=filters // groups_width,
                first=stage == 1 and block == 1, use_bn=use_bn, dropout=dropout,
                name=f"stage{stage}_block{block}")
    features = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    return keras.Model(inputs, features, name=BACKBONE_NAME)
