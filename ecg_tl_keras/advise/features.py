"""The target's records in memory, and a checkpoint's frozen features and outputs on them.

The training split is divided as training itself divides it: the validation
fold (a patient-wise fold of train, ``TrainConfig.val_fold``) is held out for
selection, the rest is what a fine-tune would train on. Features are the
input of the checkpoint's ``head`` layer: what a new head sees.

Example:
>>> target = load_target("OUT/mine", val_fold=8)  # doctest: +SKIP
>>> features, probs = frozen_outputs(model, target.train.x)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ecg_tl_keras import datasets
from ecg_tl_keras.models.heads import HEAD_NAME

BATCH_SIZE = 256


@dataclasses.dataclass
class Records:
    """Signals ``x`` (records, samples, leads) and multi-hot labels ``y`` (records, labels)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclasses.dataclass
class TargetData:
    """A built dataset split as a fine-tune would use it."""

    path: Path
    manifest: dict
    val_fold: int
    train: Records
    val: Records
    test: Records

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])


def _records(data: datasets.BuiltDataset, split: str, n_labels: int, **filters) -> Records:
    xs, ys = [], []
    for x, y in datasets.load_records(data, split, cache=False, **filters).batch(
            BATCH_SIZE).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    if not xs:
        return Records(np.zeros((0,)), np.zeros((0, n_labels)))
    return Records(np.concatenate(xs), np.concatenate(ys))


def load_target(data: str | Path, val_fold: int) -> TargetData:
    """Loads train (minus the validation fold), the validation fold and test into memory.

    Raises:
        FileNotFoundError: no built dataset at ``data``.
        ValueError: the validation fold or another split is empty.
    """
    data = datasets.BuiltDataset.open(data)  # the manifest read and checked once
    n_labels = len(data.labels)
    parts = {
        "train": _records(data, "train", n_labels, exclude_folds=[val_fold]),
        "val": _records(data, "train", n_labels, folds=[val_fold]),
        "test": _records(data, "test", n_labels),
    }
    for name, records in parts.items():
        if not len(records):
            where = f"train fold {val_fold}" if name == "val" else f"the {name} split"
            raise ValueError(f"{data}: {where} holds no records; advice needs records in train, "
                             f"the validation fold (--val-fold) and test")
    return TargetData(data.path, data.manifest, val_fold, **parts)


def frozen_outputs(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(features, probabilities)`` of a checkpoint in inference mode on signals ``x``."""
    import keras

    both = keras.Model(model.input, [model.get_layer(HEAD_NAME).input, model.output])
    features, probs = both.predict(x, batch_size=BATCH_SIZE, verbose=0)
    return np.asarray(features, np.float64), np.asarray(probs, np.float64)
