"""Loading user modules that register backbones (and readers) before a command runs.

`ecg-tl-keras --import MODULE COMMAND ...` imports `MODULE` first, so a backbone
it registers with `ecg_tl_keras.models.register_backbone` is known to `train`,
`study run` (plans, dry-run) and `study report`. `MODULE` is a dotted module
name (found on `sys.path` or in the current folder) or the path of a `.py`
file; the option repeats. Installed packages can instead declare an entry
point in the group `ecg_tl_keras.extensions`; those are imported on every
command. (The builder takes a user's dataset reader the same way:
`python -m tfrecords_builder --import MODULE DATASET ...`.)

Example:
    >>> import_extensions(["json"])  # any importable module
    ['json']
"""

from __future__ import annotations

from importlib import metadata

from tfrecords_builder.extensions import guarded, import_modules

#: Entry-point group whose modules every command imports first.
ENTRY_POINT_GROUP = "ecg_tl_keras.extensions"


def import_extensions(modules=()):
    """Imports the entry points of `ENTRY_POINT_GROUP`, then `modules` in order.

    Args:
        modules: Dotted module names or paths of `.py` files
            (see `tfrecords_builder.extensions.import_modules`).

    Returns:
        The names of the modules imported.

    Raises:
        ValueError: One line naming the module that could not be imported and why.
    """
    imported = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        guarded(f"entry point {entry_point.name} ({entry_point.value})", entry_point.load)
        imported.append(entry_point.value)
    return imported + import_modules(modules)
