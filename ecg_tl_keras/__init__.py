"""ecg-tl-keras: transfer learning for 12-lead ECG diagnosis in Keras 3.

Sub-packages: ``models`` (backbones, heads, fine-tuning helpers),
``datasets`` (reading the TFRecords ``python -m tfrecords_builder`` writes),
``metrics``, ``training`` and ``study``.
"""

__version__ = "0.1.0"
