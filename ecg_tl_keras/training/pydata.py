"""Training input without TensorFlow: shards -> bounded shuffle -> batches, as a Keras PyDataset.

Under a Keras backend other than TensorFlow the trainer feeds ``fit`` with
:class:`ShuffledEpochs`, a ``keras.utils.PyDataset`` (the input Keras documents for
every backend). Each epoch streams the split's shards through the CRC-checking reader
(:mod:`ecg_tl_keras.shards`), in an order and through a shuffle buffer of at most
``buffer_size`` records both seeded by ``shards.epoch_seed(seed, epoch)`` only, so a
run resumed at epoch ``e`` sees exactly the batches an uninterrupted run saw. A thread
prepares the next batches while the model trains on the current one (and the next
epoch's first ones while the epoch's evaluation runs).

Example:
    >>> batches = ShuffledEpochs("OUT/ptbxl", "train", batch_size=64, seed=0,
    ...                          first_epoch=0, epochs=10)  # doctest: +SKIP
    >>> model.fit(batches, epochs=10, callbacks=[batches.follower()])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import queue
import threading
from typing import Iterable, Iterator

import keras
import numpy as np

from ecg_tl_keras.shards import BuiltDataset, Record, RecordFilter, epoch_seed, iter_records

#: Most bytes of decoded signals a shuffle buffer holds (a full shuffle below this).
SHUFFLE_BUFFER_BYTES = 1 << 30
#: Batches the reading thread prepares ahead of the model.
PREFETCH_BATCHES = 4


def shuffle_buffer_records(data: BuiltDataset, records: int) -> int:
    """The shuffle buffer of a split of ``records``: all of them when they fit
    :data:`SHUFFLE_BUFFER_BYTES`, else as many as fit.

    Example:
        >>> from tfrecords_builder.manifest import Manifest
        >>> manifest = Manifest.from_dict({"labels": ["AF"], "samples": 1000, "leads": ["I"] * 12,
        ...                                "splits": {"train": {"records": 10}}})
        >>> shuffle_buffer_records(BuiltDataset("x", manifest), 10)
        10
    """
    samples, leads = data.input_shape
    return max(1, min(records, SHUFFLE_BUFFER_BYTES // (samples * leads * 4)))


def shuffled(records: Iterable, buffer_size: int, rng: np.random.Generator) -> Iterator:
    """``records`` through a shuffle buffer of ``buffer_size`` (``tf.data``'s shuffle):
    each output is a random element of the buffer, replaced by the next input.

    Example:
        >>> sorted(shuffled(range(5), 2, np.random.default_rng(0)))
        [0, 1, 2, 3, 4]
    """
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
    buffer = []
    for item in records:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        chosen = int(rng.integers(len(buffer)))
        yield buffer[chosen]
        buffer[chosen] = item
    for chosen in rng.permutation(len(buffer)):
        yield buffer[chosen]


def batched(records: Iterable[Record], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(signals, labels)`` batches of ``batch_size`` records (the last one may be smaller)."""
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == batch_size:
            yield _stack(chunk)
            chunk = []
    if chunk:
        yield _stack(chunk)


def _stack(chunk: list[Record]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([r.signal for r in chunk]), np.stack([r.labels for r in chunk])


class _Prefetched:
    """The batches of one epoch, produced by a thread ``depth`` batches ahead of the reader."""

    _DONE = object()

    def __init__(self, epoch: int, batches: Iterator, depth: int):
        self.epoch, self.next_index = epoch, 0
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(batches,), daemon=True,
                                        name=f"shard-reader-epoch-{epoch}")
        self._thread.start()

    def _produce(self, batches: Iterator) -> None:
        try:
            for batch in batches:
                if not self._put(batch):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread
            self._put(error)
            return
        self._put(self._DONE)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next(self):
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        if item is self._DONE:
            raise IndexError(f"epoch {self.epoch} has no batch {self.next_index}")
        self.next_index += 1
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


class ShuffledEpochs(keras.utils.PyDataset):
    """A split's training batches, epoch by epoch, for ``Model.fit`` under every backend.

    Batch ``i`` of epoch ``e`` is always the same: the records ``keep`` accepts, read
    shard by shard in an order drawn from ``epoch_seed(seed, e)``, shuffled through a
    buffer of ``buffer_size`` records with the same seed, cut to ``records_per_epoch``
    and batched. The epoch is the model's: pass :meth:`follower` to ``fit`` with the
    other callbacks. Batches are read in order by one thread; another index restarts
    the epoch's stream (``fit`` reads one batch out of order, to build the model).

    Args:
        data: a built dataset directory or :class:`BuiltDataset`.
        split: the split to read.
        keep: which records (None: all).
        batch_size: records per batch.
        seed: the run seed.
        first_epoch: the epoch ``fit`` starts at (0, or the epoch a run resumes after).
        epochs: one past the last epoch.
        records: how many records ``keep`` accepts (counted when None).
        records_per_epoch: records used per epoch (None: all).
        buffer_size: shuffle buffer in records (None: :func:`shuffle_buffer_records`).
    """

    def __init__(self, data, split: str, *, keep: RecordFilter | None = None, batch_size: int,
                 seed: int, first_epoch: int, epochs: int, records: int | None = None,
                 records_per_epoch: int | None = None, buffer_size: int | None = None):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= first_epoch < epochs:
            raise ValueError(f"need 0 <= first_epoch < epochs, got {first_epoch} and {epochs}")
        self.data, self.split, self.keep = BuiltDataset.open(data), split, keep
        if records is None:
            records = sum(1 for _ in iter_records(self.data, split, keep=keep, with_signal=False))
        if records < 1:
            raise ValueError(f"the {split} split of {self.data} selects no records")
        self.records_per_epoch = records if records_per_epoch is None else records_per_epoch
        self.buffer_size = buffer_size or shuffle_buffer_records(self.data, records)
        self.batch_size, self.seed, self.epochs = batch_size, seed, epochs
        self.epoch = first_epoch
        self._stream: _Prefetched | None = None
        self._ahead: _Prefetched | None = None

    @property
    def num_batches(self) -> int:
        return math.ceil(self.records_per_epoch / self.batch_size)

    def epoch_batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of one epoch, in order (what :meth:`__getitem__` serves)."""
        rng = np.random.default_rng(epoch_seed(self.seed, epoch))
        order = rng.permutation(len(self.data.manifest.splits[self.split]["shards"]))
        records = iter_records(self.data, self.split, keep=self.keep, shard_order=order)
        kept = (record for _, record in zip(range(self.records_per_epoch),
                                            shuffled(records, self.buffer_size, rng)))
        return batched(kept, self.batch_size)

    def _start(self, epoch: int) -> _Prefetched:
        return _Prefetched(epoch, self.epoch_batches(epoch), PREFETCH_BATCHES)

    def __getitem__(self, index: int):
        if self._stream is None or (self._stream.epoch, self._stream.next_index) != (
                self.epoch, index):
            self._restart(index)
        batch = self._stream.next()
        if index == self.num_batches - 1 and self.epoch + 1 < self.epochs:
            self._ahead = self._start(self.epoch + 1)  # read on while the epoch is evaluated
        return batch

    def _restart(self, index: int) -> None:
        self.close()
        if self._ahead is not None and self._ahead.epoch == self.epoch and index == 0:
            self._stream, self._ahead = self._ahead, None
            return
        self._stream = self._start(self.epoch)
        for _ in range(index):
            self._stream.next()

    def close(self) -> None:
        """Stops the reading threads of the current stream (and of one read ahead, if stale)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._ahead is not None and self._ahead.epoch != self.epoch:
            self._ahead.close()
            self._ahead = None

    def follower(self) -> keras.callbacks.Callback:
        """A callback that keeps this dataset at the model's epoch (give it to ``fit``)."""
        return _FollowEpoch(self)


class _FollowEpoch(keras.callbacks.Callback):
    def __init__(self, batches: ShuffledEpochs):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch

    def on_train_end(self, logs=None):
        self.batches.epoch = self.batches.epochs  # no epoch left: stop every reader
        self.batches.close()


def signal_batches(data, split: str, keep: RecordFilter | None, batch_size: int) -> "SignalBatches":
    """Re-iterable batches of a split's signals, in file order (evaluation's input)."""
    return SignalBatches(BuiltDataset.open(data), split, keep, batch_size)


class SignalBatches:
    """The signals of a split in file order, in batches, read again on every iteration.

    Example:
        >>> batches = signal_batches("OUT/ptbxl", "test", None, 256)  # doctest: +SKIP
        >>> sum(len(batch) for batch in batches)  # doctest: +SKIP
        2198
    """

    def __init__(self, data: BuiltDataset, split: str, keep: RecordFilter | None,
                 batch_size: int):
        self.data, self.split, self.keep, self.batch_size = data, split, keep, batch_size

    def __iter__(self) -> Iterator[np.ndarray]:
        records = iter_records(self.data, self.split, keep=self.keep)
        for signals, _ in batched(records, self.batch_size):
            yield signals
