"""Argument checks shared by the model builders."""


def check_input_shape(input_shape):
    """Validates an ECG input shape and returns it as a tuple.

    Args:
        input_shape: `(samples, leads)`, both positive integers.

    Returns:
        The shape as a tuple of two Python ints.

    Raises:
        ValueError: If the shape is not two positive integers.

    Example:
        >>> check_input_shape([1000, 12])
        (1000, 12)
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 2
        or not all(_is_positive_int(dim) for dim in shape)
    ):
        raise ValueError(
            "input_shape must be (samples, leads) with two positive integers, "
            f"got {input_shape!r}"
        )
    return tuple(int(dim) for dim in shape)


def check_n_labels(n_labels):
    """Validates the number of output labels.

    Args:
        n_labels: Number of labels the head predicts, at least 1.

    Returns:
        `n_labels` as a Python int.

    Raises:
        ValueError: If `n_labels` is not an integer >= 1.

    Example:
        >>> check_n_labels(5)
        5
    """
    if not _is_positive_int(n_labels):
        raise ValueError(f"n_labels must be an integer >= 1, got {n_labels!r}")
    return int(n_labels)


def _is_positive_int(value):
    return (
        not isinstance(value, bool)
        and hasattr(value, "__index__")
        and int(value) >= 1
    )
