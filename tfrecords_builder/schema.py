"""The schema of a built dataset's examples: one definition for the writer and the reader.

Each example is a ``tf.train.Example`` with the features below; the builder
(:mod:`tfrecords_builder.tfrecord`) writes them without TensorFlow and
``ecg_tl_keras.datasets`` parses them with ``tf.io.parse_example``. This module
does not import TensorFlow.

Example:
    >>> [feature.name for feature in FEATURES]
    ['signal', 'labels', 'record_id', 'patient_id', 'fold']
    >>> SIGNAL.kind, LABELS.per_label
    ('bytes', True)
"""

from __future__ import annotations

import dataclasses

#: Byte order and type of the ``signal`` feature's samples (row-major ``(samples, leads)``).
SIGNAL_DTYPE = "<f4"


@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature of an example.

    Attributes:
        name: the feature's key.
        kind: ``"bytes"`` or ``"int64"``.
        per_label: one value per label (the multi-hot ``labels``); otherwise one value.
    """

    name: str
    kind: str
    per_label: bool = False


SIGNAL = Feature("signal", "bytes")
LABELS = Feature("labels", "int64", per_label=True)
RECORD_ID = Feature("record_id", "bytes")
PATIENT_ID = Feature("patient_id", "bytes")
FOLD = Feature("fold", "int64")
#: Every feature, in this order.
FEATURES = (SIGNAL, LABELS, RECORD_ID, PATIENT_ID, FOLD)
