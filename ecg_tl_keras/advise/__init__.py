"""``ecg-tl-keras advise``: which checkpoint to start from on your data, and will it help?

Example:
    >>> from ecg_tl_keras.advise import AdviseConfig, advise
    >>> advice = advise(AdviseConfig(data="OUT/mine", checkpoints=["STUDY"], out="ADVICE",
    ...                              stage="score"))  # doctest: +SKIP
"""

from ecg_tl_keras.advise.advisor import STAGES, AdviseConfig, advise
from ecg_tl_keras.advise.leep import melep
from ecg_tl_keras.advise.logme import logme
from ecg_tl_keras.advise.probe import linear_probe

__all__ = ["STAGES", "AdviseConfig", "advise", "linear_probe", "logme", "melep"]
