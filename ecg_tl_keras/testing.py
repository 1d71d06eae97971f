"""Contract checks for your own backbones, dataset readers, metrics and fine-tuning strategies.

In the spirit of keras-hub's `TestCase.run_backbone_test`: one call runs every
check the package relies on, so a backbone or reader that passes works in
`train`, fine-tuning, plans and the builder. The package's own contract tests
call these same functions for the built-in backbones and readers.

- `BackboneTestCase.run_backbone_test(name)` (a `unittest.TestCase`, usable from
  pytest): `check_backbone`, then under float32 and the mixed policy a `fit` and a
  `predict` on `tf.data` and a `.keras` round trip, then the same checks under the
  JAX backend when it is installed (in a child process: a process has one backend).

- `check_backbone(name)`: builds the registered backbone, checks its output,
  takes a training step, round-trips a `.keras` file with `safe_mode=True` and
  the model config, fine-tunes through `replace_head` and walks the
  gradual-unfreezing stages.
- `check_reader(reader)`: the `tfrecords_builder` reader contract (unique ids,
  labels in the reader's order, patients, signals in mV with named leads).
- `check_metric(name)`: a registered metric returns a number (or NaN where
  undefined) on a split's arrays, leaves them unchanged, is deterministic, and
  rates perfect predictions at least as well as inverted ones.
- `check_strategy(name)`: a registered fine-tuning strategy gives valid phases
  for a range of backbone depths and epoch counts.

Each raises `AssertionError` naming what failed, so they read well in pytest.

Example:
    >>> summary = check_backbone("gru", input_shape=(32, 12), units=8)
    >>> summary["features"], summary["stages"]
    (8, ['rnn'])
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

__all__ = ["BackboneTestCase", "SMALL_ARCHITECTURES", "check_backbone", "check_fit_and_predict",
           "check_metric", "check_reader", "check_strategy", "predict_batch", "same_weights",
           "train_step"]

_HARNESS_SHAPE = (64, 12)
#: Architecture arguments that shrink the foundation models' backbones (30 M and 6 M
#: parameters by default) and the ResNets (4 M to 28 M; every layer kept, 8 filters wide
#: instead of 64) for contract checks that run in seconds.
SMALL_ARCHITECTURES = {
    "resnet1d18": {"width": 8},
    "resnet1d50": {"width": 8},
    "resnet1d101": {"width": 8},
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
    return _check_backbone(name, input_shape=input_shape, n_labels=n_labels,
                           batch_size=batch_size, **kwargs)[0]


def _check_backbone(name, *, input_shape, n_labels, batch_size, **kwargs):
    """`check_backbone`'s checks; returns its summary and the float32 classifier as loaded
    back from its `.keras` file (what `run_backbone_test` goes on to fit, instead of building
    another: each build of a deep backbone costs seconds)."""
    import copy

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
    # The classifier build_model(name, ...) builds, around the backbone just checked.
    model = build_model(backbone, n_labels, normalization=stats, name=name)
    _expect([layer.name for layer in model.layers] == ["ecg", "normalization", "backbone", "head"],
            f"{name}: unexpected classifier layers {[layer.name for layer in model.layers]}")

    backbone_before = _weights(model.get_layer("backbone"))
    train_step(model, x, y)
    _expect(not same_weights(backbone_before, _weights(model.get_layer("backbone"))),
            f"{name}: a training step changed no backbone weight")
    probabilities = predict_batch(model, x)
    _expect(probabilities.shape == (batch_size, n_labels)
            and np.all((probabilities >= 0) & (probabilities <= 1)),
            f"{name}: outputs are not {n_labels} probabilities per row")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.keras"
        model.save(path)
        loaded = _load_uncompiled(path)
    _expect(np.array_equal(predict_batch(loaded, x), probabilities),
            f"{name}: the .keras round trip (safe_mode=True) changed the outputs; register "
            "custom layers with keras.saving.register_keras_serializable")

    config = model.get_config()
    rebuilt = keras.Model.from_config(copy.deepcopy(config))
    _expect(rebuilt.get_config() == config, f"{name}: config round trip differs")
    rebuilt.set_weights(model.get_weights())
    _expect(np.array_equal(predict_batch(rebuilt, x), probabilities),
            f"{name}: the model rebuilt from its config computes other outputs")

    target = replace_head(loaded, n_labels + 1)
    _expect(target.output_shape == (None, n_labels + 1), f"{name}: replace_head output shape")
    _expect(same_weights(_weights(target.get_layer("backbone")),
                         _weights(loaded.get_layer("backbone"))),
            f"{name}: replace_head did not copy the backbone weights")
    whole_network = _trainable_size(target)  # replace_head's copy trains everything
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
    _expect(counts[-1] == whole_network,
            f"{name}: unfreezing every stage must train the whole network")
    summary = {"family": spec.family, "features": int(backbone.output_shape[1]),
               "params": int(model.count_params()),
               "stages": [stage[0].name for stage in stages]}
    return summary, loaded


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
    from tfrecords_builder.split import N_FOLDS

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
        _expect(ref.fold is None or (isinstance(ref.fold, int) and 0 <= ref.fold < N_FOLDS),
                f"{where}: fold must be None or 0-{N_FOLDS - 1}, got {ref.fold!r}")

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


def check_metric(name, *, records=40, labels=4, seed=0):
    """Checks a metric registered with `ecg_tl_keras.metrics.register_metric`.

    On random multi-label targets (one label without positives, as small splits have)
    and predictions: the value is a float (NaN only where undefined), the same on a
    second call, computed without changing its inputs; and perfect predictions
    (`y_prob = y_true`) score at least as well as inverted ones (`1 - y_true`) in the
    registered direction.

    Returns:
        A dict: `random`, `perfect`, `inverted` (the values) and `mode` (`"max"`/`"min"`).

    Raises:
        AssertionError: Naming the metric and the broken rule.
        ValueError: If `name` is not registered.

    Example:
        >>> check_metric("weighted_f1")["perfect"]
        1.0
    """
    from ecg_tl_keras.metrics import get_metric

    spec = get_metric(name)
    rng = np.random.default_rng(seed)
    y_true = (rng.random((records, labels)) < 0.4).astype(np.int64)
    y_true[:, -1] = 0
    y_prob = rng.random((records, labels))
    copies = (y_true.copy(), y_prob.copy())
    values = {}
    for case, (truth, prob) in {"random": (y_true, y_prob),
                                "perfect": (y_true, y_true.astype(np.float64)),
                                "inverted": (y_true, 1.0 - y_true)}.items():
        value = spec(truth, prob)
        _expect(isinstance(value, float), f"metric {name!r}: {case} predictions gave "
                                          f"{value!r}, not a float")
        _expect(np.array_equal(value, spec(truth, prob), equal_nan=True),
                f"metric {name!r}: two calls on the same {case} predictions differ")
        values[case] = value
    _expect(np.array_equal(copies[0], y_true) and np.array_equal(copies[1], y_prob),
            f"metric {name!r}: changed its input arrays")
    perfect, inverted = values["perfect"], values["inverted"]
    if not (math.isnan(perfect) or math.isnan(inverted)):
        better = perfect >= inverted if spec.higher_is_better else perfect <= inverted
        _expect(better, f"metric {name!r}: inverted predictions ({inverted}) score better than "
                        f"perfect ones ({perfect}); is higher_is_better={spec.higher_is_better} "
                        "right?")
    return {**values, "mode": spec.mode}


def check_strategy(name, *, stages=(1, 2, 5), epochs=(10, 25)):
    """Checks a fine-tuning strategy registered with `register_finetune_strategy`.

    For every backbone depth in `stages` and epoch count in `epochs`, its phases must
    start at epoch 0 in increasing order, before the last epoch; train between 0 and
    all stages (or `None`: all); scale the rate by a positive factor; and be the same
    on a second call.

    Returns:
        A dict `{(n_stages, epochs): [(start_epoch, stages, lr_factor), ...]}`.

    Raises:
        AssertionError: Naming the strategy, the case and the broken rule.
        ValueError: If `name` is not registered.

    Example:
        >>> check_strategy("gradual", stages=(2,), epochs=(6,))
        {(2, 6): [(0, 0, 1.0), (2, 1, 0.1), (4, 2, 0.1)]}
    """
    from ecg_tl_keras.training.strategies import finetune_phases

    summary = {}
    for n_stages in stages:
        for count in epochs:
            where = f"strategy {name!r} ({n_stages} stages, {count} epochs)"
            phases = finetune_phases(name, n_stages, count)
            _expect(phases == finetune_phases(name, n_stages, count),
                    f"{where}: two calls give different phases")
            for phase in phases:
                _expect(0 <= phase.start_epoch < count,
                        f"{where}: a phase starts at epoch {phase.start_epoch}")
                _expect(phase.stages is None or (isinstance(phase.stages, int)
                                                 and 0 <= phase.stages <= n_stages),
                        f"{where}: stages must be None or 0-{n_stages}, got {phase.stages!r}")
                _expect(isinstance(phase.lr_factor, (int, float)) and phase.lr_factor > 0,
                        f"{where}: lr_factor must be > 0, got {phase.lr_factor!r}")
            summary[(n_stages, count)] = [(p.start_epoch, p.stages, p.lr_factor)
                                          for p in phases]
    return summary


def check_fit_and_predict(name, policy="float32", *, input_shape=_HARNESS_SHAPE, n_labels=3,
                          batch_size=4, tf_data=True, **kwargs):
    """Fits a classifier around a backbone under a dtype policy, then predicts and reloads it.

    The backbone computes under `policy` (`ecg_tl_keras.precision.apply_precision`;
    the head and the probabilities stay float32); `fit` runs one epoch of two batches
    (with loss scaling under `mixed_float16`), `predict` reads a `tf.data.Dataset` (NumPy
    arrays with `tf_data=False`) and must equal calling the model, and under a mixed
    policy the `.keras` round trip (`safe_mode=True`) must keep the policy and the
    outputs (`check_backbone` round-trips the float32 model).

    Returns:
        A dict: `policy`, `loss` (the epoch's loss).

    Raises:
        AssertionError: Naming the backbone, the policy and the failed check.

    Example:
        >>> check_fit_and_predict("gru", "mixed_float16", input_shape=(16, 12), units=4)["policy"]
        'mixed_float16'
    """
    from ecg_tl_keras.models import build_model

    model = build_model(name, n_labels, input_shape=input_shape, **kwargs)
    return _fit_and_predict(model, name, policy, input_shape=input_shape, n_labels=n_labels,
                            batch_size=batch_size, tf_data=tf_data)


def _fit_and_predict(model, name, policy, *, input_shape, n_labels, batch_size, tf_data):
    """`check_fit_and_predict`'s checks on `model`, a float32 classifier built for `name`."""
    import keras

    from ecg_tl_keras.precision import apply_precision, loss_scaled, model_precision

    where = f"{name} under {policy}"
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 0.5, (2 * batch_size, *input_shape)).astype("float32")
    y = (rng.random((2 * batch_size, n_labels)) > 0.5).astype("float32")
    model = apply_precision(model, policy)
    _expect(model_precision(model) == policy, f"{where}: the backbone computes under "
                                              f"{model_precision(model)}")
    model.compile(optimizer=loss_scaled(keras.optimizers.Adam(1e-3), policy),
                  loss="binary_crossentropy", run_eagerly=True)
    before = _weights(model.get_layer("backbone"))
    if tf_data:
        import tensorflow as tf

        fit_on = dict(x=tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size),
                      shuffle=False)
        predict_on = dict(x=tf.data.Dataset.from_tensor_slices(x).batch(batch_size))
    else:
        fit_on, predict_on = dict(x=x, y=y, batch_size=batch_size), dict(x=x, batch_size=batch_size)
    history = model.fit(**fit_on, epochs=1, verbose=0)
    losses = [float(value) for value in history.history["loss"]]
    _expect(all(math.isfinite(value) for value in losses), f"{where}: fit losses {losses}")
    _expect(not same_weights(before, _weights(model.get_layer("backbone"))),
            f"{where}: fit changed no backbone weight")
    predicted = model.predict(**predict_on, verbose=0)
    _expect(predicted.dtype == np.float32 and predicted.shape == (len(x), n_labels),
            f"{where}: predict gave {predicted.dtype} {predicted.shape}, not float32 "
            f"({len(x)}, {n_labels})")
    called = predict_batch(model, x)
    tolerance = 1e-5 if policy == "float32" else 2e-2
    _expect(np.allclose(predicted, called, atol=tolerance),
            f"{where}: predict differs from calling the model")
    if policy != "float32":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}.keras"
            model.save(path)
            loaded = _load_uncompiled(path)
        _expect(model_precision(loaded) == policy,
                f"{where}: the .keras round trip lost the policy")
        _expect(np.array_equal(predict_batch(loaded, x), called),
                f"{where}: the .keras round trip changed the outputs")
    return {"policy": policy, "loss": losses}


class BackboneTestCase(unittest.TestCase):
    """A test case for backbones, like keras-hub's `TestCase.run_backbone_test`.

    Subclass it (pytest collects `unittest.TestCase` subclasses too) and call
    `run_backbone_test` from a test method, for a built-in backbone or your own.

    Example:
        >>> class TestGru(BackboneTestCase):
        ...     def test_gru(self):
        ...         self.run_backbone_test("gru", input_shape=(16, 12), backends=(),
        ...                                init_kwargs={"units": 4})
        >>> unittest.TextTestRunner(stream=open(os.devnull, "w")).run(
        ...     TestGru("test_gru")).wasSuccessful()
        True
    """

    #: The policies every backbone is fitted under: float32 and the mixed one with loss
    #: scaling (the one GPUs train under).
    POLICIES = ("float32", "mixed_float16")

    def run_backbone_test(self, name, *, input_shape=_HARNESS_SHAPE, n_labels=3, batch_size=4,
                          init_kwargs=None, policies=None, backends=None, modules=None):
        """Every check of a registered backbone, under each policy and backend.

        Args:
            name: A registered backbone name.
            input_shape: `(samples, leads)`; small keeps it fast.
            n_labels: Labels of the classifier built around it.
            batch_size: Rows per batch of the random data.
            init_kwargs: Architecture arguments for the backbone.
            policies: Dtype policies to fit under (default `POLICIES`).
            backends: Other Keras backends to run `check_backbone` and a fit under, each
                in a child process (default: `("jax",)` when JAX is installed and is not
                this process's backend; `()` for none).
            modules: Modules (names or `.py` paths) the child process imports first to
                register the backbone (default: the file that defines its builder,
                unless it is part of `ecg_tl_keras`).

        Returns:
            `check_backbone`'s summary, plus `policies` (per policy, the fit's losses)
            and `backends` (per backend, its summary).
        """
        kwargs = dict(init_kwargs or {})
        shape = dict(input_shape=tuple(input_shape), n_labels=n_labels, batch_size=batch_size)
        summary, model = _check_backbone(name, **shape, **kwargs)
        # Each policy fits the classifier check_backbone built and round-tripped (a copy
        # under a mixed policy): the same checks as check_fit_and_predict, one build fewer.
        summary["policies"] = {
            policy: _fit_and_predict(model, name, policy, **shape, tf_data=True)
            for policy in (self.POLICIES if policies is None else policies)}
        summary["backends"] = {}
        for backend in _other_backends() if backends is None else backends:
            result = _run_under_backend(backend, name, shape, kwargs,
                                        _defining_modules(name) if modules is None else modules)
            self.assertNotIn("error", result, f"{name} under KERAS_BACKEND={backend}: "
                                              f"{result.get('error')}")
            summary["backends"][backend] = result
        return summary


def _other_backends():
    """JAX, when installed and not this process's backend."""
    import keras

    installed = importlib.util.find_spec("jax") is not None
    return ("jax",) if installed and keras.backend.backend() != "jax" else ()


def _defining_modules(name):
    """The `.py` file registering a backbone defined outside the package (for a child process)."""
    from ecg_tl_keras.models import get_backbone_spec

    builder = get_backbone_spec(name).builder
    if getattr(builder, "__module__", "").startswith("ecg_tl_keras."):
        return []
    path = inspect.getsourcefile(builder)
    return [path] if path else []


_BACKEND_LEG = """
import json, sys
arguments = json.loads(sys.argv[1])
from ecg_tl_keras.extensions import import_extensions
import_extensions(arguments["modules"])
from ecg_tl_keras.testing import check_backbone, check_fit_and_predict
shape = {**arguments["shape"], "input_shape": tuple(arguments["shape"]["input_shape"])}
try:
    summary = check_backbone(arguments["name"], **shape, **arguments["kwargs"])
    summary["fit"] = check_fit_and_predict(arguments["name"], "float32", tf_data=False,
                                           **shape, **arguments["kwargs"])
except Exception as error:
    summary = {"error": f"{type(error).__name__}: {error}"}
print(json.dumps(summary))
"""


def _run_under_backend(backend, name, shape, kwargs, modules):
    """`check_backbone` and a float32 fit of `name` in a child process under `backend`."""
    arguments = json.dumps({"name": name, "shape": shape, "kwargs": kwargs,
                            "modules": list(modules)})
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", _BACKEND_LEG, arguments], env=env,
                          capture_output=True, text=True, timeout=900)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"}
    return json.loads(lines[-1])


def train_step(model, x, y):
    """One eager training step of `model` on a NumPy batch (compiles it with Adam, BCE).

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> model = build_model("gru", 2, input_shape=(8, 12), units=2)
        >>> train_step(model, np.zeros((2, 8, 12), "float32"), np.ones((2, 2), "float32"))
    """
    import keras

    # One step: under TensorFlow an eager step skips tracing the graph (much faster on CPU);
    # under JAX an eager step compiles every operation on its own, which takes three times
    # as long as compiling the whole step once.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  run_eagerly=keras.backend.backend() != "jax")
    model.train_on_batch(x, y)


def predict_batch(model, x):
    """The model's outputs for a NumPy batch, as NumPy, from a direct inference call.

    Direct eager calls: compiled and uncompiled models then run the same kernels.
    """
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


def _load_uncompiled(path):
    """A `.keras` file loaded as the package loads checkpoints: `safe_mode=True`, uncompiled
    (restoring the optimizer would build its state for every weight: seconds for a deep
    backbone, and nothing the checks look at)."""
    import keras

    return keras.saving.load_model(path, safe_mode=True, compile=False)


def _weights(layer):
    return [np.array(w) for w in layer.get_weights()]


def same_weights(first, second):
    """Whether two lists of weight arrays are equal, array by array."""
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def _trainable_size(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
