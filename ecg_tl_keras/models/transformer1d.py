"""`transformer1d`: a small 1-D transformer encoder, added through the public API.

The study names transformers as future work. This backbone is registered only
through `register_backbone` (nothing else in the package knows its name), so
it doubles as the worked example of adding a backbone from outside:

- patch embedding: `Conv1D(dim, patch_size, strides=patch_size)` turns 10 s at
  100 Hz into `samples // patch_size` tokens (100 by default), plus a learned
  position embedding (`PatchPositions`);
- `depth` pre-norm encoder blocks: `LayerNormalization` +
  `keras.layers.MultiHeadAttention` + residual, then `LayerNormalization` + a
  GELU MLP (`mlp_ratio * dim` hidden units) + residual;
- a final `LayerNormalization` and global average pooling over the tokens:
  `dim` features.

Layer names are `patch_*` and `block{i}_*` (the last block also holds the
final norm), so `backbone_stages` gives `depth + 1` stages by name prefix.

Example:
    >>> from ecg_tl_keras.models import build_model, get_backbone_spec
    >>> get_backbone_spec("transformer1d").family
    'transformer'
    >>> build_model("transformer1d", 5, input_shape=(200, 12), depth=2).output_shape
    (None, 5)
"""

import keras
from keras import layers

from ecg_tl_keras.models.registry import BACKBONE_NAME, register_backbone
from ecg_tl_keras.models.validation import check_input_shape


@keras.saving.register_keras_serializable(package="ecg_tl_keras")
class PatchPositions(layers.Layer):
    """Adds a learned embedding to each token position.

    Example:
        >>> import numpy as np
        >>> tuple(PatchPositions()(np.zeros((2, 5, 8), "float32")).shape)
        (2, 5, 8)
    """

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=tuple(input_shape[1:]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )

    def call(self, tokens):
        return tokens + self.positions


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _encoder_block(x, dim, heads, mlp_ratio, dropout, name):
    """Pre-norm transformer encoder block."""
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
    y = layers.MultiHeadAttention(
        heads, dim // heads, dropout=dropout, name=f"{name}_attention")(y, y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
    y = layers.Dense(mlp_ratio * dim, activation="gelu", name=f"{name}_mlp1")(y)
    y = layers.Dropout(dropout, name=f"{name}_mlp_dropout")(y)
    y = layers.Dense(dim, name=f"{name}_mlp2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


#: Training samples/s on 2 CPU cores at batch 256, float32: bench/bench_train.py on the idle
#: machine, side by side with gru (275.8) and resnet1d18 (145.4, the same as the 142.3 the
#: ResNets' rates come from): bench/results/train_tensorflow_float32_cpu.json. (An earlier
#: estimate on a loaded machine, bench/results/backbones.json, was about 200.)
CPU_SAMPLES_PER_S = 413.7


@register_backbone("transformer1d", family="transformer", cpu_samples_per_s=CPU_SAMPLES_PER_S,
                   marker="*")
def transformer1d(input_shape=(1000, 12), dim=64, depth=4, heads=4, patch_size=10,
                  mlp_ratio=2, dropout=0.1):
    """1-D transformer encoder over convolutional patches; `dim` features.

    Args:
        input_shape: `(samples, leads)`; `samples` must be >= `patch_size`.
        dim: Token width; a multiple of `heads`.
        depth: Number of encoder blocks.
        heads: Attention heads per block.
        patch_size: Samples per token (10 = 0.1 s at 100 Hz).
        mlp_ratio: Hidden width of each block's MLP, in multiples of `dim`.
        dropout: Dropout rate in attention and MLP, in `[0, 1)`.

    Returns:
        A functional `keras.Model` named `"backbone"`.

    Raises:
        ValueError: For an invalid argument.

    Example:
        >>> transformer1d((1000, 12)).get_layer("patch_conv").output.shape
        (None, 100, 64)
    """
    samples, leads = check_input_shape(input_shape)
    for name, value in (("dim", dim), ("depth", depth), ("heads", heads),
                        ("patch_size", patch_size), ("mlp_ratio", mlp_ratio)):
        _check_positive(name, value)
    if dim % heads:
        raise ValueError(f"dim must be a multiple of heads, got dim={dim}, heads={heads}")
    if samples < patch_size:
        raise ValueError(f"input_shape has {samples} samples, fewer than patch_size={patch_size}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input(shape=(samples, leads), name="backbone_input")
    x = layers.Conv1D(dim, patch_size, strides=patch_size, name="patch_conv")(inputs)
    x = PatchPositions(name="patch_positions")(x)
    for index in range(1, depth + 1):
        x = _encoder_block(x, dim, heads, mlp_ratio, dropout, name=f"block{index}")
    x = layers.LayerNormalization(epsilon=1e-6, name=f"block{depth}_out_norm")(x)
    features = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, features, name=BACKBONE_NAME)
