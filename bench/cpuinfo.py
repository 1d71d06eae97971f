"""The CPU model and its flags of note, read once for every bench script's results file."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model_and_flags(flags_of_note: tuple[str, ...]) -> tuple[str, list[str]]:
    """The CPU's model name and which of ``flags_of_note`` it has (Linux ``/proc/cpuinfo``).

    Elsewhere, or when the file is unreadable: ``platform.processor()`` (or ``"unknown"``)
    and no flags.
    """
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return model, [flag for flag in flags_of_note if flag in flags]
