"""Which records a run trains on, selects on and tests on."""

from __future__ import annotations

import dataclasses

import numpy as np

from ecg_tl_keras.backends import uses_tf_data
from ecg_tl_keras.built import BuiltDataset
from ecg_tl_keras.training.config import TrainConfig


@dataclasses.dataclass
class DataPlan:
    """The record selection of a run.

    Attributes:
        train_filters: keyword filters for ``datasets.load_records(data, "train", ...)``
            (and ``shards.RecordFilter.of``).
        train_records: number of training records.
        train_patients: number of training patients.
        selection_filters: filters of the selection split within train, or None
            when selecting on the test split.
        selection_records: number of selection records.
        test_records: number of test records.
    """

    train_filters: dict
    train_records: int
    train_patients: int
    selection_filters: dict | None
    selection_records: int
    test_records: int

    def summary(self) -> dict:
        """Record counts, JSON-ready."""
        return {
            "train": self.train_records,
            "train_patients": self.train_patients,
            "selection": self.selection_records,
            "test": self.test_records,
        }


def sample_patients(
    record_ids: np.ndarray, patient_ids: np.ndarray, size: int, seed: int
) -> np.ndarray:
    """Record ids of whole, randomly chosen patients, until at least ``size`` records.

    Patients are drawn in a seeded random order and added whole, so the
    result can exceed ``size`` by less than one patient's records.

    Raises:
        ValueError: ``size`` exceeds the available records.

    Example:
        >>> ids = sample_patients(np.array(["a", "b", "c"]), np.array(["p", "p", "q"]), 1, seed=0)
        >>> sorted(ids.tolist()) in (["a", "b"], ["c"])
        True
    """
    if size > len(record_ids):
        raise ValueError(
            f"--train-size {size} exceeds the {len(record_ids)} training records available"
        )
    patients, inverse = np.unique(patient_ids, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(patients))
    per_patient = np.bincount(inverse, minlength=len(patients))
    chosen = order[: int(np.searchsorted(np.cumsum(per_patient[order]), size)) + 1]
    return record_ids[np.isin(inverse, chosen)]


def plan_data(config: TrainConfig, dataset: BuiltDataset) -> DataPlan:
    """Carves the selection fold and the ``train_size`` subsample out of the train split.

    Raises:
        ValueError: the validation fold is empty, or ``train_size`` is too large.
    """
    if uses_tf_data():
        from ecg_tl_keras.datasets import load_index
    else:
        from ecg_tl_keras.shards import load_index
    index = load_index(dataset, "train")
    selecting_on_val = config.select_on == "val"
    # The study trained PTB-XL on strat folds 1-8 although it selected on test.
    skipping_val = not selecting_on_val and config.skip_release_val_fold and (
        dataset.manifest.get("split_policy", {}).get("policy") == "strat_fold")
    if skipping_val:
        index = {key: values[index["fold"] != config.val_fold] for key, values in index.items()}
    is_val = (
        index["fold"] == config.val_fold if selecting_on_val else np.zeros(len(index["fold"]), bool)
    )
    if selecting_on_val and not is_val.any():
        raise ValueError(
            f"train fold {config.val_fold} of {config.data} is empty: choose another "
            f"--val-fold (folds present: {sorted(set(index['fold'].tolist()))})"
        )
    train_ids, train_patients = index["record_id"][~is_val], index["patient_id"][~is_val]
    if config.train_size is not None:
        try:
            train_ids = sample_patients(train_ids, train_patients, config.train_size, config.seed)
        except ValueError as error:
            where = f" (train split minus val fold {config.val_fold})" if selecting_on_val else ""
            raise ValueError(f"{error}{where}") from None
        train_patients = index["patient_id"][np.isin(index["record_id"], train_ids)]
        train_filters = {"record_ids": train_ids.tolist()}
    else:
        train_filters = ({"exclude_folds": [config.val_fold]}
                         if selecting_on_val or skipping_val else {})
    return DataPlan(
        train_filters=train_filters,
        train_records=len(train_ids),
        train_patients=len(np.unique(train_patients)),
        selection_filters={"folds": [config.val_fold]} if selecting_on_val else None,
        selection_records=(
            int(is_val.sum()) if selecting_on_val else dataset.records("test")
        ),
        test_records=dataset.records("test"),
    )
