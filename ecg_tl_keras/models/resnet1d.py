"""1-D ResNets: torchvision's ResNet-18/50/101 carried from 2-D to 1-D.

Layout follows torchvision (v1.5): a stem `Conv1D(64, 7, stride 2)` + BN + ReLU +
`MaxPool1D(3, stride 2)`, four stages of 64/128/256/512 filters (the first keeps
the length, the others halve it), basic blocks for ResNet-18 and bottleneck
blocks (stride on the 3-tap convolution, 4x expansion) for ResNet-50/101, a
1x1 convolution + BN projection shortcut when the shape changes, and global
average pooling. Strided layers are zero-padded by `kernel_size // 2` on both
sides, as torchvision pads, so lengths and sample alignment match it
(1000 -> 500 -> 250 -> 250 -> 125 -> 63 -> 32). Convolutions have no bias, use
torchvision's Kaiming-normal (fan-out) initialization, and BatchNorm uses the
PyTorch defaults (momentum 0.1 there, i.e. 0.9 in Keras; epsilon 1e-5).

`width` (default 64) sets the stem's and first stage's filters, each later stage
doubling them: a narrower network with every layer of the published one.

Layer names are `stem_*`, `stage{i}_block{j}_*` and `avg_pool`; the registered
spec's `stages` (family `cnn`) names the five prefixes `backbone_stages` groups by.
The `cpu_samples_per_s` of each registration is `bench/bench_pipeline.py`'s
measurement (`bench/results/pipeline.json`).
"""

import keras
from keras import layers

from ecg_tl_keras.models.registry import BACKBONE_NAME, register_backbone
from ecg_tl_keras.models.validation import check_input_shape

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
STAGE_FILTERS = (64, 128, 256, 512)
#: The published networks' width: the stem's and the first stage's filters.
WIDTH = STAGE_FILTERS[0]
BOTTLENECK_EXPANSION = 4
#: Gradual-unfreezing stages: the stem, then the four residual stages.
STAGES = ("stem", "stage1", "stage2", "stage3", "stage4")


def _conv_bn(x, filters, kernel_size, stride, name, relu=True):
    """Conv1D (no bias) + BatchNorm (+ ReLU), padded like torchvision."""
    pad = kernel_size // 2
    if stride > 1 and pad:
        x = layers.ZeroPadding1D(pad, name=f"{name}_pad")(x)
    x = layers.Conv1D(
        filters,
        kernel_size,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="untruncated_normal"
        ),
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
    )(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def _add_shortcut(inputs, residual, stride, name):
    """Adds the identity, or a 1x1 conv + BN projection, then applies ReLU."""
    shortcut = inputs
    if stride != 1 or inputs.shape[-1] != residual.shape[-1]:
        shortcut = _conv_bn(
            inputs, residual.shape[-1], 1, stride, f"{name}_proj", relu=False
        )
    x = layers.Add(name=f"{name}_add")([residual, shortcut])
    return layers.ReLU(name=f"{name}_out")(x)


def basic_block(x, filters, stride, name):
    """ResNet basic block: two 3-tap conv + BN, output `filters` channels."""
    y = _conv_bn(x, filters, 3, stride, f"{name}_1")
    y = _conv_bn(y, filters, 3, 1, f"{name}_2", relu=False)
    return _add_shortcut(x, y, stride, name)


def bottleneck_block(x, filters, stride, name):
    """ResNet v1.5 bottleneck: 1x1, strided 3-tap, 1x1 to `4 * filters`."""
    y = _conv_bn(x, filters, 1, 1, f"{name}_1")
    y = _conv_bn(y, filters, 3, stride, f"{name}_2")
    y = _conv_bn(y, filters * BOTTLENECK_EXPANSION, 1, 1, f"{name}_3", relu=False)
    return _add_shortcut(x, y, stride, name)


def resnet1d(input_shape, block, depths, width=WIDTH):
    """Builds a 1-D ResNet backbone.

    Args:
        input_shape: `(samples, leads)` of the ECG input.
        block: `basic_block` or `bottleneck_block`.
        depths: Number of blocks in each of the four stages.
        width: Filters of the stem and the first stage; each later stage
            doubles them (64, the published networks: 64/128/256/512). Smaller
            widths keep every layer and name (quick contract checks).

    Returns:
        A functional `keras.Model` named `"backbone"` whose output is the
        globally average-pooled last stage, `(batch, 512)` for basic blocks
        and `(batch, 2048)` for bottlenecks (at width 64).

    Raises:
        ValueError: If `input_shape`, `depths` or `width` is invalid.

    Example:
        >>> model = resnet1d((500, 12), basic_block, (1, 1, 1, 1))
        >>> model.output_shape
        (None, 512)
    """
    input_shape = check_input_shape(input_shape)
    if len(depths) != len(STAGE_FILTERS) or min(depths) < 1:
        raise ValueError(
            f"depths must be {len(STAGE_FILTERS)} positive block counts, got {depths!r}"
        )
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    inputs = keras.Input(shape=input_shape, name="backbone_input")
    x = _conv_bn(inputs, width, 7, 2, "stem")
    x = layers.ZeroPadding1D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling1D(3, strides=2, name="stem_pool")(x)
    stage_filters = [width * filters // WIDTH for filters in STAGE_FILTERS]
    for stage, (filters, depth) in enumerate(zip(stage_filters, depths), start=1):
        for index in range(depth):
            stride = 2 if stage > 1 and index == 0 else 1
            x = block(x, filters, stride, name=f"stage{stage}_block{index + 1}")
    features = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    return keras.Model(inputs, features, name=BACKBONE_NAME)


@register_backbone("resnet1d18", family="cnn", stages=STAGES, cpu_samples_per_s=142.3,
                   marker="o")
def resnet1d18(input_shape=(1000, 12), width=WIDTH):
    """1-D ResNet-18 (basic blocks 2-2-2-2), 512 features.

    Example:
        >>> resnet1d18((1000, 12)).get_layer("stage4_block2_out").output.shape
        (None, 32, 512)
    """
    return resnet1d(input_shape, basic_block, (2, 2, 2, 2), width)


@register_backbone("resnet1d50", family="cnn", stages=STAGES, cpu_samples_per_s=26.5,
                   marker="s")
def resnet1d50(input_shape=(1000, 12), width=WIDTH):
    """1-D ResNet-50 (bottleneck blocks 3-4-6-3), 2048 features.

    Example:
        >>> resnet1d50((1000, 12)).output_shape
        (None, 2048)
    """
    return resnet1d(input_shape, bottleneck_block, (3, 4, 6, 3), width)


@register_backbone("resnet1d101", family="cnn", stages=STAGES, cpu_samples_per_s=14.9,
                   marker="D")
def resnet1d101(input_shape=(1000, 12), width=WIDTH):
    """1-D ResNet-101 (bottleneck blocks 3-4-23-3), 2048 features.

    Example:
        >>> resnet1d101((1000, 12)).output_shape
        (None, 2048)
    """
    return resnet1d(input_shape, bottleneck_block, (3, 4, 23, 3), width)
