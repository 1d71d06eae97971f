"""Turn public 12-lead ECG releases into training-ready TFRecords.

Run ``python -m tfrecords_builder DATASET --source DIR --out DIR``, or call
:func:`build_dataset`. The builder does not import TensorFlow.
"""

from tfrecords_builder.build import BUILDER_VERSION, BuildError, build_dataset
from tfrecords_builder.readers import READERS, RELEASE_READERS, get_reader
from tfrecords_builder.single import read_any_record

__all__ = ["BUILDER_VERSION", "BuildError", "READERS", "RELEASE_READERS", "build_dataset",
           "get_reader", "read_any_record"]
