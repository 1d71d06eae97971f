"""Train a backbone from scratch or fine-tune it from a .keras checkpoint.

The flags are generated from :class:`TrainConfig`'s fields (``--batch-size`` is
``batch_size``; help, choices and metavar come from the field's metadata).

Example:
    python -m ecg_tl_keras.cli train --data OUT/ptbxl --model resnet1d18 --out runs/r18
"""

from __future__ import annotations

import argparse
from typing import Collection

from ecg_tl_keras.training.config import TrainConfig
from tfrecords_builder.flags import add_flags, values_from_args


def add_arguments(parser: argparse.ArgumentParser,
                  names: Collection[str] | None = None) -> None:
    """Adds one flag per :class:`TrainConfig` field (see ``config.cli_fields``).

    Args:
        parser: the command's parser.
        names: only the flags of these fields (another command taking some of ``train``'s
            settings, e.g. ``advise``); None: every one.
    """
    add_flags(parser, TrainConfig, names)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``train`` arguments."""
    return TrainConfig(**values_from_args(TrainConfig, args))


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.training.trainer import train

    train(config_from_args(args))
    return 0
