"""Train a backbone from scratch or fine-tune it from a .keras checkpoint.

The flags are generated from :class:`TrainConfig`'s fields (``--batch-size`` is
``batch_size``; help, choices and metavar come from the field's metadata).

Example:
    python -m ecg_tl_keras.cli train --data OUT/ptbxl --model resnet1d18 --out runs/r18
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from typing import Collection

from ecg_tl_keras.training.config import TrainConfig, cli_fields, help_of


def name_or_json(text: str):
    """A Keras identifier from the command line: a name, or a JSON object (a serialized object).

    Example:
        >>> name_or_json("adamw"), name_or_json('{"class_name": "SGD"}')
        ('adamw', {'class_name': 'SGD'})
    """
    if not text.lstrip().startswith("{"):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text}") from None


def _value_type(field, hints: dict):
    kinds = typing.get_args(hints[field.name]) or (hints[field.name],)
    if dict in kinds:
        return name_or_json
    for kind in (int, float):
        if kind in kinds:
            return kind
    return str


def add_arguments(parser: argparse.ArgumentParser,
                  names: Collection[str] | None = None) -> None:
    """Adds one flag per :class:`TrainConfig` field (see :func:`cli_fields`).

    Args:
        parser: the command's parser.
        names: only the flags of these fields (another command taking some of ``train``'s
            settings, e.g. ``advise``); None: every one.
    """
    hints = typing.get_type_hints(TrainConfig)
    for field in cli_fields():
        if names is not None and field.name not in names:
            continue
        meta = field.metadata
        flag = meta.get("flag", "--" + field.name.replace("_", "-"))
        help_text = help_of(field)
        if hints[field.name] is bool:
            parser.add_argument(flag, dest=field.name, help=help_text,
                                action="store_false" if field.default else "store_true")
            continue
        options = {"dest": field.name, "help": help_text, "type": _value_type(field, hints)}
        if field.default is dataclasses.MISSING:
            options["required"] = True
        else:
            options["default"] = field.default
            if field.default is not None:
                options["help"] += f" (default {field.default})"
        for key in ("choices", "metavar"):
            if key in meta:
                options[key] = meta[key]
        parser.add_argument(flag, **options)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``train`` arguments."""
    return TrainConfig(**{field.name: getattr(args, field.name) for field in cli_fields()})


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.training.trainer import train

    train(config_from_args(args))
    return 0
