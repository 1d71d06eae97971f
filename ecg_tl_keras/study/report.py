"""The study's report, from the result files alone: tables, figures and findings.

``make_report(STUDY, REPORT)`` reads ``STUDY/results/*.json`` (and, for single-seed
intervals, the ``predictions_test.npz`` they point to) and writes::

    REPORT/report.md
    REPORT/tables/{cells,per_label_f1,transfer_gain,convergence}.{csv,md}
    REPORT/figures/fig{2,3,4,5}_*.{png,svg}

Fine-tune minus scratch is compared per (upstream, downstream, model, train size), pairing
the cells by seed. The 95% interval is a bootstrap over the seeds' differences with two or
more seeds, else a paired bootstrap over test records of the two cells' predictions.

Example:
    >>> paths = make_report("study", "report")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['figures', 'report', 'tables']
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ecg_tl_keras.study import figures
from ecg_tl_keras.study.cells import model_family
from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.study.stats import (
    Interval, align_predictions, bootstrap_mean_ci, bootstrap_mean_difference_ci,
    paired_bootstrap_f1_difference)

#: history.csv column with the test split's weighted F1 after each epoch.
HISTORY_TEST_F1 = "test_weighted_f1"
#: Share of the best F1 that counts as converged.
CONVERGED_SHARE = 0.95


def epochs_to_share_of_best(curve: Sequence[float], share: float = CONVERGED_SHARE) -> float:
    """The number of epochs after which ``curve`` first reaches ``share`` of its best value.

    Example:
        >>> epochs_to_share_of_best([0.2, 0.5, 0.78, 0.8])
        3.0
    """
    values = np.asarray(curve, dtype=float)
    if values.size == 0 or not np.isfinite(values).any():
        return math.nan
    return float(np.argmax(values >= share * np.nanmax(values)) + 1)


@dataclasses.dataclass
class Comparison:
    """Fine-tune vs scratch for one (upstream, downstream, model, train size), paired by seed."""

    upstream: str
    downstream: str
    model: str
    train_size: int | None
    finetune: list[dict]
    scratch: list[dict]

    @property
    def gains(self) -> list[float]:
        """Fine-tune minus scratch test weighted F1, per seed."""
        return [ft["weighted_f1"] - sc["weighted_f1"]
                for ft, sc in zip(self.finetune, self.scratch)]

    @property
    def epoch_differences(self) -> list[float]:
        """Fine-tune minus scratch epochs to 95% of the best F1, per seed."""
        return [ft["epochs_to_95"] - sc["epochs_to_95"]
                for ft, sc in zip(self.finetune, self.scratch)]

    def gain_interval(self) -> Interval:
        """Mean gain with its 95% bootstrap interval (over seeds, or over test records)."""
        if len(self.finetune) >= 2:
            return bootstrap_mean_ci(self.gains)
        finetune, scratch = self.finetune[0], self.scratch[0]
        if finetune["predictions"] is None or scratch["predictions"] is None:
            return Interval(self.gains[0], math.nan, math.nan,
                            "no interval: no predictions_test.npz")
        with np.load(finetune["predictions"], allow_pickle=False) as a, \
                np.load(scratch["predictions"], allow_pickle=False) as b:
            y_true, prob_ft, prob_sc = align_predictions(dict(a), dict(b))
        return dataclasses.replace(paired_bootstrap_f1_difference(y_true, prob_ft, prob_sc),
                                   estimate=self.gains[0])


def cell_rows(results: Sequence[dict], study: Path) -> list[dict]:
    """One flat dict per result file: the cell's settings and its test metrics."""
    rows = []
    for result in results:
        cell, metrics = result["cell"], result["metrics"]
        curve = [row.get(HISTORY_TEST_F1, math.nan) for row in result["history"]]
        predictions = result.get("predictions_test")
        rows.append(dict(
            key=cell["key"], kind=cell["kind"], roles="+".join(cell["roles"]),
            upstream=cell["upstream"], dataset=cell["dataset"],
            model=cell.get("label", cell["model"]),  # names a variant: lstm[flatten]
            family=model_family(cell["model"]), seed=cell["seed"], train_size=cell["train_size"],
            train_records=(metrics.get("records") or {}).get("train"),
            select_on=cell["select_on"], weighted_f1=_float(metrics.get("test_weighted_f1")),
            macro_f1=_float(metrics.get("test_macro_f1")),
            macro_auc=_float(metrics.get("test_macro_auc")),
            best_epoch=metrics.get("best_epoch"), epochs_trained=len(curve),
            epochs_to_95=epochs_to_share_of_best(curve), curve=curve,
            per_label_f1=dict(metrics.get("per_label_f1") or {}),
            predictions=None if predictions is None else study / predictions))
    return rows


def comparisons(rows: Sequence[dict]) -> list[Comparison]:
    """Pair each fine-tune cell with the scratch cell on the same data, model, size and seed."""
    scratch = {(r["dataset"], r["model"], r["train_size"], r["seed"]): r
               for r in rows if r["kind"] == "scratch"}
    groups: dict[tuple, Comparison] = {}
    for row in rows:
        match = scratch.get((row["dataset"], row["model"], row["train_size"], row["seed"]))
        if row["kind"] != "finetune" or match is None:
            continue
        key = (row["upstream"], row["dataset"], row["model"], row["train_size"])
        group = groups.setdefault(key, Comparison(*key, finetune=[], scratch=[]))
        group.finetune.append(row)
        group.scratch.append(match)
    return sorted(groups.values(), key=lambda g: (g.upstream, g.downstream, g.train_size or 0,
                                                  figures.model_rank(g.model)))


def cells_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Every cell's test weighted F1, macro F1, macro AUC and convergence."""
    columns = ["key", "kind", "roles", "upstream", "dataset", "model", "family", "seed",
               "train_size", "train_records", "select_on", "weighted_f1", "macro_f1", "macro_auc",
               "best_epoch",
               "epochs_trained", "epochs_to_95"]
    return _sizes_as_int(pd.DataFrame([{c: r[c] for c in columns} for r in rows], columns=columns))


def per_label_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Every cell's test F1 per label (long format)."""
    return pd.DataFrame([dict(key=r["key"], dataset=r["dataset"], label=label, f1=f1)
                         for r in rows for label, f1 in r["per_label_f1"].items()],
                        columns=["key", "dataset", "label", "f1"])


def gain_table(groups: Sequence[Comparison]) -> pd.DataFrame:
    """Fine-tune minus scratch weighted F1 per comparison, with its 95% interval."""
    records = []
    for group in groups:
        interval = group.gain_interval()
        records.append(dict(
            upstream=group.upstream, downstream=group.downstream, model=group.model,
            family=model_family(group.model), train_size=group.train_size,
            seeds=len(group.finetune),
            scratch_f1=np.mean([r["weighted_f1"] for r in group.scratch]),
            finetune_f1=np.mean([r["weighted_f1"] for r in group.finetune]),
            gain=interval.estimate,
            ci_low=interval.low, ci_high=interval.high, ci_method=interval.method,
            verdict=_VERDICT[interval.verdict]))
    return _sizes_as_int(pd.DataFrame(records, columns=_GAIN_COLUMNS))


_GAIN_COLUMNS = ["upstream", "downstream", "model", "family", "train_size", "seeds", "scratch_f1",
                 "finetune_f1", "gain", "ci_low", "ci_high", "ci_method", "verdict"]
_VERDICT = {"positive": "fine-tune better", "negative": "scratch better",
            "unclear": "no clear difference"}


def convergence_table(groups: Sequence[Comparison]) -> pd.DataFrame:
    """Epochs to reach 95% of the best test weighted F1, scratch vs fine-tune (mean over seeds)."""
    return _sizes_as_int(pd.DataFrame([dict(
        upstream=g.upstream, downstream=g.downstream, model=g.model, train_size=g.train_size,
        seeds=len(g.finetune),
        scratch_epochs_to_95=np.mean([r["epochs_to_95"] for r in g.scratch]),
        finetune_epochs_to_95=np.mean([r["epochs_to_95"] for r in g.finetune]),
        difference=np.mean(g.epoch_differences)) for g in groups],
        columns=["upstream", "downstream", "model", "train_size", "seeds",
                 "scratch_epochs_to_95", "finetune_epochs_to_95", "difference"]))


def make_report(study: str | Path, out: str | Path, log=print) -> dict[str, Path]:
    """Write the tables, figures and ``report.md`` of a study folder.

    Args:
        study: the ``--out`` folder of ``study run`` (holds ``results/``).
        out: the report folder to write.
        log: where progress lines go.

    Returns:
        ``{"report": report.md, "tables": folder, "figures": folder}``.

    Raises:
        ValueError: no result files in ``study``.
    """
    study, out = Path(study), Path(out)
    results = load_results(study)
    rows = cell_rows(results, study)
    groups = comparisons(rows)
    log(f"report: {len(rows)} cells, {len(groups)} fine-tune vs scratch comparisons")
    tables = dict(cells=cells_table(rows), per_label_f1=per_label_table(rows),
                  transfer_gain=gain_table(groups), convergence=convergence_table(groups))
    table_dir = out / "tables"
    table_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(table_dir / f"{name}.csv", index=False)
        (table_dir / f"{name}.md").write_text(markdown_table(table) + "\n")
    log(f"report: tables in {table_dir}")
    figure_paths = figures.draw_all(rows, tables["transfer_gain"], out / "figures")
    log(f"report: {len(figure_paths)} figures in {out / 'figures'}")
    report = out / "report.md"
    report.write_text(report_text(study, rows, groups, tables, figure_paths, out))
    log(f"report: {report}")
    return {"report": report, "tables": table_dir, "figures": out / "figures"}


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A pandas table as a GitHub Markdown table (floats rounded, missing values blank).

    Example:
        >>> print(markdown_table(pd.DataFrame({"a": [1.23456], "b": [None]})))
        | a | b |
        | --- | --- |
        | 1.2346 |  |
    """
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


# ---------------------------------------------------------------- findings


def report_text(study: Path, rows, groups, tables, figure_paths, out: Path) -> str:
    """The text of ``report.md``: settings, the four findings with numbers, figures, tables."""
    full = [g for g in groups if g.train_size is None]
    gains = tables["transfer_gain"]
    select_on = ", ".join(sorted({str(r["select_on"]) for r in rows}))
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "# Transfer learning in ECG diagnosis: study report", "",
        f"From {len(rows)} result files in `{study}`: {len(groups)} fine-tune vs scratch "
        f"comparisons, seeds {', '.join(map(str, seeds))}. All scores are on each dataset's test "
        f"split; the best epoch of every run was selected on the **{select_on}** split. "
        "Gains are fine-tune minus scratch weighted F1 with 95% bootstrap intervals "
        "(over seeds with 2 or more seeds, else a paired bootstrap over test records); "
        "\"beats\" is said only where the interval excludes 0.", "",
        "## Findings", "",
        "1. **Fine-tuning vs training from scratch, per downstream dataset.**",
        *_finding_per_downstream(full, gains), "",
        "2. **Gain vs downstream train size.**", *_finding_dataset_size(full),
        *_finding_size(gains), "",
        "3. **Convergence speed.**", *_finding_convergence(full), "",
        "4. **CNNs vs RNNs.**", *_finding_families(full), "",
        "## Figures", "",
    ]
    lines += [f"![{path.stem}]({path.relative_to(out).as_posix()})" for path in figure_paths
              if path.suffix == ".png"]
    lines += ["", "## Fine-tune minus scratch", "", markdown_table(gains), "",
              "## Convergence (epochs to 95% of the best test weighted F1)", "",
              markdown_table(tables["convergence"]), "",
              "Every cell's scores, per-label F1 and convergence: `tables/` (CSV and Markdown).",
              ""]
    return "\n".join(lines)


def _interval_text(interval: Interval) -> str:
    if math.isnan(interval.low):
        return f"{interval.estimate:+.4f} (no interval: {interval.method})"
    return f"{interval.estimate:+.4f} (95% CI {interval.low:+.4f} to {interval.high:+.4f})"


def _finding_per_downstream(full: Sequence[Comparison], gains: pd.DataFrame) -> list[str]:
    if not full:
        return ["   - no fine-tune cells on full train splits in these results."]
    table = gains[gains["train_size"].isna()]
    lines = []
    for downstream, part in table.groupby("downstream", sort=False):
        pooled = _pooled(part)
        counts = part["verdict"].value_counts()
        verdict = {"positive": "fine-tuning beats training from scratch",
                   "negative": "training from scratch beats fine-tuning",
                   "unclear": "no clear difference between fine-tuning and training from scratch"}
        lines.append(
            f"   - **{downstream}**: {verdict[pooled.verdict]}; mean gain over the "
            f"{len(part)} upstream x model pairs {_interval_text(pooled)}. Per pair: fine-tune "
            f"better in {counts.get('fine-tune better', 0)}, scratch better in "
            f"{counts.get('scratch better', 0)}, no clear difference in "
            f"{counts.get('no clear difference', 0)}.")
    return lines


def _finding_dataset_size(full: Sequence[Comparison]) -> list[str]:
    """Mean gain per downstream dataset, smallest train split first."""
    by_dataset: dict[str, tuple[list, list]] = {}
    for group in full:
        records, gains = by_dataset.setdefault(group.downstream, ([], []))
        records += [r["train_records"] for r in group.finetune if r["train_records"] is not None]
        gains += group.gains
    if not by_dataset:
        return []
    ordered = sorted(by_dataset.items(),
                     key=lambda item: np.mean(item[1][0]) if item[1][0] else np.inf)
    points = ", ".join(f"{name} ({_records_text(records)}): {np.mean(gains):+.4f}"
                       for name, (records, gains) in ordered)
    return [f"   - Mean gain per downstream dataset, by train records: {points}."]


def _records_text(records: list) -> str:
    return f"{int(np.mean(records))} train records" if records else "train records unknown"


def _finding_size(gains: pd.DataFrame) -> list[str]:
    sweep = gains[gains["train_size"].notna()]
    if sweep.empty:
        return ["   - no size-sweep cells in these results."]
    sizes = sweep["train_size"].astype(float)
    lines = []
    for (up, down, model), part in sweep.groupby(["upstream", "downstream", "model"], sort=False):
        part = part.sort_values("train_size")
        points = ", ".join(f"{int(n)}: {g:+.4f}" for n, g in zip(part["train_size"], part["gain"]))
        lines.append(f"   - {model}, {up} -> {down}, gain by train size: {points}.")
    if sizes.nunique() < 3:
        lines.append(f"   - only {sizes.nunique()} train sizes: too few to call a trend.")
        return lines
    rho, p_value = scipy_stats.spearmanr(sizes, sweep["gain"])
    trend = ("no clear trend with train size" if not p_value < 0.05
             else "the gain shrinks as the train set grows" if rho < 0
             else "the gain grows with the train set")
    lines.append(f"   - Over all points: {trend} (Spearman rho {rho:+.2f}, p = {p_value:.3f}, "
                 f"n = {len(sweep)}).")
    return lines


def _finding_convergence(full: Sequence[Comparison]) -> list[str]:
    differences = [d for g in full for d in g.epoch_differences if not math.isnan(d)]
    if not differences:
        return ["   - no fine-tune cells on full train splits in these results."]
    interval = bootstrap_mean_ci(differences)
    scratch = np.nanmean([r["epochs_to_95"] for g in full for r in g.scratch])
    finetune = np.nanmean([r["epochs_to_95"] for g in full for r in g.finetune])
    verdict = {"negative": "fine-tuned models converge faster",
               "positive": "models trained from scratch converge faster",
               "unclear": "no clear difference in convergence speed"}[interval.verdict]
    return [f"   - {verdict}: {finetune:.1f} epochs on average to reach 95% of their best test "
            f"weighted F1 when fine-tuned vs {scratch:.1f} from scratch; difference per run "
            f"{_interval_text(interval)} epochs over {len(differences)} pairs."]


def _finding_families(full: Sequence[Comparison]) -> list[str]:
    gains = {family: [gain for g in full if model_family(g.model) == family for gain in g.gains]
             for family in ("CNN", "RNN")}
    if not gains["CNN"] or not gains["RNN"]:
        present = [family for family, values in gains.items() if values]
        return [f"   - only {', '.join(present) or 'no'} models in the comparisons: "
                "nothing to compare."]
    interval = bootstrap_mean_difference_ci(gains["CNN"], gains["RNN"])
    verdict = {"positive": "CNNs gain more from fine-tuning than RNNs",
               "negative": "RNNs gain more from fine-tuning than CNNs",
               "unclear": "no clear difference between the gains of CNNs and RNNs"}
    return [f"   - {verdict[interval.verdict]}: mean gain {np.mean(gains['CNN']):+.4f} for CNNs "
            f"(n = {len(gains['CNN'])}) vs {np.mean(gains['RNN']):+.4f} for RNNs "
            f"(n = {len(gains['RNN'])}); CNN minus RNN {_interval_text(interval)}."]


def _pooled(part: pd.DataFrame) -> Interval:
    """The mean gain of several comparisons, bootstrapped over them (one: its own interval)."""
    if len(part) == 1:
        row = part.iloc[0]
        return Interval(row["gain"], row["ci_low"], row["ci_high"], row["ci_method"])
    return bootstrap_mean_ci(part["gain"].tolist())


def _sizes_as_int(table: pd.DataFrame) -> pd.DataFrame:
    """Integer train sizes, blank (not NaN floats) for full train splits."""
    table["train_size"] = table["train_size"].astype("Int64")
    return table


def _float(value) -> float:
    return math.nan if value is None else float(value)
