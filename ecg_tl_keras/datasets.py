"""Reading the TFRecord datasets written by ``python -m tfrecords_builder``.

A built dataset directory holds ``manifest.json`` and the shards
``<split>-<index>-of-<count>.tfrecord``; each example carries ``signal``
(float32 samples x leads, mV), ``labels`` (multi-hot), ``record_id``,
``patient_id`` and ``fold`` (patient-wise, 0-9).

The pipeline reads shards interleaved, parses in parallel, caches the split in
memory when it fits, then shuffles, batches and prefetches.

Example:
    >>> ds = load_split("OUT/ptbxl", "train", batch_size=256, shuffle=True,
    ...                 exclude_folds=[8])  # doctest: +SKIP
    >>> signals, labels = next(iter(ds))  # doctest: +SKIP
    >>> signals.shape, labels.shape  # doctest: +SKIP
    (TensorShape([256, 1000, 12]), TensorShape([256, 5]))
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf

from ecg_tl_keras.built import (  # noqa: F401 - re-exported: this module's API
    BUILD_HINT, READ_BUFFER_BYTES, BuiltDataset, input_shape, load_manifest, shard_paths)
from ecg_tl_keras.shards import check_folds as _check_folds
from ecg_tl_keras.shards import epoch_seed
from tfrecords_builder import schema

# Cache a split in memory only when its decoded signals take at most this
# fraction of the memory available when the pipeline is built.
CACHE_MEMORY_FRACTION = 0.5
# Examples are parsed in small batches (vectorized parsing is ~2x faster than one by one).
_PARSE_BATCH = 64


def _feature_spec(n_labels: int) -> dict:
    """``tf.io.parse_example``'s spec of :mod:`tfrecords_builder.schema`'s features."""
    kinds = {"bytes": tf.string, "int64": tf.int64}
    return {feature.name: tf.io.FixedLenFeature([n_labels] if feature.per_label else [],
                                                kinds[feature.kind])
            for feature in schema.FEATURES}


def _raw_examples(paths: list[str]) -> tf.data.Dataset:
    files = tf.data.Dataset.from_tensor_slices(paths)
    return files.interleave(
        lambda path: tf.data.TFRecordDataset(path, buffer_size=READ_BUFFER_BYTES),
        cycle_length=min(len(paths), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def load_index(data_dir: "str | os.PathLike | BuiltDataset", split: str) -> dict[str, np.ndarray]:
    """The per-record metadata of a split (no signals), in file order.

    Returns:
        ``{"record_id": str array, "patient_id": str array, "fold": int array,
        "labels": int array (records, labels)}``.

    Example:
        >>> index = load_index("OUT/ptbxl", "train")  # doctest: +SKIP
        >>> sorted(set(index["fold"].tolist()))  # doctest: +SKIP
        [0, 1, 2, 3, 4, 5, 6, 7, 8]
    """
    data = BuiltDataset.open(data_dir)
    spec = {k: v for k, v in _feature_spec(len(data.labels)).items() if k != schema.SIGNAL.name}
    columns: dict[str, list] = {key: [] for key in spec}
    batches = (
        _raw_examples(shard_paths(data, split))
        .batch(1024)
        .map(lambda serialized: tf.io.parse_example(serialized, spec))
    )
    for batch in batches.as_numpy_iterator():
        for key in spec:
            columns[key].append(batch[key])
    index = {key: np.concatenate(values) for key, values in columns.items()}
    for key in (schema.RECORD_ID.name, schema.PATIENT_ID.name):
        index[key] = np.array([value.decode() for value in index[key]], dtype=str)
    return index


def _member_of(values: Iterable[str]) -> tf.lookup.StaticHashTable:
    keys = tf.constant(sorted(set(values)), dtype=tf.string)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.ones_like(keys, dtype=tf.int32)),
        default_value=0,
    )


def _record_filter(folds, exclude_folds, record_ids, patient_ids) -> Callable | None:
    """A vectorized predicate over a batch of parsed examples (None: keep everything)."""
    folds = _check_folds("folds", folds)
    exclude_folds = _check_folds("exclude_folds", exclude_folds)
    records = _member_of(record_ids) if record_ids is not None else None
    patients = _member_of(patient_ids) if patient_ids is not None else None
    if folds is None and exclude_folds is None and records is None and patients is None:
        return None

    def in_folds(fold, chosen):
        chosen = tf.constant(chosen, tf.int64)
        return tf.reduce_any(tf.equal(fold[:, None], chosen[None, :]), axis=1)

    def keep(batch):
        conditions = [tf.ones_like(batch[schema.FOLD.name], dtype=tf.bool)]
        if folds is not None:
            conditions.append(in_folds(batch[schema.FOLD.name], folds))
        if exclude_folds is not None:
            conditions.append(tf.logical_not(in_folds(batch[schema.FOLD.name], exclude_folds)))
        if records is not None:
            conditions.append(records.lookup(batch[schema.RECORD_ID.name]) > 0)
        if patients is not None:
            conditions.append(patients.lookup(batch[schema.PATIENT_ID.name]) > 0)
        return tf.reduce_all(tf.stack(conditions), axis=0)

    return keep


def _available_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def fits_in_memory(manifest: dict, split: str) -> bool:
    """Whether a split's decoded signals fit the in-memory cache budget.

    Example:
        >>> fits_in_memory({"samples": 1000, "leads": ["I"] * 12,
        ...                 "splits": {"test": {"records": 10}}}, "test")
        True
    """
    samples, leads = input_shape(manifest)
    needed = manifest["splits"][split]["records"] * samples * leads * 4
    return needed <= CACHE_MEMORY_FRACTION * _available_memory_bytes()


def load_records(
    data_dir: "str | os.PathLike | BuiltDataset",
    split: str,
    *,
    folds=None,
    exclude_folds=None,
    record_ids=None,
    patient_ids=None,
    cache: bool = True,
    with_ids: bool = False,
) -> tf.data.Dataset:
    """Unbatched, unshuffled, parsed records of a split (optionally filtered and cached).

    Args:
        data_dir: dataset directory holding ``manifest.json`` (or a :class:`BuiltDataset`).
        split: ``"train"`` or ``"test"``.
        folds: keep only records of these folds (0-9).
        exclude_folds: drop records of these folds.
        record_ids: keep only these record ids.
        patient_ids: keep only records of these patients.
        cache: cache the parsed records in memory when the split fits
            (see :func:`fits_in_memory`); the cache fills during the first pass.
        with_ids: yield ``(signal, labels, record_id)`` instead of ``(signal, labels)``.

    Returns:
        A ``tf.data.Dataset`` of ``signal`` float32 ``(samples, leads)`` and
        ``labels`` float32 ``(n_labels,)`` (plus ``record_id`` string).

    Example:
        >>> ds = load_records("OUT/ptbxl", "train", folds=[8])  # doctest: +SKIP
    """
    data = BuiltDataset.open(data_dir)
    shape = data.input_shape
    spec = _feature_spec(len(data.labels))
    keep = _record_filter(folds, exclude_folds, record_ids, patient_ids)

    def parse_batch(serialized):
        batch = tf.io.parse_example(serialized, spec)
        signals = tf.reshape(tf.io.decode_raw(batch[schema.SIGNAL.name], tf.float32), (-1, *shape))
        outputs = (signals, tf.cast(batch[schema.LABELS.name], tf.float32))
        if with_ids:
            outputs += (batch[schema.RECORD_ID.name],)
        if keep is not None:
            kept = keep(batch)
            outputs = tuple(tf.boolean_mask(values, kept) for values in outputs)
        return outputs

    ds = _raw_examples(shard_paths(data, split)).batch(_PARSE_BATCH)
    ds = ds.map(parse_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    if cache and fits_in_memory(data.manifest, split):
        ds = ds.cache()
    return ds


def shuffled_epochs(
    records: tf.data.Dataset,
    *,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    buffer_size: int,
    per_epoch: Callable[[tf.data.Dataset], tf.data.Dataset] | None = None,
) -> tf.data.Dataset:
    """Batches of epochs ``first_epoch .. epochs-1``, each reshuffled with its own seed.

    Epoch ``e`` is always ordered by ``epoch_seed(seed, e)``, so a run resumed at
    epoch ``e`` sees exactly the batches an uninterrupted run would have seen.
    Each epoch ends with its own (possibly smaller) last batch. The epochs are
    concatenated datasets over the same ``records`` (whose cache they share).

    Args:
        records: unbatched records (e.g. from :func:`load_records`, cached).
        batch_size: records per batch.
        seed: run seed.
        first_epoch: first epoch to produce (0 for a fresh run).
        epochs: one past the last epoch to produce.
        buffer_size: shuffle buffer; at least the record count for a full shuffle.
        per_epoch: optional transformation of one epoch's shuffled records before batching.

    Example:
        >>> ds = shuffled_epochs(tf.data.Dataset.range(4), batch_size=2, seed=0,
        ...                      first_epoch=1, epochs=3, buffer_size=4)
        >>> len(list(ds))
        4
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= first_epoch < epochs:
        raise ValueError(f"need 0 <= first_epoch < epochs, got {first_epoch} and {epochs}")

    def one_epoch(epoch: int) -> tf.data.Dataset:
        ds = records.shuffle(
            buffer_size, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False
        )
        if per_epoch is not None:
            ds = per_epoch(ds)
        return ds.batch(batch_size)

    stream = one_epoch(first_epoch)
    for epoch in range(first_epoch + 1, epochs):
        stream = stream.concatenate(one_epoch(epoch))
    return stream.prefetch(tf.data.AUTOTUNE)


def load_split(
    data_dir: "str | os.PathLike | BuiltDataset",
    split: str,
    *,
    batch_size: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    folds=None,
    exclude_folds=None,
    record_ids=None,
    patient_ids=None,
    cache: bool = True,
    with_ids: bool = False,
) -> tf.data.Dataset:
    """A split as a ready-to-use ``tf.data`` pipeline.

    Args:
        data_dir: dataset directory holding ``manifest.json`` (e.g. ``OUT/ptbxl``).
        split: ``"train"`` or ``"test"``.
        batch_size: batch size; None yields single records.
        shuffle: reshuffle (seeded by ``seed``) on every pass.
        seed: shuffle seed.
        folds, exclude_folds, record_ids, patient_ids, cache, with_ids: as in
            :func:`load_records`.

    Returns:
        ``tf.data.Dataset`` of ``(signal, labels)`` (or ``(signal, labels, record_id)``),
        prefetched.

    Raises:
        FileNotFoundError: the manifest or a shard is missing.
        ValueError: unknown split or bad fold numbers.

    Example:
        >>> test = load_split("OUT/ptbxl", "test", batch_size=256)  # doctest: +SKIP
    """
    data = BuiltDataset.open(data_dir)
    ds = load_records(
        data,
        split,
        folds=folds,
        exclude_folds=exclude_folds,
        record_ids=record_ids,
        patient_ids=patient_ids,
        cache=cache,
        with_ids=with_ids,
    )
    if shuffle:
        ds = ds.shuffle(data.records(split), seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
