"""The fields every rate bench writes: the machine and its load, and the rates per round."""

from __future__ import annotations

import os
import statistics


def machine_fields(device, load_before) -> dict:
    """The device (``ecg_tl_keras.precision.current_device()``), its bfloat16 flags and cores,
    and the load average before the run (``os.getloadavg()``) and now."""
    return {"device": {"kind": device.kind, "name": device.name},
            "cpu_bf16_flags": list(device.cpu_flags), "cpu_count": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()]}


def rate_fields(rates: dict[str, list[float]]) -> dict:
    """Per variant, the median rate over rounds and every round's rate (one decimal).

    Example:
        >>> rate_fields({"a": [1.0, 3.0, 2.04]})
        {'samples_per_s': {'a': 2.0}, 'samples_per_s_by_round': {'a': [1.0, 3.0, 2.0]}}
    """
    return {"samples_per_s": {name: round(statistics.median(values), 1)
                              for name, values in rates.items()},
            "samples_per_s_by_round": {name: [round(v, 1) for v in values]
                                       for name, values in rates.items()}}
