"""What both importers share: the file's fingerprint, the shape check, the assignment."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def file_sha256(path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile(delete=False) as handle:
        ...     _ = handle.write(b"abc")
        >>> file_sha256(handle.name)[:12]
        'ba7816bf8f01'
        >>> os.remove(handle.name)
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_weights_file(path, suffixes) -> Path:
    """`path` as a `Path`, refused when missing or of another kind.

    Raises:
        FileNotFoundError: No file at `path`.
        ValueError: Its suffix is none of `suffixes`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found")
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: expected a {' or '.join(suffixes)} file")
    return path


def check_shape(where, name, actual, expected):
    """Raises a ValueError naming the tensor when `actual` is not `expected`.

    Example:
        >>> check_shape("w.pth", "dense.bias", (150,), (150,))
        >>> check_shape("w.pth", "dense.bias", (5,), (150,))
        Traceback (most recent call last):
            ...
        ValueError: w.pth does not match the architecture: dense.bias has shape (5,), ...
    """
    if tuple(actual) != tuple(expected):
        raise ValueError(f"{where} does not match the architecture: {name} has shape "
                         f"{tuple(actual)}, expected {tuple(expected)}")


def assign(layer, arrays, where):
    """Sets a built Keras layer's weights, checking each shape first.

    Raises:
        ValueError: A count or shape that differs, naming the layer and weight.
    """
    weights = layer.weights
    if len(weights) != len(arrays):
        raise ValueError(f"{where} does not match the architecture: layer {layer.name} has "
                         f"{len(weights)} weights, the file gives {len(arrays)}")
    for weight, array in zip(weights, arrays):
        check_shape(where, weight.path, np.shape(array), weight.shape)
    layer.set_weights([np.asarray(array, dtype=weight.dtype)
                       for weight, array in zip(weights, arrays)])


def read_labels_file(path, count) -> list[str]:
    """Label names, one a line (blank lines skipped); exactly `count` of them.

    Raises:
        FileNotFoundError: No file at `path`.
        ValueError: Another number of names, or a name twice.
    """
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(names) != count:
        raise ValueError(f"{path} names {len(names)} labels, the model has {count} outputs")
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"{path} names the label {twice!r} twice")
    return names
