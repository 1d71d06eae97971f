"""The README's layout table: every path it names exists, and it names every package module.

A row's first path is its folder or a file in it; the row's other paths are relative to that
folder unless they start at the project root. A folder stands for the modules in it, except a
row's own folder, whose modules the row names one by one; ``__init__.py`` needs no mention.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ecg_tl_keras", "tfrecords_builder")
_CODE = re.compile(r"`([^`\s]+)`")
_PATH = re.compile(r"[\w.*/-]+(\.py|/)")


def layout_rows() -> list[tuple[str, str]]:
    """The (path, what) cells of the table under ``## Layout``."""
    section = (ROOT / "README.md").read_text().split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split(" | ", 1) for line in section.splitlines()
            if line.startswith("| `")]
    return [(path.strip(), what.strip()) for path, what in rows]


def row_paths(path_cell: str, what_cell: str) -> tuple[str, list[str]]:
    """The row's folder and every other path the row names, from the project root."""
    paths = [path for cell in (path_cell, what_cell) for path in _CODE.findall(cell)
             if _PATH.fullmatch(path)]
    folder = paths[0] if paths[0].endswith("/") else paths[0].rpartition("/")[0] + "/"
    top = {entry.name for entry in ROOT.iterdir()}
    named = [path if path.split("/")[0] in top else folder + path for path in paths]
    return folder, [path for path in named if path != folder]


def expand(path: str) -> list[Path]:
    """The files or folders a named path stands for (a ``*`` pattern: every match)."""
    return sorted(ROOT.glob(path.rstrip("/"))) if "*" in path else [ROOT / path]


def test_every_path_in_the_layout_table_exists():
    rows = layout_rows()
    assert len(rows) >= 10
    missing = []
    for path_cell, what_cell in rows:
        folder, paths = row_paths(path_cell, what_cell)
        for path in [folder] + paths:
            found = expand(path)
            if not found or not all(item.exists() for item in found):
                missing.append(path)
    assert not missing, f"README layout names paths that do not exist: {missing}"


def test_the_layout_table_names_every_package_module():
    named: set[Path] = set()
    for path_cell, what_cell in layout_rows():
        for path in row_paths(path_cell, what_cell)[1]:
            for item in expand(path):
                named.update(item.rglob("*.py") if item.is_dir() else [item])
    modules = {path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
               if path.name != "__init__.py"}
    unnamed = sorted(str(path.relative_to(ROOT)) for path in modules - named)
    assert not unnamed, f"README layout does not name: {unnamed}"
