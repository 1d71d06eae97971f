"""The registry of named backbones.

A backbone is a function `builder(input_shape=(1000, 12), **kwargs)` returning a
functional `keras.Model` named `BACKBONE_NAME` that maps an ECG batch
`(batch, samples, leads)` to a feature batch `(batch, features)`.
"""

BACKBONE_NAME = "backbone"

_BUILDERS = {}


def register_backbone(name):
    """Decorator adding a backbone builder to the registry under `name`.

    Args:
        name: The name `get_backbone` and `build_model` will accept.

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Raises:
        ValueError: If `name` is already registered.

    Example:
        >>> import keras
        >>> @register_backbone("tiny_cnn")
        ... def tiny_cnn(input_shape=(1000, 12)):
        ...     inputs = keras.Input(shape=input_shape)
        ...     x = keras.layers.Conv1D(8, 5, name="conv_1")(inputs)
        ...     x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
        ...     return keras.Model(inputs, x, name=BACKBONE_NAME)
    """

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"backbone {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorator


def available_backbones():
    """Lists the registered backbone names, in registration order.

    Returns:
        A list of names, e.g. `["resnet1d18", ..., "gru"]`.

    Example:
        >>> "resnet1d18" in available_backbones()
        True
    """
    return list(_BUILDERS)


def get_backbone(name, input_shape=(1000, 12), **kwargs):
    """Builds a registered backbone.

    Args:
        name: A name from `available_backbones()`.
        input_shape: `(samples, leads)` of the ECG input.
        **kwargs: Architecture arguments of that backbone (e.g. `units` and
            `dropout` for the recurrent ones).

    Returns:
        A functional `keras.Model` named `"backbone"` outputting features.

    Raises:
        ValueError: If `name` is not registered or an argument is invalid.

    Example:
        >>> backbone = get_backbone("gru", input_shape=(250, 12))
        >>> backbone.output_shape
        (None, 100)
    """
    if name not in _BUILDERS:
        raise ValueError(
            f"unknown backbone {name!r}; available: {', '.join(available_backbones())}"
        )
    return _BUILDERS[name](input_shape=input_shape, **kwargs)
