"""A registered backbone whose epochs take milliseconds, for the tests of how a run is
interrupted, resumed and repeated (what they check does not depend on the architecture).

Two strided convolutions in one fine-tuning stage (as a recurrent backbone has) and a
dropout layer (so a resumed run must also restore the random state its dropout masks come
from). Importing this module registers nothing:
``registered(folder)`` writes the module that registers the backbone (what ``--import``
loads in a child process), imports it, and removes it from the registry afterwards, so
the other tests see only the built-in backbones.

Example:
>>> with registered(tmp_path) as module:  # doctest: +SKIP
...     train(TrainConfig(data=..., model=NAME, out=...))
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

NAME = "fast_cnn"

SOURCE = f'''"""A backbone small enough for training tests: two strided convolutions and dropout."""
import keras

from ecg_tl_keras.models import register_backbone


@register_backbone("{NAME}", stages=("conv",))  # one stage, as a recurrent backbone
def {NAME}(input_shape=(1000, 12), filters=8, dropout=0.3):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv1D(filters, 7, strides=4, activation="relu", name="conv_1")(inputs)
    x = keras.layers.Conv1D(filters, 5, strides=4, activation="relu", name="conv_2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, x, name="backbone")
'''


def write_module(folder: Path) -> Path:
    """Writes the module registering ``NAME`` into ``folder`` (for ``--import``); its path."""
    path = Path(folder) / f"{NAME}.py"
    path.write_text(SOURCE)
    return path


@contextlib.contextmanager
def registered(folder: Path):
    """Registers ``NAME`` from a module written into ``folder``; yields that module's path."""
    from ecg_tl_keras.extensions import import_extensions
    from ecg_tl_keras.models import available_backbones, unregister_backbone

    path = write_module(folder)
    import_extensions([str(path)])
    try:
        yield path
    finally:
        if NAME in available_backbones():
            unregister_backbone(NAME)
        sys.modules.pop(NAME, None)
