"""Which Keras backend the package's parts need.

`ecg_tl_keras.models` (backbones, heads, normalization, `replace_head`,
freezing) is plain Keras 3 and runs under every backend: `KERAS_BACKEND=jax`,
`torch` or `tensorflow`, and importing it does not import TensorFlow. `train`
(and `study run`, `demo` and `advise`, which train through it), `evaluate` and
`predict` run under TensorFlow (`tf.data`, `tf.distribute`) and under JAX (the
TensorFlow-free shard reader, `keras.distribution`); each says so in one line under
another backend.

Example:
    >>> keras_backend() in ("tensorflow", "jax", "torch", "numpy", "openvino")
    True
"""

from __future__ import annotations

TENSORFLOW = "tensorflow"


def keras_backend() -> str:
    """The Keras backend in use (`KERAS_BACKEND` or `~/.keras/keras.json`)."""
    import keras

    return keras.backend.backend()


#: Backends ``train`` runs under: TensorFlow (``tf.data``, ``tf.distribute``) and JAX
#: (the TensorFlow-free shard reader, ``keras.distribution``).
TRAINING_BACKENDS = (TENSORFLOW, "jax")


def uses_tf_data() -> bool:
    """Whether input pipelines are ``tf.data`` (the TensorFlow backend) or the
    TensorFlow-free shard reader (:mod:`ecg_tl_keras.shards`, every other backend)."""
    return keras_backend() == TENSORFLOW


def require_training_backend(what: str) -> None:
    """Raises `ValueError` when the Keras backend is not one of `TRAINING_BACKENDS`.

    Example:
        >>> require_training_backend("ecg-tl-keras train")  # under TensorFlow or JAX
    """
    backend = keras_backend()
    if backend not in TRAINING_BACKENDS:
        raise ValueError(
            f"{what} runs under the TensorFlow or JAX Keras backend but KERAS_BACKEND is "
            f"{backend!r}: run it with KERAS_BACKEND=jax or KERAS_BACKEND=tensorflow")
