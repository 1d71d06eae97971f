"""The TensorFlow-free shard reader (ecg_tl_keras.shards) and the training input built on it
(ecg_tl_keras.training.pydata): the same records as tf.data, CRCs checked, a damaged shard
refused with its file named, seeded bounded shuffles that repeat exactly on resume."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

from ecg_tl_keras import shards
from ecg_tl_keras.shards import RecordFilter, iter_records, load_index, parse_example
from ecg_tl_keras.training.events import EventWriter
from ecg_tl_keras.training.pydata import ShuffledEpochs, shuffled
from tfrecords_builder.tfrecord import frame, serialize_example


def test_records_and_index_are_those_tf_data_reads(ptbxl_built):
    from ecg_tl_keras import datasets

    ours = list(iter_records(ptbxl_built, "train", keep=RecordFilter.of(exclude_folds=[8])))
    theirs = list(datasets.load_records(ptbxl_built, "train", exclude_folds=[8],
                                        with_ids=True).as_numpy_iterator())
    assert len(ours) == len(theirs) > 100
    for record, (signal, labels, record_id) in zip(ours, theirs):
        assert record.signal.dtype == np.float32 and np.array_equal(record.signal, signal)
        assert np.array_equal(record.labels, labels) and record.record_id == record_id.decode()
    index, expected = load_index(ptbxl_built, "train"), datasets.load_index(ptbxl_built, "train")
    assert index.keys() == expected.keys()
    for key in expected:
        assert index[key].dtype == expected[key].dtype and np.array_equal(index[key], expected[key])


def _damaged_copy(ptbxl_built, tmp_path, change):
    data = tmp_path / "ptbxl"
    shutil.copytree(ptbxl_built, data)
    shard = sorted(data.glob("train-*.tfrecord"))[0]
    content = bytearray(shard.read_bytes())
    shard.write_bytes(bytes(change(content)))
    return data, shard


def _flip(position):
    def change(content):
        content[position(content)] ^= 0xFF
        return content
    return change


@pytest.mark.parametrize("change, problem", [
    (_flip(lambda content: len(content) // 2), "fails its data's CRC-32C check"),
    (_flip(lambda content: 0), "record 0 (byte 0) fails its length's CRC-32C check"),
    (lambda content: content[:-3], "is cut short (truncated file)"),
])
def test_a_damaged_shard_is_refused_with_its_file_named(ptbxl_built, tmp_path, change, problem):
    data, shard = _damaged_copy(ptbxl_built, tmp_path, change)
    with pytest.raises(ValueError, match=f"shard {shard} is damaged: record ") as caught:
        list(iter_records(data, "train"))
    assert problem in str(caught.value) and "--overwrite" in str(caught.value)
    assert len(list(iter_records(data, "test"))) > 0  # the intact split still reads


def test_a_record_that_is_not_an_example_of_the_schema_is_named(ptbxl_built, tmp_path):
    example = serialize_example(np.zeros((10, 12), np.float32), [1, 0, 0, 0, 0], "r", "p", 1)
    data, shard = _damaged_copy(ptbxl_built, tmp_path, lambda content: frame(example) + content)
    with pytest.raises(ValueError, match=rf"shard {shard} record 0 is not an example .*signal "
                                         r"holds 480 bytes"):
        list(iter_records(data, "train"))
    garbage = frame(b"\x0a\x05\x0a\x03")  # a features field that runs past its message
    data, shard = _damaged_copy(ptbxl_built, tmp_path / "b", lambda content: garbage + content)
    with pytest.raises(ValueError, match=rf"shard {shard} record 0 is not an example"):
        list(iter_records(data, "train", with_signal=False))


def test_parse_example_reads_negative_and_unpacked_int64_values():
    packed = parse_example(serialize_example(np.zeros((1, 1), np.float32), [-1, 2], "r", "p", 0))
    assert packed["labels"] == [-1, 2]
    # Features{feature {key: "fold" value {int64_list {value: 7 value: 300}}}}, unpacked
    int64_list = b"\x08\x07" + b"\x08\xac\x02"
    feature = b"\x1a" + bytes([len(int64_list)]) + int64_list
    entry = b"\x0a\x04fold" + b"\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    assert parse_example(b"\x0a" + bytes([len(features)]) + features) == {"fold": [7, 300]}


def test_the_shuffle_buffer_is_bounded_seeded_and_loses_nothing():
    items = list(range(50))
    for size in (1, 7, 50, 80):
        out = list(shuffled(iter(items), size, np.random.default_rng(3)))
        assert sorted(out) == items
        assert out == list(shuffled(iter(items), size, np.random.default_rng(3)))
    assert list(shuffled(iter(items), 1, np.random.default_rng(0))) == items
    # a buffer of 7 can move an item at most 6 places earlier
    out = list(shuffled(iter(items), 7, np.random.default_rng(1)))
    assert all(position >= item - 6 for position, item in enumerate(out))
    assert out != items
    with pytest.raises(ValueError, match="buffer_size must be >= 1"):
        list(shuffled(iter(items), 0, np.random.default_rng(0)))


def _epoch(batches, epoch):
    batches.epoch = epoch
    return [batches[index] for index in range(batches.num_batches)]


def test_training_batches_repeat_exactly_when_resumed(ptbxl_built):
    keep = RecordFilter.of(exclude_folds=[8])
    fresh = ShuffledEpochs(ptbxl_built, "train", keep=keep, batch_size=32, seed=5,
                           first_epoch=0, epochs=3, buffer_size=40)
    records = sum(1 for _ in iter_records(ptbxl_built, "train", keep=keep, with_signal=False))
    assert fresh.num_batches == -(-records // 32)
    epochs = [_epoch(fresh, epoch) for epoch in range(3)]
    fresh.close()
    resumed = ShuffledEpochs(ptbxl_built, "train", keep=keep, batch_size=32, seed=5,
                             first_epoch=2, epochs=3, buffer_size=40, records=records)
    again = [resumed[index] for index in range(resumed.num_batches)]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(epochs[2], again))
    assert not np.array_equal(epochs[0][0][0], epochs[1][0][0])  # each epoch reshuffled
    assert sum(len(x) for x, _ in epochs[0]) == records
    out_of_order = resumed[1]  # another index restarts the epoch's stream at it
    assert np.array_equal(out_of_order[0], again[1][0])
    resumed.close()


def test_records_per_epoch_cuts_each_epoch(ptbxl_built):
    batches = ShuffledEpochs(ptbxl_built, "train", batch_size=16, seed=0, first_epoch=0,
                             epochs=1, records_per_epoch=40)
    assert batches.num_batches == 3
    assert [len(x) for x, _ in _epoch(batches, 0)] == [16, 16, 8]
    batches.close()
    with pytest.raises(ValueError, match="selects no records"):
        ShuffledEpochs(ptbxl_built, "train", keep=RecordFilter.of(record_ids=[]), batch_size=8,
                       seed=0, first_epoch=0, epochs=1)


def test_a_damaged_shard_fails_the_reading_thread_with_its_file_named(ptbxl_built, tmp_path):
    data, shard = _damaged_copy(ptbxl_built, tmp_path, _flip(lambda content: len(content) - 9))
    records = shards.BuiltDataset.open(data).records("train")
    batches = ShuffledEpochs(data, "train", batch_size=8, seed=0, first_epoch=0, epochs=1,
                             records=records)  # counted: nothing read before the thread
    with pytest.raises(ValueError, match=f"shard {shard} is damaged"):
        _epoch(batches, 0)
    batches.close()


def test_tensorboard_events_without_tensorflow_read_back_with_tensorflow(tmp_path):
    import tensorflow as tf

    writer = EventWriter(tmp_path)
    writer.scalars(1, {"epoch_loss": 0.5, "epoch_val_weighted_f1": 0.25})
    writer.scalars(2, {"epoch_loss": 0.375})
    writer.close()
    events = list(tf.compat.v1.train.summary_iterator(str(writer.path)))
    assert events[0].file_version == "brain.Event:2"
    scalars = [(event.step, value.tag, value.simple_value)
               for event in events[1:] for value in event.summary.value]
    assert scalars == [(1, "epoch_loss", 0.5), (1, "epoch_val_weighted_f1", 0.25),
                       (2, "epoch_loss", 0.375)]
    assert list(shards.read_records(writer.path))  # framed as TFRecords, CRCs and all
    assert struct.unpack("<d", list(shards.read_records(writer.path))[1][1:9])[0] > 0
