"""The report's tables (pandas), from the cell rows, the comparisons and the findings.

Unadjusted intervals stay visible in every table (``ci_low``/``ci_high``, ``p_value``)
beside the family's adjusted p-value (``p_holm``) and verdict.

Example:
    >>> print(markdown_table(pd.DataFrame({"a": [1.23456], "b": [None]})))
    | a | b |
    | --- | --- |
    | 1.2346 |  |
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ecg_tl_keras.study.comparisons import Comparison, baselines_by_dataset, user_metric_names
from ecg_tl_keras.study.curves import as_float, best_score, common_area, first_epoch_reaching
from ecg_tl_keras.study.cost import cost_of
from ecg_tl_keras.study.findings import Finding
from ecg_tl_keras.study.inference import aligned_predictions
from ecg_tl_keras.study.stats import Interval, two_level_bootstrap_f1_difference

DID_NOT_LEARN = "did not learn"
_CELL_COLUMNS = ["key", "kind", "roles", "upstream", "dataset", "model", "family", "seed",
                 "train_size", "train_records", "select_on", "weighted_f1", "macro_f1",
                 "macro_auc", "baseline_constant", "baseline_random", "learned", "learned_basis",
                 "best_epoch", "epochs_trained", "train_time_s"]


def cells_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Every cell's test scores beside its dataset's no-skill baselines, and how it learned;
    a column per user metric (``register_metric``) the runs logged, after ``macro_auc``."""
    names = user_metric_names(rows)
    records = [{**{c: r[c] for c in _CELL_COLUMNS},
                **{name: r["user_metrics"].get(name, math.nan) for name in names}} for r in rows]
    for record in records:
        learned = record["learned"]
        record["learned"] = "" if learned is None else "yes" if learned else DID_NOT_LEARN
    at = _CELL_COLUMNS.index("macro_auc") + 1
    columns = _CELL_COLUMNS[:at] + names + _CELL_COLUMNS[at:]
    return _sizes_as_int(pd.DataFrame(records, columns=columns))


def baselines_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Per dataset: the test weighted F1 of the no-skill baselines and how many runs beat them."""
    records = []
    for dataset, (part, constant, random) in baselines_by_dataset(rows).items():
        records.append(dict(
            dataset=dataset, baseline_constant=constant, baseline_random=random, runs=len(part),
            runs_beating_constant=sum(r["weighted_f1"] > constant for r in part)
            if math.isfinite(constant) else None,
            runs_beating_random=sum(r["weighted_f1"] > random for r in part)
            if math.isfinite(random) else None,
            runs_not_learning=sum(r["learned"] is False for r in part)))
    return pd.DataFrame(records, columns=["dataset", "baseline_constant", "baseline_random",
                                          "runs", "runs_beating_constant", "runs_beating_random",
                                          "runs_not_learning"]).astype(
        {"runs_beating_constant": "Int64", "runs_beating_random": "Int64"})


def per_label_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Every cell's test F1 per label beside the constant predictor's (long format)."""
    return pd.DataFrame([dict(key=r["key"], dataset=r["dataset"], label=label, f1=f1,
                              baseline_constant=as_float(r["per_label_constant"].get(label)))
                         for r in rows for label, f1 in r["per_label_f1"].items()],
                        columns=["key", "dataset", "label", "f1", "baseline_constant"])


_FINDING_COLUMNS = ["gain", "ci_low", "ci_high", "ci_method", "p_value", "p_holm", "verdict"]


def _finding_columns(finding: Finding) -> dict:
    return dict(gain=finding.estimate, ci_low=finding.low, ci_high=finding.high,
                ci_method=finding.method, p_value=finding.p_value, p_holm=finding.p_adjusted,
                verdict=finding.verdict.wording)


def gain_table(groups: Sequence[Comparison], found: Mapping[str, Finding],
               two_level: bool = False) -> pd.DataFrame:
    """Fine-tune minus scratch weighted F1 per comparison: its unadjusted interval and
    p-value, the Holm-adjusted p-value across the report's family and the verdict; for each
    user metric (``register_metric``) the runs logged, its scratch and fine-tune means over
    seeds (descriptive: the verdicts are about weighted F1)."""
    names = user_metric_names([r for g in groups for r in g.finetune + g.scratch])
    records = []
    for group in groups:
        first = group.finetune[0]
        record = dict(
            upstream=group.upstream, downstream=group.downstream, model=group.model,
            family=first["family"], train_size=group.train_size,
            train_records=_mean_records(group.finetune), seeds=len(group.finetune),
            scratch_f1=np.mean([r["weighted_f1"] for r in group.scratch]),
            finetune_f1=np.mean([r["weighted_f1"] for r in group.finetune]),
            **{f"{role}_{name}": _mean_of(name, runs) for name in names
               for role, runs in (("scratch", group.scratch), ("finetune", group.finetune))},
            baseline_constant=first["baseline_constant"],
            baseline_random=first["baseline_random"],
            **_finding_columns(found[f"comparison:{group.key}"]),
            did_not_learn=group.did_not_learn())
        if two_level:
            both = two_level_interval(group)
            record.update(ci2_low=both.low, ci2_high=both.high, ci2_method=both.method)
        records.append(record)
    columns = (["upstream", "downstream", "model", "family", "train_size", "train_records",
                "seeds", "scratch_f1", "finetune_f1"]
               + [f"{role}_{name}" for name in names for role in ("scratch", "finetune")]
               + ["baseline_constant", "baseline_random"] + _FINDING_COLUMNS
               + ["did_not_learn"] + (["ci2_low", "ci2_high", "ci2_method"] if two_level else []))
    return _sizes_as_int(pd.DataFrame(records, columns=columns))


def two_level_interval(group: Comparison) -> Interval:
    """The two-level bootstrap (seeds, then test records) of the mean gain."""
    rows = group.finetune + group.scratch
    gain = float(np.mean([ft["weighted_f1"] - sc["weighted_f1"]
                          for ft, sc in zip(group.finetune, group.scratch)]))
    if any(r["predictions"] is None or not r["predictions"].is_file() for r in rows):
        return Interval(gain, math.nan, math.nan, "no interval: no predictions_test.npz")
    pairs = [aligned_predictions(ft["predictions"], sc["predictions"])
             for ft, sc in zip(group.finetune, group.scratch)]
    interval = two_level_bootstrap_f1_difference(pairs)
    return Interval(gain, interval.low, interval.high, interval.method, seeds=interval.seeds)


def label_gain_table(groups: Sequence[Comparison], found: Mapping[str, Finding]) -> pd.DataFrame:
    """Per comparison and label: fine-tune minus scratch test F1 of that label over seeds."""
    records = [dict(upstream=g.upstream, downstream=g.downstream, model=g.model,
                    train_size=g.train_size, label=label, seeds=len(g.finetune),
                    **_finding_columns(found[f"label:{g.key}:{label}"]))
               for g in groups for label in g.finetune[0]["per_label_f1"]
               if f"label:{g.key}:{label}" in found]
    return _sizes_as_int(pd.DataFrame(records, columns=[
        "upstream", "downstream", "model", "train_size", "label", "seeds", *_FINDING_COLUMNS]))


def diagnosis_table(found: Sequence[Finding]) -> pd.DataFrame:
    """Per downstream dataset and label: the gain pooled over upstreams and models."""
    records = []
    for finding in found:
        if finding.key.startswith("diagnosis:"):
            _, downstream, label = finding.key.split(":", 2)
            records.append(dict(downstream=downstream, label=label,
                                **_finding_columns(finding)))
    return pd.DataFrame(records, columns=["downstream", "label", *_FINDING_COLUMNS])


def convergence_table(groups: Sequence[Comparison]) -> pd.DataFrame:
    """Per pair (one seed): the first epoch each run reaches the other's best selection-split
    score ("never" if it does not, "no curve" without a selection column) and the area under
    each selection curve per epoch over the epochs both runs have."""
    records = []
    for group in groups:
        for ft, sc in zip(group.finetune, group.scratch):
            curves = ft["selection_curve"], sc["selection_curve"]
            areas = (common_area(*curves) if None not in curves else (math.nan, math.nan))
            records.append(dict(
                upstream=group.upstream, downstream=group.downstream, model=group.model,
                train_size=group.train_size, seed=ft["seed"],
                finetune_reaches_scratch_best=first_epoch_reaching(curves[0],
                                                                   best_score(curves[1])),
                scratch_reaches_finetune_best=first_epoch_reaching(curves[1],
                                                                   best_score(curves[0])),
                finetune_area=areas[0], scratch_area=areas[1],
                common_epochs=min(len(ft["curve"]), len(sc["curve"])),
                did_not_learn=Comparison(group.upstream, group.downstream, group.label,
                                         group.train_size, [ft], [sc], [None]).did_not_learn()))
    return _sizes_as_int(pd.DataFrame(records, columns=[
        "upstream", "downstream", "model", "train_size", "seed", "finetune_reaches_scratch_best",
        "scratch_reaches_finetune_best", "finetune_area", "scratch_area", "common_epochs",
        "did_not_learn"]))


def cost_table(groups: Sequence[Comparison]) -> pd.DataFrame:
    """Per comparison on full train splits: the seconds of each run and the break-even."""
    records = [dict(upstream=g.upstream, downstream=g.downstream, model=g.model, **cost_of(g))
               for g in groups if g.train_size is None]
    table = pd.DataFrame(records, columns=[
        "upstream", "downstream", "model", "pretrain_s", "finetune_s", "scratch_s",
        "finetune_epoch_reaching_scratch_best", "seeds_reaching", "saving_s_per_task",
        "break_even_tasks"])
    return table.astype({"break_even_tasks": str,
                         "finetune_epoch_reaching_scratch_best": str})


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A pandas table as a GitHub Markdown table (floats rounded, missing values blank)."""
    def cell(value) -> str:
        if pd.isna(value):
            return ""
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "| " + " | ".join("---" for _ in table.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)




def _sizes_as_int(table: pd.DataFrame) -> pd.DataFrame:
    """Integer train sizes, blank (not NaN floats) for full train splits."""
    table["train_size"] = table["train_size"].astype("Int64")
    return table


def _mean_records(rows: Sequence[dict]) -> float:
    """The mean train record count of runs (the train size where none was recorded)."""
    counts = [r["train_records"] if r["train_records"] is not None else r["train_size"]
              for r in rows]
    counts = [c for c in counts if c is not None]
    return float(np.mean(counts)) if counts else math.nan


def _mean_of(metric: str, rows: Sequence[dict]) -> float:
    """The mean of a user metric over the runs that logged a number (NaN: none did)."""
    values = [r["user_metrics"].get(metric, math.nan) for r in rows]
    finite = [value for value in values if math.isfinite(value)]
    return float(np.mean(finite)) if finite else math.nan
