"""Training, fine-tuning, evaluation and prediction.

Example:
    >>> from ecg_tl_keras.training import TrainConfig, train
    >>> metrics = train(TrainConfig(data="OUT/ptbxl", model="lstm", out="runs/lstm",
    ...                             epochs=2))  # doctest: +SKIP
"""

from ecg_tl_keras.training.config import TrainConfig


from ecg_tl_keras.training.rundir import RunDir
from ecg_tl_keras.training.strategies import Convergence, Phase, register_finetune_strategy


def train(config: TrainConfig, *, model=None, callbacks=()) -> dict:
    """Runs :func:`ecg_tl_keras.training.trainer.train` (under TensorFlow or JAX; imports
    the trainer on first use)."""
    from ecg_tl_keras.backends import require_training_backend

    require_training_backend("ecg_tl_keras.training.train")
    from ecg_tl_keras.training.trainer import train as _train

    return _train(config, model=model, callbacks=callbacks)


__all__ = ["Convergence", "Phase", "RunDir", "TrainConfig", "register_finetune_strategy",
           "train"]
