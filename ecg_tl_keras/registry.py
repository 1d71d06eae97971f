"""The registry type of every extension point (re-exported from ``tfrecords_builder.registry``).

Backbones (``ecg_tl_keras.models.registry.BACKBONES``), dataset readers
(``tfrecords_builder.readers.READERS``), fine-tuning strategies
(``ecg_tl_keras.training.strategies.STRATEGIES``) and metrics
(``ecg_tl_keras.metrics.METRICS``) are each a :class:`Registry`: a name is registered
once (``override=True`` to replace it), built-in entries stay, and an unknown name is
one error line listing the registered ones.

Example:
    >>> from ecg_tl_keras.models.registry import BACKBONES
    >>> BACKBONES.spec("gru").family
    'rnn'
"""

from tfrecords_builder.registry import WORD, Entry, Registry

__all__ = ["Entry", "Registry", "WORD"]
