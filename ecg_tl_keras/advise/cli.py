"""``ecg-tl-keras advise --data OUT/NAME --checkpoint A.keras [...] --out ADVICE``.

The flags are generated from :class:`~ecg_tl_keras.advise.advisor.AdviseConfig`'s fields
(``--checkpoint``, repeatable, is ``checkpoints``; ``--last-stage`` is ``stage``); the
fine-tune stage's ``BUDGET_FLAGS`` and ``TRAIN_FLAGS`` are ``train``'s flags.
"""

from __future__ import annotations

import argparse

from ecg_tl_keras.advise.advisor import BUDGET_FLAGS, TRAIN_FLAGS, AdviseConfig
from tfrecords_builder.flags import add_flags, values_from_args

__all__ = ["BUDGET_FLAGS", "TRAIN_FLAGS", "add_arguments", "config_from_args", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per :class:`AdviseConfig` field."""
    add_flags(parser, AdviseConfig)


def config_from_args(args: argparse.Namespace) -> AdviseConfig:
    """The :class:`AdviseConfig` of parsed ``advise`` arguments."""
    return AdviseConfig(**values_from_args(AdviseConfig, args))


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.advise.advisor import advise

    advise(config_from_args(args))
    return 0
