"""ecg_tl_keras.datasets on synthetic shards in the builder's schema, and on a real build."""

import hashlib
import json

import numpy as np
import pytest
import tensorflow as tf

from ecg_tl_keras import datasets
from tfrecords_builder.tfrecord import serialize_example

LABELS = ["A", "B", "C"]
SHAPE = (40, 12)


def _record(i):
    """Record i: its signal encodes i, so every element can be traced back."""
    rng = np.random.default_rng(i)
    signal = (rng.standard_normal(SHAPE) + i).astype(np.float32)
    labels = np.array([i % 2, (i // 2) % 2, int(i % 5 == 0)], dtype=np.int64)
    return signal, labels, f"r{i}", f"p{i // 2}", i % 10


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """30 train records in 3 shards (10 each) and 7 test records in 1 shard."""
    root = tmp_path_factory.mktemp("synthetic") / "toy"
    root.mkdir()
    splits = {}
    for split, ids, shards in (("train", range(30), 3), ("test", range(100, 107), 1)):
        ids = list(ids)
        entries = []
        for index, chunk in enumerate(np.array_split(ids, shards)):
            name = f"{split}-{index:05d}-of-{shards:05d}.tfrecord"
            with tf.io.TFRecordWriter(str(root / name)) as writer:
                for i in chunk:
                    writer.write(serialize_example(*_record(int(i))))
            digest = hashlib.sha256((root / name).read_bytes()).hexdigest()
            entries.append({"file": name, "records": len(chunk), "sha256": digest})
        splits[split] = {
            "records": len(ids),
            "patients": len({i // 2 for i in ids}),
            "shards": entries,
        }
    manifest = {
        "dataset": "toy",
        "labels": LABELS,
        "samples": SHAPE[0],
        "leads": [f"L{i}" for i in range(12)],
        "fs": 100,
        "unit": "mV",
        "splits": splits,
        "normalization": {"mean": [0.0] * 12, "std": [1.0] * 12},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _ids(dataset):
    return [rid.decode() for _, _, rid in dataset.as_numpy_iterator()]


def test_records_round_trip(synthetic):
    for signal, labels, record_id in datasets.load_records(
        synthetic, "test", with_ids=True
    ).as_numpy_iterator():
        i = int(record_id.decode()[1:])
        expected_signal, expected_labels, *_ = _record(i)
        assert signal.dtype == np.float32 and signal.shape == SHAPE
        np.testing.assert_array_equal(signal, expected_signal)
        np.testing.assert_array_equal(labels, expected_labels.astype(np.float32))


def test_all_shards_read_interleaved_and_deterministic(synthetic):
    ids = _ids(datasets.load_records(synthetic, "train", with_ids=True, cache=False))
    assert sorted(ids) == sorted(f"r{i}" for i in range(30))
    assert ids[:3] == ["r0", "r10", "r20"]  # one record from each of the 3 shards in turn
    assert ids == _ids(datasets.load_records(synthetic, "train", with_ids=True, cache=False))


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"folds": [8]}, [8, 18, 28]),
        ({"exclude_folds": list(range(1, 10))}, [0, 10, 20]),
        ({"record_ids": ["r3", "r17", "r999"]}, [3, 17]),
        ({"patient_ids": ["p2"]}, [4, 5]),
        ({"folds": [4], "patient_ids": ["p2", "p7"]}, [4, 14]),
    ],
)
def test_filters(synthetic, filters, expected):
    ids = _ids(datasets.load_records(synthetic, "train", with_ids=True, **filters))
    assert sorted(ids, key=lambda rid: int(rid[1:])) == [f"r{i}" for i in expected]


def test_cache_does_not_change_content(synthetic):
    cached = datasets.load_records(synthetic, "train", with_ids=True, cache=True)
    uncached = datasets.load_records(synthetic, "train", with_ids=True, cache=False)
    assert _ids(cached) == _ids(cached) == _ids(uncached)


def test_load_split_batches_and_shuffles_with_seed(synthetic):
    def order(seed):
        batches = datasets.load_split(
            synthetic, "train", batch_size=8, shuffle=True, seed=seed, with_ids=True
        )
        return [rid.decode() for _, _, ids in batches.as_numpy_iterator() for rid in ids]

    first = datasets.load_split(synthetic, "train", batch_size=8)
    assert [x.shape[0] for x, _ in first.as_numpy_iterator()] == [8, 8, 8, 6]
    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == sorted(f"r{i}" for i in range(30))


def test_shuffled_epochs_depend_only_on_seed_and_epoch(synthetic):
    records = datasets.load_records(synthetic, "train", with_ids=True)

    def epochs(first):
        stream = datasets.shuffled_epochs(
            records, batch_size=7, seed=3, first_epoch=first, epochs=4, buffer_size=30
        )
        ids = [rid.decode() for _, _, batch in stream.as_numpy_iterator() for rid in batch]
        return [ids[start:start + 30] for start in range(0, len(ids), 30)]

    full, resumed = epochs(0), epochs(2)
    assert len(full) == 4 and resumed == full[2:]
    assert all(sorted(epoch) == sorted(full[0]) for epoch in full)
    assert len({tuple(epoch) for epoch in full}) == 4


def test_per_epoch_hook_and_batch_boundaries(synthetic):
    records = datasets.load_records(synthetic, "train")
    stream = datasets.shuffled_epochs(
        records,
        batch_size=8,
        seed=0,
        first_epoch=0,
        epochs=2,
        buffer_size=30,
        per_epoch=lambda ds: ds.take(25),
    )
    assert [x.shape[0] for x, _ in stream.as_numpy_iterator()] == [8, 8, 8, 1] * 2


def test_load_index(synthetic):
    index = datasets.load_index(synthetic, "train")
    assert sorted(index["record_id"].tolist()) == sorted(f"r{i}" for i in range(30))
    for position, record_id in enumerate(index["record_id"]):
        _, labels, _, patient_id, fold = _record(int(record_id[1:]))
        assert index["patient_id"][position] == patient_id and index["fold"][position] == fold
        np.testing.assert_array_equal(index["labels"][position], labels)


def test_missing_manifest_says_how_to_build(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"manifest\.json not found: build it with python -m tfrecords_builder",
    ):
        datasets.load_split(tmp_path, "train")


def test_missing_shard_is_named(synthetic, tmp_path):
    copy = tmp_path / "toy"
    copy.mkdir()
    (copy / "manifest.json").write_text((synthetic / "manifest.json").read_text())
    with pytest.raises(FileNotFoundError, match="test-00000-of-00001.tfrecord"):
        datasets.load_split(copy, "test")


def test_unknown_split_and_bad_folds(synthetic):
    with pytest.raises(ValueError, match="unknown split 'val'.*train, test"):
        datasets.load_split(synthetic, "val")
    with pytest.raises(ValueError, match="folds"):
        datasets.load_split(synthetic, "train", folds=[10])


def test_real_ptbxl_build(ptbxl_built):
    manifest = datasets.load_manifest(ptbxl_built)
    signals, labels = next(iter(datasets.load_split(ptbxl_built, "test", batch_size=16)))
    assert signals.shape == (16, manifest["samples"], len(manifest["leads"]))
    assert labels.shape == (16, len(manifest["labels"]))
    index = datasets.load_index(ptbxl_built, "train")
    assert len(index["record_id"]) == manifest["splits"]["train"]["records"]
    assert 9 not in set(index["fold"].tolist())  # PTB-XL's test split is fold 9


def test_built_dataset_verifies_shards_against_the_manifest(synthetic, tmp_path):
    import shutil

    data = datasets.BuiltDataset.open(synthetic)
    assert datasets.BuiltDataset.open(data) is data and data.labels == LABELS
    data.verify(["train", "test"])
    copy = tmp_path / "toy"
    shutil.copytree(synthetic, copy)
    shard = copy / "train-00001-of-00003.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-5])  # truncated
    damaged = datasets.BuiltDataset.open(copy)
    damaged.verify(["test"])
    with pytest.raises(ValueError, match=f"shard {shard} is damaged.*--no-verify"):
        damaged.verify(["train"])


def test_reader_parses_every_schema_feature(synthetic):
    from tfrecords_builder import schema

    spec = datasets._feature_spec(len(LABELS))
    assert list(spec) == [feature.name for feature in schema.FEATURES]
    assert spec["labels"].shape == [len(LABELS)] and spec["fold"].dtype == tf.int64
