"""Patient-wise train/test split and 10 patient-wise folds.

Example:
>>> from tfrecords_builder.readers.base import RecordRef
>>> refs = [RecordRef(str(i), f"p{i // 2}", (), "") for i in range(20)]
>>> assignment = assign_splits(refs, policy="random", seed=0)
>>> check_patient_disjoint(refs, assignment)
>>> sorted(set(split for split, _ in assignment.values()))
['test', 'train']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tfrecords_builder.readers.base import RecordRef

TEST_SIZE = 0.33
N_FOLDS = 10
SPLIT_POLICIES = ("random", "strat_fold", "given")
#: PTB-XL's strat_fold 10 (fold 9 here) is its test fold.
STRAT_TEST_FOLD = 9


def patient_folds(patients: Sequence[str], seed: int) -> dict[str, int]:
    """A seeded, balanced assignment of each distinct patient to a fold 0-9."""
    unique = np.array(sorted(set(patients)))
    order = np.random.default_rng(seed).permutation(len(unique))
    return {str(unique[i]): rank % N_FOLDS for rank, i in enumerate(order)}


def _random_test_patients(patients: list[str], seed: int, test_size: float) -> set[str]:
    if len(set(patients)) < 2:
        return set()
    from sklearn.model_selection import GroupShuffleSplit  # only when splitting at random

    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    _, test_index = next(splitter.split(np.zeros(len(patients)), groups=patients))
    return {patients[i] for i in test_index}


def assign_splits(refs: Sequence[RecordRef], policy: str, seed: int,
                  test_size: float = TEST_SIZE) -> dict[str, tuple[str, int]]:
    """Map each record id to ``(split, fold)``.

    ``random``: a seeded GroupShuffleSplit with ``test_size`` (33%) of patients
    in test and seeded patient folds. ``strat_fold``: the release's own folds
    (``ref.fold``), fold 9 (PTB-XL strat_fold 10) is test. ``given``: the
    user's split (``ref.split``) with seeded patient folds.
    """
    if policy not in SPLIT_POLICIES:
        raise ValueError(f"split policy must be one of {SPLIT_POLICIES}, got {policy!r}")
    if policy == "strat_fold":
        if any(ref.fold is None for ref in refs):
            raise ValueError("the strat_fold split needs a release that defines folds (PTB-XL)")
        return {ref.record_id: ("test" if ref.fold == STRAT_TEST_FOLD else "train", ref.fold)
                for ref in refs}
    patients = [ref.patient_id for ref in refs]
    folds = patient_folds(patients, seed)
    if policy == "given":
        if any(ref.split is None for ref in refs):
            raise ValueError("the given split needs a split column in the labels table "
                             "(folder reader)")
        return {ref.record_id: (ref.split, folds[ref.patient_id]) for ref in refs}
    test_patients = _random_test_patients(patients, seed, test_size)
    return {ref.record_id: ("test" if ref.patient_id in test_patients else "train", folds[ref.patient_id])
            for ref in refs}


def check_patient_disjoint(refs: Sequence[RecordRef], assignment: dict[str, tuple[str, int]]) -> None:
    """Raise AssertionError if any patient has records in two splits."""
    split_of: dict[str, str] = {}
    for ref in refs:
        split = assignment[ref.record_id][0]
        if split_of.setdefault(ref.patient_id, split) != split:
            raise AssertionError(f"patient {ref.patient_id} has records in both "
                                 f"{split_of[ref.patient_id]} and {split}")
