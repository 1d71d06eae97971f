"""Training precision: float32 or a Keras mixed-precision policy, and what `auto` picks.

`--precision` (`TrainConfig.precision`) takes `float32`, `mixed_bfloat16`,
`mixed_float16` or `auto`. A mixed policy makes the backbone's layers compute
in 16 bits while their variables stay float32; the input preprocessing and the
head (`head_hidden`, `head`) always compute in float32, so the sigmoid
probabilities, the loss and the metrics are float32. `mixed_float16` also
wraps the optimizer in `keras.optimizers.LossScaleOptimizer` (dynamic loss
scaling), which bfloat16 does not need. Because the variables are float32 under
every policy, `apply_precision` moves a model from one precision to another
without changing a single weight: a checkpoint saved under one precision
fine-tunes under another.

`auto` picks from the device, the Keras backend and the backbone's family
(`BackboneSpec.family`):

| device | backend | cnn | other families |
| --- | --- | --- | --- |
| CPU with `avx512_bf16` or `amx_bf16` | TensorFlow | `mixed_bfloat16` (1.18-1.40x) | `float32` |
| CPU with `avx512_bf16` or `amx_bf16` | JAX | `float32` (0.83-1.13x) | `float32` (~0.07x) |
| CPU with `avx512_bf16` or `amx_bf16` | others (unmeasured) | `float32` | `float32` |
| CPU without them | any | `float32` (bf16 ResNet1d18 2x slower) | `float32` |
| NVIDIA GPU, compute capability >= 7.0 | any | `mixed_float16` (tensor cores) | `float32` |
| other GPUs | any | `float32` | `float32` |

The rule is "never slower than float32": a mixed policy is picked on a CPU only for a
backend and family where it trained faster than float32 in every round of a side-by-side
measurement (`CPU_BF16_FASTER`; `bench/bench_precision_backends.py`, figures in
`bench/results/precision_backends_cpu.json`, 4 rounds on a 2-core AMD EPYC with
`avx512_bf16`; the ratios above are mixed_bfloat16 / float32 per round, ResNet1d18 for
cnn and GRU for the JAX recurrent row; `bench/bench_train_command.py` measures the same
through the `train` command, `bench/results/train_command_cpu.json`). The GPU row is NVIDIA's
and Keras' guidance, not yet measured in this project (`bench/gpu_check.sh` measures it). The
recurrent family stays float32 under TensorFlow although its GRU trained 1.06-1.31x faster
in bf16: the family's BiLSTM did not (0.99x, `bench/bench_train.py`), and `auto` decides per
family. `bench/bench_train.py` measures every backbone under every precision.

Example:
    >>> resolve_precision("float32", "cnn")
    'float32'
    >>> auto_precision("cnn", Device(kind="cpu", name="x86", bf16=False))
    'float32'
    >>> auto_precision("cnn", Device(kind="cpu", name="x86", bf16=True), backend="torch")
    'float32'
    >>> auto_precision("cnn", Device(kind="gpu", name="H100", compute_capability=(9, 0)))
    'mixed_float16'
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

from ecg_tl_keras.choices import check_choice

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: Layers outside the backbone that compute in float32 under every policy.
FLOAT32 = "float32"
BACKBONE = "backbone"
#: Per Keras backend, the backbone families whose training was faster under
#: ``mixed_bfloat16`` than under float32 in every round of a side-by-side run on a CPU with
#: bfloat16 instructions (``bench/results/precision_backends_cpu.json``). On such a CPU
#: ``auto`` picks ``mixed_bfloat16`` for these and float32 for everything else.
CPU_BF16_FASTER = {"tensorflow": ("cnn",), "jax": ()}


@dataclasses.dataclass(frozen=True)
class Device:
    """The device a run trains on, as far as the precision choice cares.

    Attributes:
        kind: ``"cpu"`` or ``"gpu"``.
        name: CPU model or GPU name.
        bf16: the CPU has native bfloat16 instructions (``BF16_CPU_FLAGS``).
        compute_capability: ``(major, minor)`` of an NVIDIA GPU, else None.
        cpu_flags: which of ``BF16_CPU_FLAGS`` the CPU has.
    """

    kind: str
    name: str
    bf16: bool = False
    compute_capability: tuple[int, int] | None = None
    cpu_flags: tuple[str, ...] = ()


def cpu_flags() -> tuple[str, ...]:
    """The bfloat16 flags among the CPU's (``/proc/cpuinfo``; empty where unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return tuple(flag for flag in BF16_CPU_FLAGS if flag in flags)


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def current_device() -> Device:
    """The first GPU of the Keras backend in use, else the CPU."""
    gpu = _backend_gpu()
    flags = cpu_flags()
    if gpu is not None:
        name, capability = gpu
        return Device("gpu", name, bool(flags), capability, flags)
    return Device("cpu", cpu_name(), bool(flags), None, flags)


def _backend_gpu():
    """``(name, compute_capability)`` of the backend's first GPU, or None."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        details = tf.config.experimental.get_device_details(gpus[0])
        return details.get("device_name", gpus[0].name), details.get("compute_capability")
    if backend == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        if not gpus:
            return None
        capability = getattr(gpus[0], "compute_capability", None)
        if isinstance(capability, str):
            capability = tuple(int(part) for part in capability.split(".")[:2])
        return gpus[0].device_kind, capability
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None
        return torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)
    return None


def auto_precision(family: str, device: Device, backend: str | None = None) -> str:
    """What ``--precision auto`` picks for a backbone family on a device (module table).

    Args:
        family: the backbone's family (``get_backbone_spec(name).family``).
        device: the device (``current_device()``).
        backend: the Keras backend; the one in use when None.
    """
    if device.kind == "gpu":
        capability = device.compute_capability
        faster = family == "cnn" and capability is not None and capability >= (7, 0)
        return "mixed_float16" if faster else FLOAT32
    if backend is None:
        from ecg_tl_keras.backends import keras_backend

        backend = keras_backend()
    faster = device.bf16 and family in CPU_BF16_FASTER.get(backend, ())
    return "mixed_bfloat16" if faster else FLOAT32


def resolve_precision(precision: str, family: str, device: Device | None = None,
                      backend: str | None = None) -> str:
    """The Keras dtype policy name of a ``--precision`` value (``auto`` decided here).

    Args:
        precision: one of ``PRECISIONS``.
        family: the backbone's family (``get_backbone_spec(name).family``).
        device: the device; detected when None and needed.
        backend: the Keras backend; the one in use when None.

    Raises:
        ValueError: an unknown precision.
    """
    if check_choice("precision", precision, PRECISIONS) != "auto":
        return precision
    return auto_precision(family, current_device() if device is None else device, backend)


def apply_precision(model, policy: str):
    """A copy of ``model`` whose backbone computes under ``policy``, same weights.

    The layers inside the ``backbone`` sub-model get ``policy``; every other
    layer (input scaling, normalization, head) computes in float32. Variables
    are float32 under every policy, so the weights are copied exactly.

    Args:
        model: a model from ``build_model`` (or loaded from its checkpoint).
        policy: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.

    Returns:
        A new uncompiled ``keras.Model`` (``model`` itself when nothing changes).

    Raises:
        ValueError: an unknown policy or a model without a ``backbone`` layer.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> model = build_model("gru", 2, input_shape=(20, 12), units=4)
        >>> mixed = apply_precision(model, "mixed_bfloat16")
        >>> mixed.get_layer("backbone").get_layer("rnn").dtype_policy.name
        'mixed_bfloat16'
        >>> mixed.get_layer("head").compute_dtype
        'float32'
    """
    import keras

    if check_choice("precision", policy, PRECISIONS) == "auto":
        raise ValueError("apply_precision needs a policy, not 'auto' (use resolve_precision)")
    try:
        inside = {id(layer) for layer in model.get_layer(BACKBONE).layers}
    except ValueError:
        raise ValueError(f"model {model.name!r} has no {BACKBONE!r} layer") from None
    wanted = {id(layer): policy if id(layer) in inside else FLOAT32 for layer in _layers(model)}
    if all(layer.dtype_policy.name == wanted[id(layer)] for layer in _layers(model)):
        return model

    def clone(layer):
        config = _with_policy(layer.get_config(), wanted.get(id(layer), FLOAT32))
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    for original, cloned in zip(_layers(model), _layers(copy)):
        cloned.trainable = original.trainable
    return copy


def loss_scaled(optimizer, policy: str):
    """``optimizer`` wrapped in ``LossScaleOptimizer`` for ``mixed_float16``, else as is.

    Example:
        >>> import keras
        >>> type(loss_scaled(keras.optimizers.Adam(), "mixed_float16")).__name__
        'LossScaleOptimizer'
    """
    import keras

    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def model_precision(model) -> str:
    """The policy the model's backbone computes under (``"float32"`` without a backbone)."""
    try:
        layers = model.get_layer(BACKBONE).layers
    except ValueError:
        return FLOAT32
    names = {layer.dtype_policy.name for layer in layers if layer.weights}
    return names.pop() if len(names) == 1 else FLOAT32


def _layers(model):
    """Every layer, nested sub-models' layers included, in a stable order."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers") and layer.__class__.__name__ in ("Functional", "Sequential"):
            yield from _layers(layer)


def _with_policy(config, policy):
    """``config`` with every serialized dtype policy (nested layers too) set to ``policy``."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
            return policy
        return {key: _with_policy(value, policy) for key, value in config.items()}
    if isinstance(config, list):
        return [_with_policy(value, policy) for value in config]
    return config
