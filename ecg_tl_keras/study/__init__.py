"""The study as code: plans, cells, a resumable and shardable runner, statistics and the report.

``ecg-tl-keras study run --plan paper --data-root DATA --out STUDY`` trains every cell of a
plan; ``ecg-tl-keras study report STUDY --out REPORT`` writes the figures, tables and findings.

Example:
    >>> from ecg_tl_keras.study import expand_cells, load_plan
    >>> len(expand_cells(load_plan("smoke")))
    12
"""

from ecg_tl_keras.study.cells import Cell, expand_cells, parse_shard, shard_cells
from ecg_tl_keras.study.plan import Plan, SizeSweep, load_plan
from ecg_tl_keras.study.findings import Finding, findings
from ecg_tl_keras.study.report import make_report
from ecg_tl_keras.study.runner import Summary, run_study
from ecg_tl_keras.study.stats import (
    Interval, Verdict, bootstrap_mean_ci, bootstrap_mean_difference_ci,
    paired_bootstrap_f1_difference, seed_gain_interval)

__all__ = ["Cell", "Finding", "Interval", "Plan", "SizeSweep", "Summary", "Verdict",
           "bootstrap_mean_ci", "bootstrap_mean_difference_ci", "expand_cells", "findings",
           "load_plan", "make_report", "paired_bootstrap_f1_difference", "parse_shard",
           "run_study", "seed_gain_interval", "shard_cells"]
