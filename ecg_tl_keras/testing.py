"""Contract checks for your own backbones and dataset readers.

In the spirit of keras-hub's `TestCase.run_backbone_test`: one call runs every
check the package relies on, so a backbone or reader that passes works in
`train`, fine-tuning, plans and the builder. The package's own contract tests
call these same functions for the built-in backbones and readers.

- `check_backbone(name)`: builds the registered backbone, checks its output,
  takes a training step, round-trips a `.keras` file with `safe_mode=True` and
  the model config, fine-tunes through `replace_head` and walks the
  gradual-unfreezing stages.
- `check_reader(reader)`: the `tfrecords_builder` reader contract (unique ids,
  labels in the reader's order, patients, signals in mV with named leads).

Both raise `AssertionError` naming what failed, so they read well in pytest.

Example:
    >>> summary = check_backbone("gru", input_shape=(32, 12), units=8)
    >>> summary["features"], summary["stages"]
    (8, ['rnn'])
"""

from __future__ import annotations

import math
import pickle
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["SMALL_ARCHITECTURES", "check_backbone", "check_reader"]

_HARNESS_SHAPE = (64, 12)
#: Architecture arguments that shrink the foundation models' backbones (30 M and 6 M
#: parameters by default) for contract checks that run in seconds.
SMALL_ARCHITECTURES = {
    "net1d": {"base_filters": 8, "filter_list": (16, 32), "m_blocks_list": (1, 2),
              "groups_width": 8},
    "ribeiro_resnet": {"stem_filters": 8, "unit_filters": (8, 16), "unit_downsample": (4, 4)},
}


def _expect(condition, message):
    if not condition:
        raise AssertionError(message)


def check_backbone(name, *, input_shape=_HARNESS_SHAPE, n_labels=3, batch_size=4, **kwargs):
    """Checks that a registered backbone meets every contract of the package.

    Args:
        name: A registered backbone name (`available_backbones()`).
        input_shape: `(samples, leads)` to build it for; small keeps it fast.
        n_labels: Labels of the classifier built around it.
        batch_size: Rows of the random batch used for the training step.
        **kwargs: Architecture arguments passed to the backbone.

    Returns:
        A dict: `family`, `features`, `params` (classifier with a linear
        head), `stages` (first layer name of each stage).

    Raises:
        AssertionError: Naming the first check that failed.
        ValueError: If `name` is not registered.

    Example:
        >>> check_backbone("lstm", input_shape=(16, 12), units=4)["family"]
        'rnn'
    """
    import keras

    from ecg_tl_keras.models import (
        backbone_stages, build_model, freeze_backbone, get_backbone, get_backbone_spec,
        replace_head, unfreeze_stages)

    spec = get_backbone_spec(name)
    backbone = get_backbone(name, input_shape=input_shape, **kwargs)
    _expect(isinstance(backbone, keras.Model) and backbone.name == "backbone",
            f"{name}: the builder must return a keras.Model named 'backbone'")
    _expect(tuple(backbone.input_shape[1:]) == tuple(input_shape),
            f"{name}: input shape {backbone.input_shape} is not (None, *{tuple(input_shape)})")
    _expect(len(backbone.output_shape) == 2 and backbone.output_shape[1],
            f"{name}: output must be (batch, features), got {backbone.output_shape}")

    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 0.5, (batch_size, *input_shape)).astype("float32")
    y = (rng.random((batch_size, n_labels)) > 0.5).astype("float32")
    stats = (rng.normal(0.0, 0.05, input_shape[-1]), rng.uniform(0.1, 0.3, input_shape[-1]))
    model = build_model(name, n_labels, input_shape=input_shape, normalization=stats, **kwargs)
    _expect([layer.name for layer in model.layers] == ["ecg", "normalization", "backbone", "head"],
            f"{name}: unexpected classifier layers {[layer.name for layer in model.layers]}")

    backbone_before = _weights(model.get_layer("backbone"))
    _train_step(model, x, y)
    _expect(not _equal(backbone_before, _weights(model.get_layer("backbone"))),
            f"{name}: a training step changed no backbone weight")
    probabilities = _predict(model, x)
    _expect(probabilities.shape == (batch_size, n_labels)
            and np.all((probabilities >= 0) & (probabilities <= 1)),
            f"{name}: outputs are not {n_labels} probabilities per row")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    _expect(np.array_equal(_predict(loaded, x), probabilities),
            f"{name}: the .keras round trip (safe_mode=True) changed the outputs; register "
            "custom layers with keras.saving.register_keras_serializable")

    rebuilt = keras.Model.from_config(model.get_config())
    _expect(rebuilt.get_config() == model.get_config(), f"{name}: config round trip differs")
    rebuilt.set_weights(model.get_weights())
    _expect(np.array_equal(_predict(rebuilt, x), probabilities),
            f"{name}: the model rebuilt from its config computes other outputs")

    target = replace_head(loaded, n_labels + 1)
    _expect(target.output_shape == (None, n_labels + 1), f"{name}: replace_head output shape")
    _expect(_equal(_weights(target.get_layer("backbone")), _weights(loaded.get_layer("backbone"))),
            f"{name}: replace_head did not copy the backbone weights")
    freeze_backbone(target)
    head_paths = sorted(w.path for w in target.get_layer("head").trainable_weights)
    _expect(sorted(w.path for w in target.trainable_weights) == head_paths,
            f"{name}: freeze_backbone left backbone weights trainable")

    stages = backbone_stages(target)
    weighted = [layer for layer in target.get_layer("backbone").layers if layer.weights]
    in_stages = [layer for stage in stages for layer in stage]
    _expect(len(in_stages) == len(weighted) and set(map(id, in_stages)) == set(map(id, weighted)),
            f"{name}: backbone_stages does not hold every weighted layer exactly once")
    counts = []
    for count in range(len(stages) + 1):
        unfreeze_stages(target, count)
        counts.append(_trainable_size(target))
    _expect(all(a < b for a, b in zip(counts, counts[1:])),
            f"{name}: unfreezing one more stage must add trainable weights, got {counts}")
    _expect(counts[-1] == _trainable_size(replace_head(loaded, n_labels + 1)),
            f"{name}: unfreezing every stage must train the whole network")
    return {"family": spec.family, "features": int(backbone.output_shape[1]),
            "params": int(model.count_params()),
            "stages": [stage[0].name for stage in stages]}


def check_reader(reader, *, max_seconds=10.5, limit=None, leads=None):
    """Checks a `tfrecords_builder` reader against the builder's contract.

    Args:
        reader: A reader instance (`Reader` subclass built on its source).
        max_seconds: Seconds to ask `read_signal` for (the builder's 10.5).
        limit: Read at most this many records' signals (default: all).
        leads: Lead names every signal read must have, matched by name as the
            builder matches them (e.g. `tfrecords_builder.signal.STANDARD_LEADS`);
            `None` checks only that a record's lead names are distinct.

    Returns:
        A dict: `records` (listed), `read` (signals read), `rejected`
        (records whose `read_signal` raised `RecordRejected`, with reasons).

    Raises:
        AssertionError: Naming the reader, record and the broken rule.

    Example:
        >>> from importlib import resources
        >>> from tfrecords_builder.readers import get_reader
        >>> sample = resources.files("ecg_tl_keras") / "sample_data" / "georgia"
        >>> check_reader(get_reader("georgia")(sample), limit=2)["read"]
        2
    """
    from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef
    from tfrecords_builder.signal import RecordRejected, canonical_lead

    kind = type(reader).__name__
    _expect(isinstance(reader, Reader), f"{kind}: not a tfrecords_builder Reader")
    labels = tuple(getattr(reader, "label_names", ()))
    _expect(isinstance(getattr(reader, "name", None), str) and reader.name,
            f"{kind}: needs a non-empty `name`")
    _expect(labels and len(set(labels)) == len(labels),
            f"{kind}: label_names must be non-empty and distinct, got {labels!r}")
    _expect(set(reader.label_codes) == set(labels),
            f"{kind}: label_codes must have one entry per label name")
    _expect(isinstance(getattr(reader, "release_format", None), str) and reader.release_format,
            f"{kind}: needs a non-empty release_format")
    _expect(pickle.loads(pickle.dumps(reader)) is not None,
            f"{kind}: must be picklable (readers are sent to worker processes)")
    inputs = [Path(path) for path in reader.input_paths()]
    _expect(inputs and all(path.exists() for path in inputs),
            f"{kind}: input_paths() must list the files and folders it reads, all present; "
            f"got {inputs}")

    refs = reader.records()
    _expect(refs, f"{kind}: records() listed nothing in {getattr(reader, 'source', '?')}")
    _expect(refs == reader.records(), f"{kind}: records() is not deterministic")
    ids = [ref.record_id for ref in refs]
    _expect(len(set(ids)) == len(ids), f"{kind}: duplicate record ids")
    for ref in refs:
        where = f"{kind} record {ref.record_id!r}"
        _expect(isinstance(ref, RecordRef), f"{where}: records() must yield RecordRef")
        _expect(isinstance(ref.record_id, str) and ref.record_id, f"{where}: empty record_id")
        _expect(isinstance(ref.patient_id, str) and ref.patient_id, f"{where}: empty patient_id")
        _expect(list(ref.labels) == [label for label in labels if label in ref.labels]
                and set(ref.labels) <= set(labels),
                f"{where}: labels {ref.labels!r} are not label names in the reader's order")
        _expect(ref.fold is None or (isinstance(ref.fold, int) and 0 <= ref.fold <= 9),
                f"{where}: fold must be None or 0-9, got {ref.fold!r}")

    read, rejected = 0, {}
    for ref in refs[:limit]:
        where = f"{kind} record {ref.record_id!r}"
        try:
            raw = reader.read_signal(ref, max_seconds)
        except RecordRejected as reason:
            rejected[ref.record_id] = str(reason)
            continue
        read += 1
        _expect(isinstance(raw, RawSignal), f"{where}: read_signal must return a RawSignal")
        _expect(raw.fs > 0, f"{where}: sampling rate {raw.fs!r}")
        _expect(raw.data.ndim == 2 and raw.data.shape[1] == len(raw.lead_names),
                f"{where}: data {raw.data.shape} must be (samples, one column per lead name)")
        _expect(0 < raw.data.shape[0] <= math.ceil(max_seconds * raw.fs),
                f"{where}: {raw.data.shape[0]} samples, more than {max_seconds} s at {raw.fs} Hz")
        keys = [canonical_lead(name) for name in raw.lead_names]
        _expect(len(set(keys)) == len(keys), f"{where}: lead names repeat: {list(raw.lead_names)}")
        missing = [lead for lead in leads or () if canonical_lead(lead) not in keys]
        _expect(not missing, f"{where}: lead(s) {', '.join(missing)} absent from "
                             f"{list(raw.lead_names)}")
    _expect(read, f"{kind}: every record read was rejected: {rejected}")
    return {"records": len(refs), "read": read, "rejected": rejected}


def _train_step(model, x, y):
    import keras

    # Eager steps skip tracing the graph: much faster for one step on CPU.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  run_eagerly=True)
    model.train_on_batch(x, y)


def _predict(model, x):
    import keras

    # Direct eager calls: compiled and uncompiled models then run the same kernels.
    return keras.ops.convert_to_numpy(model(x, training=False))


def _weights(layer):
    return [np.array(w) for w in layer.get_weights()]


def _equal(first, second):
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def _trainable_size(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
