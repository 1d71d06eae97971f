"""The named choices of the package's options, and the one check of a choice.

The models (``build_model(head=..., readout=..., input_scaling=...)``), ``TrainConfig``
and the ``ecg-tl-keras train`` flags read these tuples, so each option's choices are
written once. This module does not import TensorFlow.

Example:
    >>> check_choice("readout", "flatten", READOUTS)
    'flatten'
    >>> check_choice("head", "conv", HEADS)
    Traceback (most recent call last):
        ...
    ValueError: head must be one of linear, mlp; got 'conv'
"""

from __future__ import annotations

from typing import Any, Sequence

#: Classification heads (``ecg_tl_keras.models.heads``).
HEADS = ("linear", "mlp")
#: Readouts of the recurrent backbones (``ecg_tl_keras.models.recurrent``).
READOUTS = ("last", "flatten")
#: Input scalings in front of every model (``ecg_tl_keras.models.normalization``).
INPUT_SCALINGS = ("zscore", "minmax")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> Any:
    """Returns ``value`` if it is one of ``choices``.

    Args:
        name: the option's name, for the message.
        value: the value given.
        choices: the accepted values, in the order the message lists them.

    Raises:
        ValueError: ``value`` is not one of ``choices``; the message names the option,
            every choice and the value.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value
