"""Loading user modules that register backbones (and readers) before a command runs.

`ecg-tl-keras --import MODULE COMMAND ...` imports `MODULE` first, so a backbone
it registers with `ecg_tl_keras.models.register_backbone` is known to `train`,
`study run` (plans, dry-run) and `study report`. `MODULE` is a dotted module
name (found on `sys.path` or in the current folder) or the path of a `.py`
file; the option repeats. Installed packages can instead declare an entry point
in the group `ecg_tl_keras.extensions`; those are imported on every command.

Example:
    >>> import_extensions(["json"])  # any importable module
    ['json']
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path

#: Entry-point group whose modules every command imports first.
ENTRY_POINT_GROUP = "ecg_tl_keras.extensions"


def import_extensions(modules=()):
    """Imports the entry points of `ENTRY_POINT_GROUP`, then `modules` in order.

    Args:
        modules: Dotted module names or paths of `.py` files.

    Returns:
        The names of the modules imported.

    Raises:
        ValueError: One line naming the module that could not be imported and why.
    """
    imported = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        _guarded(f"entry point {entry_point.name} ({entry_point.value})", entry_point.load)
        imported.append(entry_point.value)
    for module in modules:
        imported.append(_guarded(f"--import {module}", lambda: _import_one(module)))
    return imported


def _guarded(what, load):
    try:
        return load()
    except Exception as error:  # any failure of user code becomes one line naming the module
        lines = str(error).strip().splitlines()
        detail = f": {lines[0]}" if lines else ""
        raise ValueError(f"{what}: {type(error).__name__}{detail}") from None


def _import_one(module):
    path = Path(module)
    if module.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no such file {module}")
        name = path.stem
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            try:
                spec.loader.exec_module(loaded)
            except BaseException:
                del sys.modules[name]
                raise
        return name
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # `--import mymodule` finds ./mymodule.py
    importlib.import_module(module)
    return module
