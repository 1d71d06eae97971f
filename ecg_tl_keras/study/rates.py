"""Measured training rates for the study's compute estimate: a small table shipped in the package.

``bench/bench_full_epoch.py`` times one full-size PTB-XL-shaped training epoch per Keras
backend and model and writes ``measured_rates.json`` next to this module: training samples
per second (the whole epoch, input pipeline included) per backend and model, the CPU it ran
on and the date. The dry-run's estimate takes a model's rate under the Keras backend in use
from this table when it has one, and the rate its backbone was registered with
(``cpu_samples_per_s``) otherwise; it says which, and on what machine each was measured.

Example:
    >>> table = MeasuredRates.from_dict({"measured": "2026-12-05", "machine": "AMD EPYC",
    ...                                  "cpus": 2, "samples_per_s": {"jax": {"gru": 250.0}}})
    >>> table.rate("gru", "jax"), table.rate("gru", "tensorflow")
    (250.0, None)
    >>> table.where()
    'AMD EPYC (2 cores), 2026-12-05'
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from importlib import resources

#: The table's file name, inside this package (written by bench/bench_full_epoch.py).
RATES_FILE = "measured_rates.json"


@dataclasses.dataclass(frozen=True)
class MeasuredRates:
    """Training samples/s per backend and model, and where and when they were measured."""

    machine: str
    cpus: int | None
    measured: str
    samples_per_s: dict

    @classmethod
    def from_dict(cls, table: dict, source: str = RATES_FILE) -> "MeasuredRates":
        """The table of a ``measured_rates.json``.

        Raises:
            ValueError: a field missing, or a rate that is not a positive number (``source``
                named).
        """
        try:
            rates = {str(backend): {str(model): float(rate) for model, rate in models.items()}
                     for backend, models in table["samples_per_s"].items()}
            machine, measured = str(table["machine"]), str(table["measured"])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"{source}: not a table of measured rates ({error!r}); expected "
                             f"machine, measured and samples_per_s {{backend: {{model: rate}}}}"
                             ) from None
        bad = [f"{backend}/{model}" for backend, models in rates.items()
               for model, rate in models.items() if not (math.isfinite(rate) and rate > 0)]
        if bad:
            raise ValueError(f"{source}: rates must be positive numbers; see {', '.join(bad)}")
        return cls(machine, table.get("cpus"), measured, rates)

    def rate(self, model: str, backend: str) -> float | None:
        """``model``'s measured samples/s under ``backend``, or None when not measured."""
        return self.samples_per_s.get(backend, {}).get(model)

    def where(self) -> str:
        """The machine and date of the measurement, for the dry-run's line."""
        cores = f" ({self.cpus} cores)" if self.cpus else ""
        return f"{self.machine}{cores}, {self.measured}"


@functools.lru_cache(maxsize=1)
def measured_rates() -> MeasuredRates | None:
    """The shipped table, or None when this installation has none (no full-size epoch was
    measured for it yet)."""
    path = resources.files("ecg_tl_keras.study").joinpath(RATES_FILE)
    if not path.is_file():
        return None
    return MeasuredRates.from_dict(json.loads(path.read_text()), str(path))


def measured_rate(model: str) -> float | None:
    """``model``'s measured samples/s under the Keras backend in use, or None."""
    table = measured_rates()
    if table is None:
        return None
    from ecg_tl_keras.backends import keras_backend

    return table.rate(model, keras_backend())


def describe_rates(rates: dict) -> str:
    """Which of ``rates`` (model -> samples/s used, or None) were measured over a full-size
    epoch, and on what machine, and which are the backbones' registered rates."""
    measured = [model for model in rates if measured_rate(model) is not None]
    registered = [model for model, rate in rates.items() if rate and model not in measured]
    parts = []
    if measured:
        parts.append(f"{', '.join(f'{m} {rates[m]:g}' for m in measured)}: one full-size epoch "
                     f"measured on {measured_rates().where()} (bench/bench_full_epoch.py)")
    if registered:
        parts.append(f"{', '.join(f'{m} {rates[m]:g}' for m in registered)}: training steps "
                     f"measured on 2 CPU cores at batch 256 (the backbones' registered rates)")
    return "; ".join(parts)
