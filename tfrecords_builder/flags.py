"""Command-line flags generated from a dataclass's field metadata (no TensorFlow).

A command's options are one dataclass; each field made with :func:`option` carries its
flag's help text, choices, metavar and old spellings. :func:`add_flags` turns the fields
into ``argparse`` arguments and :func:`values_from_args` reads them back, so a new option
is one field definition. Both commands use it: ``python -m tfrecords_builder`` (from
``BuildOptions`` and ``RunOptions``) and ``ecg-tl-keras`` (``train`` from ``TrainConfig``,
every other command from its options; :func:`option_like` gives a command a setting another
command defines, e.g. ``advise``'s ``--val-fold``).

Field metadata keys:

- ``help``: the text, or a function returning it (a help that lists what is registered
  when the parser is built, after ``--import``).
- ``flag``: the flag (default ``--`` and the field name with ``-`` for ``_``); a
  ``bool`` field is a switch that sets the opposite of its default.
- ``aliases``: older spellings still accepted; the help names them.
- ``choices``, ``metavar``, ``nargs``, ``type`` (default: from the annotation).
- ``repeatable``: the flag may be given several times; the field holds the list.
- ``positional``: a positional argument instead of a flag.
- ``exclusive``: fields with the same name form a mutually exclusive group.
- ``cli``: False for a field that is not a flag.

Example:
    >>> import argparse
    >>> @dataclasses.dataclass
    ... class Options:
    ...     split_name: str = option("test", "split to evaluate", aliases=("--split",))
    >>> parser = argparse.ArgumentParser()
    >>> add_flags(parser, Options)
    >>> values_from_args(Options, parser.parse_args(["--split", "train"]))
    {'split_name': 'train'}
    >>> help_line(next(iter(flag_fields(Options))))
    'split to evaluate (default test; --split: old spelling, an alias)'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from typing import Any, Callable, Collection


def option(default: Any = dataclasses.MISSING, help: str | Callable[[], str] = "", *,
           default_factory: Any = dataclasses.MISSING, **metadata) -> Any:
    """A dataclass field with its command-line metadata (see the module docstring)."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"help": help, **metadata})


def option_like(cls, name: str, **changes) -> Any:
    """A field with the flag metadata and default of field ``name`` of dataclass ``cls``.

    For another command taking the same setting, so its flag is defined once.

    Args:
        cls: the dataclass that defines the setting.
        name: the field's name.
        **changes: ``default`` and metadata keys (e.g. ``help``) that differ here.

    Example:
        >>> @dataclasses.dataclass
        ... class Train:
        ...     epochs: int = option(100, "number of epochs", metavar="N")
        >>> field = option_like(Train, "epochs", default=None, help="epochs (default: fitted)")
        >>> field.default, field.metadata["metavar"], field.metadata["help"]
        (None, 'N', 'epochs (default: fitted)')
    """
    original = {field.name: field for field in dataclasses.fields(cls)}[name]
    if "default" in changes:
        defaults = {"default": changes.pop("default")}
    else:
        defaults = {"default": original.default, "default_factory": original.default_factory}
    return option(**defaults, **{**original.metadata, **changes})


def help_of(field: dataclasses.Field) -> str:
    """A field's help text as written (calling it when it is computed)."""
    text = field.metadata.get("help", "")
    return text() if callable(text) else text


def flag_fields(cls) -> list[dataclasses.Field]:
    """The fields of dataclass ``cls`` that are command-line arguments, in order."""
    return [field for field in dataclasses.fields(cls) if field.metadata.get("cli", True)]


def flag_of(field: dataclasses.Field) -> str:
    """A field's flag: ``metadata["flag"]``, else ``--`` and its name with dashes."""
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def help_line(field: dataclasses.Field) -> str:
    """The help a field's flag shows: its text, its default and its old spellings."""
    notes = []
    if field.default not in (dataclasses.MISSING, None) and not isinstance(field.default, bool):
        notes.append(f"default {field.default}")
    aliases = field.metadata.get("aliases", ())
    if aliases:
        notes.append(f"{', '.join(aliases)}: old spelling, an alias")
    text = help_of(field)
    return f"{text} ({'; '.join(notes)})" if notes else text


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


def _value_type(field: dataclasses.Field, hint) -> Callable:
    if "type" in field.metadata:
        return field.metadata["type"]
    kinds = typing.get_args(hint) or (hint,)
    if dict in kinds:
        return name_or_json
    for kind in (int, float):
        if kind in kinds:
            return kind
    return str


def _argument(field: dataclasses.Field, hint) -> tuple[tuple[str, ...], dict]:
    """The ``add_argument`` names and keywords of one field."""
    meta = field.metadata
    options: dict = {"help": help_line(field).replace("%", "%%")}
    if meta.get("positional"):
        options.update(type=_value_type(field, hint), metavar=meta.get("metavar"),
                       nargs=meta.get("nargs"))
        return (field.name,), options
    names = (flag_of(field), *meta.get("aliases", ()))
    options["dest"] = field.name
    if hint is bool:
        options["action"] = "store_false" if field.default else "store_true"
        return names, options
    options["type"] = _value_type(field, hint)
    if meta.get("repeatable"):
        options["action"] = "append"
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        options["required"] = True
    else:
        options["default"] = (field.default if field.default is not dataclasses.MISSING
                              else field.default_factory())
    for key in ("choices", "metavar", "nargs"):
        if key in meta:
            options[key] = meta[key]
    return names, options


def add_flags(parser: argparse.ArgumentParser, cls, names: Collection[str] | None = None) -> None:
    """Adds one argument per command-line field of dataclass ``cls`` (see :func:`flag_fields`).

    Args:
        parser: the command's parser.
        cls: the options dataclass.
        names: only the arguments of these fields; None: every one.
    """
    hints = typing.get_type_hints(cls)
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for field in flag_fields(cls):
        if names is not None and field.name not in names:
            continue
        exclusive = field.metadata.get("exclusive")
        if exclusive is not None and exclusive not in groups:
            groups[exclusive] = parser.add_mutually_exclusive_group()
        target = parser if exclusive is None else groups[exclusive]
        flags, options = _argument(field, hints[field.name])
        target.add_argument(*flags, **options)


def values_from_args(cls, args: argparse.Namespace,
                     names: Collection[str] | None = None) -> dict:
    """The parsed values of ``cls``'s command-line fields, by field name."""
    return {field.name: getattr(args, field.name) for field in flag_fields(cls)
            if names is None or field.name in names}
