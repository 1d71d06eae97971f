"""The study dry-run's compute estimate from measured full-size-epoch rates: the shipped table
(``ecg_tl_keras/study/measured_rates.json``, written by ``bench/bench_full_epoch.py``), read,
validated, used for the models it has under the Keras backend in use, and named with the
machine and date it was measured on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ecg_tl_keras.backends import keras_backend
from ecg_tl_keras.models import get_backbone_spec
from ecg_tl_keras.study import rates, runner
from ecg_tl_keras.study.plan import plan_from_dict
from ecg_tl_keras.study.rates import MeasuredRates

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SIGNALS = {"samples": 1000, "leads": ["I", "II", "III", "aVR", "aVL", "aVF",
                                      "V1", "V2", "V3", "V4", "V5", "V6"]}


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "data"
    (root / "ptbxl").mkdir(parents=True)
    (root / "ptbxl" / "manifest.json").write_text(json.dumps(
        {"dataset": "ptbxl", "labels": ["A", "B"], **SIGNALS,
         "splits": {"train": {"records": 120_000}, "test": {"records": 30}}}))
    return root


def dry_run_lines(data_root, out, models) -> list[str]:
    plan = plan_from_dict(dict(upstream=["ptbxl"], downstream=["ptbxl"], models=models,
                               seeds=[0], epochs=10, finetune="full", select_on="val",
                               batch_size=8, lr=0.01), name="rates")
    lines: list[str] = []
    runner.run_study(plan, data_root, out, dry_run=True, log=lines.append)
    return lines


def cells_of(lines: list[str], model: str) -> int:
    return sum(1 for line in lines if " to do " in line and f"__{model}__" in line)


def estimated_hours(lines: list[str]) -> float:
    (line,) = [line for line in lines if "cells not done: " in line]
    return float(line.split("cells not done: ")[1].split()[0])


def test_dry_run_uses_a_measured_rate_and_names_the_machine(data_root, tmp_path, monkeypatch):
    table = MeasuredRates.from_dict({"machine": "Test CPU 9000", "cpus": 2,
                                     "measured": "2026-12-05",
                                     "samples_per_s": {keras_backend(): {"gru": 100.0}}})
    monkeypatch.setattr(rates, "measured_rates", lambda: table)
    lines = dry_run_lines(data_root, tmp_path / "s", ["gru", "lstm"])
    lstm = get_backbone_spec("lstm").cpu_samples_per_s
    assert cells_of(lines, "gru") == cells_of(lines, "lstm") > 0
    cells = cells_of(lines, "gru")  # each of 10 epochs x 120,000 train records
    assert estimated_hours(lines) == pytest.approx(
        cells * 10 * 120_000 * (1 / 100 + 1 / lstm) / 3600, abs=0.05)
    text = "\n".join(lines)
    assert "gru 100: one full-size epoch measured on Test CPU 9000 (2 cores), 2026-12-05" in text
    assert f"lstm {lstm:g}: training steps measured on 2 CPU cores" in text


def test_a_rate_of_another_backend_is_not_used(data_root, tmp_path, monkeypatch):
    other = "jax" if keras_backend() != "jax" else "tensorflow"
    table = MeasuredRates.from_dict({"machine": "X", "measured": "2026-12-05",
                                     "samples_per_s": {other: {"gru": 1.0}}})
    monkeypatch.setattr(rates, "measured_rates", lambda: table)
    lines = dry_run_lines(data_root, tmp_path / "s", ["gru"])
    assert estimated_hours(lines) == pytest.approx(
        cells_of(lines, "gru") * 10 * 120_000 / get_backbone_spec("gru").cpu_samples_per_s / 3600,
        abs=0.05)
    assert "measured on X" not in "\n".join(lines)


@pytest.mark.parametrize("table, message", [
    ({"machine": "X", "samples_per_s": {"jax": {"gru": 1.0}}}, "measured"),
    ({"machine": "X", "measured": "d", "samples_per_s": {"jax": {"gru": -3}}}, "jax/gru"),
    ({"machine": "X", "measured": "d", "samples_per_s": {"jax": {"gru": "fast"}}}, "rates.json"),
])
def test_a_malformed_table_is_refused_with_the_file_named(table, message):
    with pytest.raises(ValueError, match=message):
        MeasuredRates.from_dict(table, "rates.json")


def test_the_bench_writes_a_table_the_package_reads():
    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    try:
        import bench_full_epoch
    finally:
        sys.path.remove(str(PROJECT_ROOT / "bench"))
    results = {"date": "2026-12-05", "records": 21837, "batch_size": 256, "precision": "auto",
               "machine": {"cpu_model": "AMD EPYC", "cpus": 2},
               "runs": [{"backend": "tensorflow", "model": "gru", "samples_per_s": 250.0},
                        {"backend": "jax", "model": "resnet1d18", "samples_per_s": 120.5}]}
    written = json.dumps(bench_full_epoch.measured_rates(results))
    table = MeasuredRates.from_dict(json.loads(written))
    assert table.rate("gru", "tensorflow") == 250.0 and table.rate("resnet1d18", "jax") == 120.5
    assert table.where() == "AMD EPYC (2 cores), 2026-12-05"
