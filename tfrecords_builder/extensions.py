"""Importing a user's modules before a command runs (``--import MODULE``), one error line if not.

A module registers what it adds when imported: a dataset reader with
:func:`tfrecords_builder.readers.register_reader` (for ``python -m tfrecords_builder
--import MODULE DATASET ...``), a backbone with ``ecg_tl_keras.models.register_backbone``
(for ``ecg-tl-keras --import MODULE COMMAND ...``). ``MODULE`` is a dotted module name,
found on ``sys.path`` or in the current folder, or the path of a ``.py`` file, whose folder
is then put on ``sys.path`` so that the build's worker processes import it too.

Example:
>>> import_modules(["json"])  # any importable module
['json']
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence


def split_imports(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(modules, rest)``: the values of every ``--import`` in ``argv`` and the other arguments.

    Read before a command's full parser is built, since a module may add to it.

    Example:
        >>> split_imports(["--import", "mine.py", "ptbxl", "--source", "raw"])
        (['mine.py'], ['ptbxl', '--source', 'raw'])
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--import", dest="modules", action="append", default=[])
    known, rest = parser.parse_known_args(list(argv))
    return known.modules, rest


def import_modules(modules: Iterable[str]) -> list[str]:
    """Imports ``modules`` in order; returns their module names.

    Raises:
        ValueError: One line naming the module that could not be imported and why.
    """
    return [guarded(f"--import {module}", lambda: _import_one(module)) for module in modules]


def guarded(what: str, load: Callable):
    """``load()``, with any failure of user code turned into one ``ValueError`` line naming ``what``."""
    try:
        return load()
    except Exception as error:
        lines = str(error).strip().splitlines()
        detail = f": {lines[0]}" if lines else ""
        raise ValueError(f"{what}: {type(error).__name__}{detail}") from None


def _import_one(module: str) -> str:
    path = Path(module)
    if module.endswith(".py") or path.is_file():
        return _import_file(path)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # `--import mymodule` finds ./mymodule.py
    importlib.import_module(module)
    return module


def _import_file(path: Path) -> str:
    """Imports the ``.py`` file at ``path`` as the module named by its stem."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file {path}")
    name, loaded = path.stem, sys.modules.get(path.stem)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", None) or "").resolve() != path.resolve():
            raise ImportError(f"the module name {name!r} is taken by "
                              f"{getattr(loaded, '__file__', None) or 'a built-in module'}; "
                              f"rename {path.name}")
        return name
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[name]
        raise
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)  # spawned workers get the parent's sys.path: they import it by name
    return name
