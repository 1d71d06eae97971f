"""The target's splits as a fine-tune would use them, and a checkpoint's frozen features on them.

The training split is divided as training itself divides it: the validation
fold (a patient-wise fold of train, ``TrainConfig.val_fold``) is held out for
selection, the rest is what a fine-tune would train on. Features are the
input of the checkpoint's ``head`` layer: what a new head sees.

Memory stays bounded: only the labels and the feature matrix of a split are held. Signals
are streamed from the shards in batches of :data:`BATCH_SIZE` records by
:func:`ecg_tl_keras.shards.iter_records` (TensorFlow-free, every record CRC-checked), each
batch run through the model in inference mode and dropped. The model's own first layer
(``normalization``) applies its input convention (a preset's record z-score or scale, our
checkpoints' per-lead statistics), as training and prediction apply it.

Example:
>>> target = load_target("OUT/mine", val_fold=8)  # doctest: +SKIP
>>> features, probs = frozen_outputs(model, target.train)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np

from ecg_tl_keras import shards
from ecg_tl_keras.built import BuiltDataset
from ecg_tl_keras.models.heads import HEAD_NAME

#: Records per streamed batch: the signals held at once (5,000 x 12 float32: 15 MB).
BATCH_SIZE = 64


@dataclasses.dataclass
class Records:
    """One split's records: multi-hot labels ``y`` in memory, signals streamed on demand.

    Attributes:
        data: the built dataset.
        split: ``"train"`` or ``"test"`` (the shard set read).
        keep: which of the split's records belong here (the validation fold or the rest).
        y: ``(records, labels)`` multi-hot labels, in stream order.
    """

    data: BuiltDataset
    split: str
    keep: shards.RecordFilter
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size: int = BATCH_SIZE) -> Iterator[np.ndarray]:
        """Float32 signal batches ``(<= batch_size, samples, leads)``, in the order of ``y``."""
        batch = []
        for record in shards.iter_records(self.data, self.split, keep=self.keep):
            batch.append(record.signal)
            if len(batch) == batch_size:
                yield np.stack(batch)
                batch = []
        if batch:
            yield np.stack(batch)


def _records(data: BuiltDataset, split: str, keep: shards.RecordFilter) -> Records:
    labels = [record.labels for record in
              shards.iter_records(data, split, keep=keep, with_signal=False)]
    y = np.array(labels, np.float32).reshape(len(labels), len(data.labels))
    return Records(data, split, keep, y)


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


def load_target(data: str | Path, val_fold: int) -> TargetData:
    """Reads the labels of train (minus the validation fold), the validation fold and test.

    Raises:
        FileNotFoundError: no built dataset at ``data``.
        ValueError: the validation fold or another split is empty; a damaged shard.
    """
    data = BuiltDataset.open(data)  # the manifest read and checked once
    parts = {
        "train": _records(data, "train", shards.RecordFilter.of(exclude_folds=[val_fold])),
        "val": _records(data, "train", shards.RecordFilter.of(folds=[val_fold])),
        "test": _records(data, "test", shards.RecordFilter.of()),
    }
    for name, records in parts.items():
        if not len(records):
            where = f"train fold {val_fold}" if name == "val" else f"the {name} split"
            raise ValueError(f"{data.path}: {where} holds no records; advice needs records in "
                             f"train, the validation fold (--val-fold) and test")
    return TargetData(data.path, data.manifest, val_fold, **parts)


def frozen_outputs(model, records: Records) -> tuple[np.ndarray, np.ndarray]:
    """``(features, probabilities)`` of a model in inference mode on a split, batch by batch.

    Only the two output matrices grow with the split; each signal batch is dropped once
    run. ``records`` may also be a plain array of signals (held by the caller).
    """
    return frozen_outputs_of(model, [records])[0]


def frozen_outputs_of(model, splits: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`frozen_outputs` of each of ``splits``, through one feature extractor: its
    inference function is traced once per model, not once per split."""
    import keras

    both = keras.Model(model.input, [model.get_layer(HEAD_NAME).input, model.output])
    return [_outputs(both, records) for records in splits]


def _outputs(both, records) -> tuple[np.ndarray, np.ndarray]:
    batches = (records.batches() if isinstance(records, Records)
               else (records[i:i + BATCH_SIZE] for i in range(0, len(records), BATCH_SIZE)))
    features, probs = [], []
    for x in batches:
        batch_features, batch_probs = both.predict_on_batch(x)
        features.append(np.asarray(batch_features, np.float64))
        probs.append(np.asarray(batch_probs, np.float64))
    return np.concatenate(features), np.concatenate(probs)
