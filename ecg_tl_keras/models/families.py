"""Facts about the registered backbones that plans and the report read: names and families.

Example:
    >>> model_family_of("resnet1d50"), model_family_of("gru")
    ('cnn', 'rnn')
    >>> "lstm" in known_models()
    True
"""

from __future__ import annotations

from ecg_tl_keras.models.registry import available_backbones, get_backbone_spec


def known_models() -> tuple[str, ...]:
    """The backbone names ecg_tl_keras.models can build, in registration order."""
    return tuple(available_backbones())


def model_family_of(model: str) -> str:
    """The family a registered backbone was registered with (``cnn``, ``rnn``, ...).

    Raises:
        ValueError: ``model`` is not a registered backbone.
    """
    return get_backbone_spec(model).family


def known_families() -> tuple[str, ...]:
    """The families of the registered backbones, in registration order."""
    return tuple(dict.fromkeys(model_family_of(model) for model in known_models()))
