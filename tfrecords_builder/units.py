"""The units a requested ECG lead may be in: one table, with each unit's scale to millivolts.

Headers written in UTF-8 and read as Latin-1 (as WFDB headers are read) spell the
micro sign ``ÂµV``; both spellings of micro (the micro sign and the Greek mu) are
in the table. Any other unit (``NU``, ``mmHg``, none) on a requested lead is refused
with the unit named, unless the caller says what it is (``--assume-units mV``).

Example:
>>> unit_scale("µV"), unit_scale("ÂµV"), unit_scale("V")
(0.001, 0.001, 1000.0)
>>> unit_scale("NU", assume_units="mV")
1.0
>>> unit_scale("NU")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unit 'NU' is not an ECG voltage unit; expected mV, uV, µV or V (or --assume-units ...)
"""

from __future__ import annotations

#: Unit spelling -> factor to millivolts (looked up without case and surrounding spaces).
UNIT_TO_MV = {
    "mV": 1.0,
    "uV": 1e-3,
    "\u00b5V": 1e-3,        # micro sign
    "\u03bcV": 1e-3,        # Greek small letter mu
    "\u00c2\u00b5V": 1e-3,  # the micro sign's UTF-8 bytes read as Latin-1
    "\u00ce\u00bcV": 1e-3,  # the Greek mu's UTF-8 bytes read as Latin-1
    "V": 1e3,
}
_BY_KEY = {unit.lower(): scale for unit, scale in UNIT_TO_MV.items()}
_EXPECTED = "mV, uV, µV or V"


def unit_scale(unit: str, assume_units: str | None = None) -> float:
    """Factor from ``unit`` to millivolts; ``assume_units`` stands for a unit not in the table.

    Raises:
        ValueError: ``unit`` is not in :data:`UNIT_TO_MV` and no ``assume_units`` is given,
            or ``assume_units`` itself is not in the table.
    """
    scale = _BY_KEY.get(str(unit).strip().lower())
    if scale is not None:
        return scale
    if assume_units is not None:
        return unit_scale(check_assume_units(assume_units))
    raise ValueError(f"unit {unit!r} is not an ECG voltage unit; expected {_EXPECTED} "
                     f"(or --assume-units mV when it is millivolts)")


def check_assume_units(unit: str | None) -> str | None:
    """``unit`` when it is in the table (None passes through), else a ValueError."""
    if unit is not None and str(unit).strip().lower() not in _BY_KEY:
        raise ValueError(f"--assume-units must be a voltage unit ({_EXPECTED}), got {unit!r}")
    return None if unit is None else str(unit).strip()
