"""The study's report, from the result files alone: tables, figures and findings.

``make_report(STUDY, REPORT)`` reads ``STUDY/results/*.json`` (and, for single-seed
intervals, the ``predictions_test.npz`` they name) and writes::

    REPORT/report.md
    REPORT/tables/{cells,baselines,per_label_f1,transfer_gain,convergence}.{csv,md}
    REPORT/figures/fig{2,3,4,5}_*.{png,svg}

Replicates are training runs: a fine-tune and the scratch run on its downstream data with the
same model, train size and seed form a pair, and the gain of a comparison (upstream,
downstream, model, train size) is the mean paired gain over seeds, with a Student-t interval
over seeds (:func:`ecg_tl_keras.study.stats.seed_gain_interval`). With one seed the interval
is a paired bootstrap over test records, labelled "test-sample uncertainty only (1 seed)", and
the verdict is ``single-seed``. Per-comparison verdicts are Holm-adjusted across the report;
pooled summaries count each cluster of runs sharing a training run (a model and seed) once.

Example:
    >>> paths = make_report("study", "report")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['figures', 'report', 'tables']
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ecg_tl_keras.study import figures
from ecg_tl_keras.study.plan import model_family_of
from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.study.stats import (
    CONFIDENCE, SINGLE_SEED_LABEL, Interval, align_predictions, cluster_interval, holm,
    paired_bootstrap_f1_difference, seed_gain_interval, single_seed_note, t_interval,
    two_level_bootstrap_f1_difference, welch_interval)
from ecg_tl_keras.training.config import monitor_mode

#: history.csv column with the test split's weighted F1 after each epoch.
HISTORY_TEST_F1 = "test_weighted_f1"
#: history.csv columns of the selection split's score start with this.
HISTORY_SELECTION_PREFIX = "selection_"
#: A comparison's verdict is a finding when its Holm-adjusted p-value is below this.
ALPHA = 1 - CONFIDENCE
NEVER = "never"
DID_NOT_LEARN = "did not learn"
CLUSTERS = "model x seed clusters"
_VERDICT = {"positive": "fine-tune better", "negative": "scratch better",
            "unclear": "no clear difference", "single-seed": "single seed: no verdict"}


@functools.lru_cache(maxsize=None)
def family_of(model: str) -> str:
    """A backbone's family from its registered spec (``"unknown"`` when not registered here).

    Takes a model name or a cell's label (``lstm[flatten]``, see ``cells.model_label``).

    Example:
        >>> family_of("resnet1d50"), family_of("gru[flatten]"), family_of("transformer1d")
        ('cnn', 'rnn', 'transformer')
        >>> family_of("mystery")
        'unknown'
    """
    try:
        return model_family_of(model.split("[")[0])
    except ValueError:
        return "unknown"


def marker_of(model: str) -> str | None:
    """The figure marker a backbone's spec names (None when it names none or is not registered).

    Example:
        >>> marker_of("resnet1d18"), marker_of("mystery")
        ('o', None)
    """
    from ecg_tl_keras.models import get_backbone_spec

    try:
        return get_backbone_spec(model).marker
    except ValueError:
        return None


def first_epoch_reaching(curve: Sequence[float], target: float) -> int | str:
    """The first epoch (1-based) at which ``curve`` reaches ``target``, else ``"never"``.

    Example:
        >>> first_epoch_reaching([0.2, 0.5, 0.8], 0.5), first_epoch_reaching([0.3] * 9, 0.5)
        (2, 'never')
    """
    values = np.asarray(curve, dtype=float)
    reached = np.flatnonzero(values >= target) if math.isfinite(target) else []
    return int(reached[0]) + 1 if len(reached) else NEVER


def curve_area(curve: Sequence[float]) -> float:
    """Area under a per-epoch score curve per epoch (its mean: 0 to 1 for F1).

    Example:
        >>> curve_area([0.2, 0.4, 0.6])
        0.4
    """
    values = np.asarray(curve, dtype=float)
    values = values[np.isfinite(values)]
    return round(float(values.mean()), 12) if values.size else math.nan


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
    def seeds(self) -> list[int]:
        """The seeds of the pairs."""
        return [ft["seed"] for ft in self.finetune]

    @property
    def clusters(self) -> list[tuple]:
        """Per pair, the runs it shares with other pairs: its model and seed."""
        return [(self.model, seed) for seed in self.seeds]

    def gain_interval(self) -> Interval:
        """Mean gain with its interval: Student-t over seeds, or test records with one seed."""
        if len(self.finetune) >= 2:
            return seed_gain_interval(self.gains)
        finetune, scratch = self.finetune[0], self.scratch[0]
        if finetune["predictions"] is None or scratch["predictions"] is None:
            return Interval(self.gains[0], math.nan, math.nan,
                            f"{SINGLE_SEED_LABEL}: no interval, no predictions_test.npz", seeds=1)
        interval = paired_bootstrap_f1_difference(*_aligned(finetune, scratch))
        return dataclasses.replace(interval, estimate=self.gains[0], seeds=1,
                                   method=f"{SINGLE_SEED_LABEL}: {interval.method}")

    def two_level_interval(self) -> Interval:
        """The two-level bootstrap (seeds, then test records) of the mean gain."""
        if any(r["predictions"] is None for r in self.finetune + self.scratch):
            return Interval(float(np.mean(self.gains)), math.nan, math.nan,
                            "no interval: no predictions_test.npz")
        pairs = [_aligned(ft, sc) for ft, sc in zip(self.finetune, self.scratch)]
        return dataclasses.replace(two_level_bootstrap_f1_difference(pairs),
                                   estimate=float(np.mean(self.gains)))

    def did_not_learn(self) -> str:
        """Which side has a run that did not learn (does not beat the constant predictor)."""
        return _did_not_learn(self.finetune, self.scratch)


def cell_rows(results: Sequence[dict], study: Path) -> list[dict]:
    """One flat dict per result file: the cell's settings, test metrics, curves, baselines."""
    rows = []
    for result in results:
        cell, metrics = result["cell"], result["metrics"]
        curve = [row.get(HISTORY_TEST_F1, math.nan) for row in result["history"]]
        selection_curve = oriented_selection_curve(result)
        predictions = result.get("predictions_test")
        baselines = result.get("baselines") or {}
        weighted = _float(metrics.get("test_weighted_f1"))
        constant, random = _float(baselines.get("constant")), _float(baselines.get("random"))
        rows.append(dict(
            key=cell["key"], kind=cell["kind"], roles="+".join(cell["roles"]),
            upstream=cell["upstream"], dataset=cell["dataset"],
            model=cell.get("label", cell["model"]),  # names a variant: lstm[flatten]
            family=family_of(cell["model"]), seed=cell["seed"], train_size=cell["train_size"],
            train_records=(metrics.get("records") or {}).get("train"),
            select_on=cell["select_on"], weighted_f1=weighted,
            macro_f1=_float(metrics.get("test_macro_f1")),
            macro_auc=_float(metrics.get("test_macro_auc")),
            baseline_constant=constant, baseline_random=random,
            learned=_learned(weighted, constant),
            best_epoch=metrics.get("best_epoch"), epochs_trained=len(curve),
            selection_area=curve_area(selection_curve), curve=curve,
            selection_curve=selection_curve,
            per_label_f1=dict(metrics.get("per_label_f1") or {}),
            per_label_constant=dict(baselines.get("constant_per_label") or {}),
            predictions=None if predictions is None else study / predictions))
    return rows


def comparisons(rows: Sequence[dict]) -> list[Comparison]:
    """Pair each fine-tune cell with the scratch cell on the same data, model, size and seed."""
    scratch = {(r["dataset"], r["model"], r["train_size"], r["seed"]): r
               for r in rows if r["kind"] == "scratch"}
    groups: dict[tuple, Comparison] = {}
    for row in sorted(rows, key=lambda r: r["seed"]):
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
    """Every cell's test scores beside its dataset's no-skill baselines, and its curve area."""
    columns = ["key", "kind", "roles", "upstream", "dataset", "model", "family", "seed",
               "train_size", "train_records", "select_on", "weighted_f1", "macro_f1", "macro_auc",
               "baseline_constant", "baseline_random", "learned", "best_epoch", "epochs_trained",
               "selection_area"]
    records = [{c: r[c] for c in columns} for r in rows]
    for record in records:
        record["learned"] = _learned_text(record["learned"])
    return _sizes_as_int(pd.DataFrame(records, columns=columns))


def baselines_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Per dataset: the test weighted F1 of the no-skill baselines and how many runs beat them."""
    records = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        part = [r for r in rows if r["dataset"] == dataset]
        constant = _first_finite(r["baseline_constant"] for r in part)
        random = _first_finite(r["baseline_random"] for r in part)
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
                              baseline_constant=_float(r["per_label_constant"].get(label)))
                         for r in rows for label, f1 in r["per_label_f1"].items()],
                        columns=["key", "dataset", "label", "f1", "baseline_constant"])


def gain_table(groups: Sequence[Comparison], two_level: bool = False) -> pd.DataFrame:
    """Fine-tune minus scratch weighted F1 per comparison with its unadjusted interval, its
    p-value, the Holm-adjusted p-value across all comparisons and the adjusted verdict."""
    intervals = [group.gain_interval() for group in groups]
    adjusted = holm([interval.p_value for interval in intervals])
    records = []
    for group, interval, p_holm in zip(groups, intervals, adjusted):
        record = dict(
            upstream=group.upstream, downstream=group.downstream, model=group.model,
            family=family_of(group.model), train_size=group.train_size,
            seeds=len(group.finetune),
            scratch_f1=np.mean([r["weighted_f1"] for r in group.scratch]),
            finetune_f1=np.mean([r["weighted_f1"] for r in group.finetune]),
            baseline_constant=group.finetune[0]["baseline_constant"],
            baseline_random=group.finetune[0]["baseline_random"],
            gain=interval.estimate, ci_low=interval.low, ci_high=interval.high,
            ci_method=interval.method, p_value=interval.p_value, p_holm=p_holm,
            verdict=_VERDICT[_adjusted_verdict(interval, p_holm)],
            did_not_learn=group.did_not_learn())
        if two_level:
            both = group.two_level_interval()
            record.update(ci2_low=both.low, ci2_high=both.high, ci2_method=both.method)
        records.append(record)
    columns = _GAIN_COLUMNS + (["ci2_low", "ci2_high", "ci2_method"] if two_level else [])
    return _sizes_as_int(pd.DataFrame(records, columns=columns))


_GAIN_COLUMNS = ["upstream", "downstream", "model", "family", "train_size", "seeds", "scratch_f1",
                 "finetune_f1", "baseline_constant", "baseline_random", "gain", "ci_low",
                 "ci_high", "ci_method", "p_value", "p_holm", "verdict", "did_not_learn"]


def convergence_table(groups: Sequence[Comparison]) -> pd.DataFrame:
    """Per pair (one seed): the first epoch each run reaches the other's best selection-split
    score ("never" if it does not), the area under each selection curve per epoch (scores
    oriented so that higher is better: a monitored loss is negated), and which run did not
    learn (its model does not beat the best constant predictor on test)."""
    records = []
    for group in groups:
        for finetune, scratch in zip(group.finetune, group.scratch):
            records.append(dict(
                upstream=group.upstream, downstream=group.downstream, model=group.model,
                train_size=group.train_size, seed=finetune["seed"],
                finetune_reaches_scratch_best=first_epoch_reaching(
                    finetune["selection_curve"], _nanmax(scratch["selection_curve"])),
                scratch_reaches_finetune_best=first_epoch_reaching(
                    scratch["selection_curve"], _nanmax(finetune["selection_curve"])),
                finetune_area=finetune["selection_area"], scratch_area=scratch["selection_area"],
                baseline_constant=finetune["baseline_constant"],
                did_not_learn=_did_not_learn([finetune], [scratch])))
    return _sizes_as_int(pd.DataFrame(records, columns=[
        "upstream", "downstream", "model", "train_size", "seed", "finetune_reaches_scratch_best",
        "scratch_reaches_finetune_best", "finetune_area", "scratch_area", "baseline_constant",
        "did_not_learn"]))


def make_report(study: str | Path, out: str | Path, log=print, *,
                fig5_models: Sequence[str] | None = None, two_level: bool = False
                ) -> dict[str, Path]:
    """Write the tables, figures and ``report.md`` of a study folder.

    Args:
        study: the ``--out`` folder of ``study run`` (holds ``results/``).
        out: the report folder to write.
        log: where progress lines go.
        fig5_models: the models to draw Fig 5 for (default ResNet1d18, else the first model).
        two_level: add a two-level bootstrap interval (seeds, then test records) to every
            comparison (``ci2_*`` columns); verdicts stay with the t-interval.

    Returns:
        ``{"report": report.md, "tables": folder, "figures": folder}``.

    Raises:
        ValueError: no result files in ``study``, or a Fig 5 model without fine-tunes.
    """
    study, out = Path(study), Path(out)
    results = load_results(study)
    rows = cell_rows(results, study)
    groups = comparisons(rows)
    log(f"report: {len(rows)} cells, {len(groups)} fine-tune vs scratch comparisons")
    tables = dict(cells=cells_table(rows), baselines=baselines_table(rows),
                  per_label_f1=per_label_table(rows),
                  transfer_gain=gain_table(groups, two_level),
                  convergence=convergence_table(groups))
    table_dir = out / "tables"
    table_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(table_dir / f"{name}.csv", index=False)
        (table_dir / f"{name}.md").write_text(markdown_table(table) + "\n")
    log(f"report: tables in {table_dir}")
    drawn = figures.draw_all(rows, tables["transfer_gain"], out / "figures",
                             fig5_models=fig5_models, family=family_of, marker=marker_of)
    log(f"report: {len(drawn)} figures in {out / 'figures'}")
    report = out / "report.md"
    report.write_text(report_text(study, rows, groups, tables, drawn, out))
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


def report_text(study: Path, rows, groups, tables, drawn, out: Path) -> str:
    """The text of ``report.md``: settings, the findings with numbers, figures, tables."""
    full = [g for g in groups if g.train_size is None]
    gains = tables["transfer_gain"]
    select_on = ", ".join(sorted({str(r["select_on"]) for r in rows}))
    seeds = sorted({r["seed"] for r in rows})
    per_comparison = sorted({len(g.finetune) for g in groups})
    tested = int(gains["p_value"].notna().sum())
    lines = [
        "# Transfer learning in ECG diagnosis: study report", "",
        f"From {len(rows)} result files in `{study}`: {len(groups)} fine-tune vs scratch "
        f"comparisons, seeds {', '.join(map(str, seeds))} "
        f"({_seed_counts_text(per_comparison)} per comparison). All scores are test weighted "
        f"F1; the best epoch of every run was selected on the **{select_on}** split.", "",
        "How to read the numbers: a gain is fine-tune minus scratch test weighted F1, paired by "
        "seed (a fine-tune and the scratch run with the same model, train size and seed). With "
        "2 or more seeds its 95% interval is a Student-t interval over the seeds' gains; with 1 "
        f"seed it is a paired bootstrap over test records, marked \"{SINGLE_SEED_LABEL}\", and "
        "no verdict is given: one training run per side says nothing about training "
        "randomness. Per-comparison verdicts are Holm-adjusted across the "
        f"{tested} comparisons with 2 or more seeds (the table shows the unadjusted interval, "
        "its p-value and the adjusted one). Pooled gains average whole clusters of runs that "
        "share a training run (a model and seed: its pre-train and its scratch run) and take a "
        "t-interval over the clusters. A winner is named only where the interval excludes 0 "
        "after these corrections.", "",
        "## Findings", "",
        "1. **Fine-tuning vs training from scratch, per downstream dataset.**",
        *_finding_pooled(full, "downstream", gains), "",
        "2. **Per upstream (pre-training) dataset.**",
        *_finding_pooled(full, "upstream", gains), "",
        "3. **Gain vs downstream train size.**", *_finding_dataset_size(full),
        *_finding_size([g for g in groups if g.train_size is not None]), "",
        "4. **Convergence speed.**", *_finding_convergence(full, tables["convergence"]), "",
        "5. **CNNs vs RNNs.**", *_finding_families(full), "",
        "6. **No-skill baselines.**", *_finding_baselines(rows, tables["baselines"]), "",
    ]
    note = single_seed_note(min(per_comparison)) if per_comparison else None
    if note:
        lines += [f"**Seeds.** {note}", ""]
    lines += ["## Figures", ""]
    for figure in drawn:
        png = next(path for path in figure.paths if path.suffix == ".png")
        lines += [f"![{png.stem}]({png.relative_to(out).as_posix()})", "",
                  f"*{figure.caption}*", ""]
    lines += [
        "## Fine-tune minus scratch", "",
        f"*Per comparison: {_seed_counts_text(per_comparison)}; gain = mean paired gain; "
        "ci_low/ci_high: unadjusted 95% interval (ci_method says which: t-interval over seeds, "
        f"or \"{SINGLE_SEED_LABEL}\"); p_holm: Holm-adjusted p-value across the {tested} "
        "comparisons with 2 or more seeds; verdict: after Holm; did_not_learn: a run whose "
        "model does not beat the best constant predictor; baselines: test weighted F1 of the "
        "best constant predictor and of random predictions at the training prevalence.*", "",
        markdown_table(gains), "",
        "## Convergence", "",
        "*Per pair (one seed): the first epoch at which each run reaches the other's best "
        "selection-split weighted F1 (\"never\" if it does not), and the area under each "
        "selection curve per epoch (its mean). Pairs with a run that did not learn are left out "
        "of the convergence finding.*", "",
        markdown_table(tables["convergence"]), "",
        "## No-skill baselines (test weighted F1)", "",
        markdown_table(tables["baselines"]), "",
        "Every cell's scores, baselines, per-label F1 and curves: `tables/` (CSV and Markdown).",
        ""]
    return "\n".join(lines)


def _interval_text(interval: Interval) -> str:
    if math.isnan(interval.low):
        return f"{interval.estimate:+.4f} ({interval.method})"
    return (f"{interval.estimate:+.4f} (95% CI {interval.low:+.4f} to {interval.high:+.4f}, "
            f"{interval.method})")


def _finding_pooled(full: Sequence[Comparison], by: str, gains: pd.DataFrame) -> list[str]:
    """Pooled gain per downstream (or upstream) dataset over model x seed clusters."""
    if not full:
        return ["   - no fine-tune cells on full train splits in these results."]
    table = gains[gains["train_size"].isna()]
    verdicts = {id(g): table[(table["upstream"] == g.upstream)
                             & (table["downstream"] == g.downstream)
                             & (table["model"] == g.model)]["verdict"].iloc[0] for g in full}
    lines = []
    for name in dict.fromkeys(getattr(g, by) for g in full):
        part = [g for g in full if getattr(g, by) == name]
        pooled = _pooled(part, lambda g: g.gains)
        other = "upstream" if by == "downstream" else "downstream"
        counts = pd.Series([verdicts[id(g)] for g in part]).value_counts()
        per_pair = ", ".join(f"{text} in {counts.get(text, 0)}" for text in _VERDICT.values()
                             if counts.get(text, 0))
        lines.append(
            f"   - **{name}**: {_pooled_words(pooled)}; mean gain over the {len(part)} "
            f"{other} x model comparisons {_interval_text(pooled)}. Per comparison (Holm): "
            f"{per_pair}.")
    return lines


def _pooled_words(interval: Interval) -> str:
    return {"positive": "fine-tuning beats training from scratch",
            "negative": "training from scratch beats fine-tuning",
            "unclear": "no clear difference between fine-tuning and training from scratch",
            "single-seed": "1 seed: no verdict on fine-tuning vs training from scratch"
            }[interval.verdict]


def _pooled(groups: Sequence[Comparison], values) -> Interval:
    """Mean of per-pair ``values(group)`` with a t-interval over model x seed clusters."""
    data = [(value, cluster) for g in groups for value, cluster in zip(values(g), g.clusters)
            if math.isfinite(value)]
    if not data:
        return Interval(math.nan, math.nan, math.nan, "no interval: no values")
    interval = cluster_interval([v for v, _ in data], [c for _, c in data], what=CLUSTERS)
    return dataclasses.replace(interval, seeds=len({seed for _, (_, seed) in data}))


def _finding_dataset_size(full: Sequence[Comparison]) -> list[str]:
    """Mean gain per downstream dataset, smallest train split first."""
    by_dataset: dict[str, list[Comparison]] = {}
    for group in full:
        by_dataset.setdefault(group.downstream, []).append(group)
    if not by_dataset:
        return []
    records = {name: [r["train_records"] for g in part for r in g.finetune
                      if r["train_records"] is not None] for name, part in by_dataset.items()}
    ordered = sorted(by_dataset, key=lambda n: np.mean(records[n]) if records[n] else np.inf)
    points = ", ".join(f"{name} ({_records_text(records[name])}): "
                       f"{np.mean([x for g in by_dataset[name] for x in g.gains]):+.4f}"
                       for name in ordered)
    return [f"   - Mean gain per downstream dataset, by train records (intervals in finding "
            f"1): {points}."]


def _records_text(records: list) -> str:
    return f"{int(np.mean(records))} train records" if records else "train records unknown"


def _finding_size(sweep: Sequence[Comparison]) -> list[str]:
    if not sweep:
        return ["   - no size-sweep cells in these results."]
    lines = []
    series: dict[tuple, list[Comparison]] = {}
    for group in sweep:
        series.setdefault((group.upstream, group.downstream, group.model), []).append(group)
    for (up, down, model), part in series.items():
        part = sorted(part, key=lambda g: g.train_size)
        points = ", ".join(f"{g.train_size}: {np.mean(g.gains):+.4f}" for g in part)
        lines.append(f"   - {model}, {up} -> {down}, mean gain by train size: {points}.")
    sizes = {g.train_size for g in sweep}
    if len(sizes) < 3:
        lines.append(f"   - only {len(sizes)} train sizes: too few to call a trend.")
        return lines
    # One Spearman rho per series and seed (its points share the pre-train), then a
    # t-interval over those clusters.
    rhos, seeds = [], set()
    for part in series.values():
        for seed in sorted({s for g in part for s in g.seeds}):
            points = [(g.train_size, gain) for g in part for s, gain in zip(g.seeds, g.gains)
                      if s == seed]
            if len(points) >= 3:
                rhos.append(scipy_stats.spearmanr(*zip(*points))[0])
                seeds.add(seed)
    rhos = [rho for rho in rhos if math.isfinite(rho)]
    if not rhos:
        lines.append("   - no series with 3 or more sizes and varying gains: no trend to call.")
        return lines
    interval = dataclasses.replace(t_interval(rhos, what=f"{len(rhos)} model x seed series"),
                                   seeds=len(seeds))
    trend = {"negative": "the gain shrinks as the train set grows",
             "positive": "the gain grows with the train set",
             "unclear": "no clear trend with train size",
             "single-seed": "1 seed: no verdict on a trend with train size"}[interval.verdict]
    lines.append(f"   - {trend}: mean Spearman rho of gain vs train size "
                 f"{_interval_text(interval)}.")
    return lines


def _finding_convergence(full: Sequence[Comparison], table: pd.DataFrame) -> list[str]:
    part = table[table["train_size"].isna()]
    if part.empty:
        return ["   - no fine-tune cells on full train splits in these results."]
    learned = part[part["did_not_learn"] == ""]
    excluded = len(part) - len(learned)
    lines = []
    if excluded:
        lines.append(f"   - {excluded} of {len(part)} pairs left out: a run did not learn "
                     "(its model does not beat the best constant predictor).")
    if learned.empty:
        return lines + ["   - no pair where both runs learned: no convergence claim."]
    for column, who, whose in (("finetune_reaches_scratch_best", "fine-tuned runs", "scratch"),
                               ("scratch_reaches_finetune_best", "runs from scratch",
                                "fine-tuned")):
        epochs = [e for e in learned[column] if e != NEVER]
        median = (f" (median epoch {np.median(np.asarray(epochs, dtype=float)):g})"
                  if epochs else "")
        lines.append(f"   - {who} reach their {whose} partner's best selection-split score "
                     f"in {len(epochs)} of {len(learned)} pairs{median}; never in "
                     f"{len(learned) - len(epochs)}.")
    kept = {(r.upstream, r.downstream, r.model, r.seed) for r in learned.itertuples()}
    interval = _pooled(full, lambda g: [
        ft["selection_area"] - sc["selection_area"]
        if (g.upstream, g.downstream, g.model, ft["seed"]) in kept else math.nan
        for ft, sc in zip(g.finetune, g.scratch)])
    verdict = {"positive": "fine-tuned runs learn faster (higher selection curves)",
               "negative": "runs from scratch learn faster (higher selection curves)",
               "unclear": "no clear difference in learning speed",
               "single-seed": "1 seed: no verdict on learning speed"}[interval.verdict]
    lines.append(f"   - {verdict}: fine-tune minus scratch area under the selection curve per "
                 f"epoch {_interval_text(interval)}.")
    return lines


def _finding_families(full: Sequence[Comparison]) -> list[str]:
    """CNN vs RNN gains on the same upstream/downstream pairs, clusters as the units."""
    pairs = {family: {(g.upstream, g.downstream) for g in full if family_of(g.model) == family}
             for family in ("cnn", "rnn")}
    common = pairs["cnn"] & pairs["rnn"]
    if not common:
        present = [family.upper() for family, found in pairs.items() if found]
        return [f"   - only {', '.join(present) or 'no'} models on the same upstream/downstream "
                "pairs: nothing to compare."]
    values: dict[str, dict[tuple, list[float]]] = {"cnn": {}, "rnn": {}}
    for group in full:
        family = family_of(group.model)
        if family in values and (group.upstream, group.downstream) in common:
            for gain, cluster in zip(group.gains, group.clusters):
                values[family].setdefault(cluster, []).append(gain)
    cnn = [np.mean(v) for v in values["cnn"].values()]
    rnn = [np.mean(v) for v in values["rnn"].values()]
    seeds = {seed for family in values.values() for _, seed in family}
    interval = dataclasses.replace(welch_interval(cnn, rnn, what=CLUSTERS), seeds=len(seeds))
    verdict = {"positive": "CNNs gain more from fine-tuning than RNNs",
               "negative": "RNNs gain more from fine-tuning than CNNs",
               "unclear": "no clear difference between the gains of CNNs and RNNs",
               "single-seed": "1 seed: no verdict on CNNs vs RNNs"}
    return [f"   - {verdict[interval.verdict]}: on the same "
            f"{_count(len(common), 'upstream/downstream pair')}, mean gain "
            f"{np.mean(cnn):+.4f} for CNNs ({_count(len(cnn), 'cluster')}) vs "
            f"{np.mean(rnn):+.4f} for RNNs ({_count(len(rnn), 'cluster')}); CNN minus RNN "
            f"{_interval_text(interval)}."]


def _finding_baselines(rows: Sequence[dict], table: pd.DataFrame) -> list[str]:
    lines = []
    for record in table.itertuples():
        part = [r for r in rows if r["dataset"] == record.dataset]
        if not math.isfinite(record.baseline_constant):
            lines.append(f"   - **{record.dataset}**: no baselines in the result files "
                         "(written without predictions_test.npz).")
            continue
        random = ("unknown (no train label counts)" if not math.isfinite(record.baseline_random)
                  else f"{record.baseline_random:.4f}")
        text = (f"   - **{record.dataset}**: best constant predictor "
                f"{record.baseline_constant:.4f}, random at training prevalence {random}. ")
        below = [r["key"] for r in part if not r["weighted_f1"] > record.baseline_constant]
        if math.isfinite(record.baseline_random):
            below += [r["key"] for r in part if not r["weighted_f1"] > record.baseline_random
                      and r["key"] not in below]
        stuck = [r["key"] for r in part if r["learned"] is False]
        if below:
            text += (f"{len(below)} of {len(part)} runs do not beat them: "
                     f"{', '.join(f'`{key}`' for key in below)}. ")
        else:
            text += f"All {len(part)} runs beat both. "
        if stuck:
            text += (f"{DID_NOT_LEARN.capitalize()} (not above the constant predictor): "
                     f"{', '.join(f'`{key}`' for key in stuck)}.")
        lines.append(text.rstrip())
    return lines


def _did_not_learn(finetunes: Sequence[dict], scratches: Sequence[dict]) -> str:
    """Which side has a run that did not learn."""
    finetune = any(r["learned"] is False for r in finetunes)
    scratch = any(r["learned"] is False for r in scratches)
    return {(True, True): "both", (True, False): "fine-tune",
            (False, True): "scratch"}.get((finetune, scratch), "")


def _adjusted_verdict(interval: Interval, p_holm: float) -> str:
    verdict = interval.verdict
    if verdict in ("positive", "negative") and not p_holm < ALPHA:
        return "unclear"
    return verdict


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _seed_counts_text(counts: Sequence[int]) -> str:
    if not counts:
        return "no seeds"
    text = " to ".join(map(str, sorted({min(counts), max(counts)})))
    return f"{text} seed{'s' if max(counts) > 1 else ''}"


def oriented_selection_curve(result: dict) -> list[float]:
    """The run's per-epoch selection-split score, oriented so that higher is better (a
    monitored loss is negated), so that "best" and "reaches" mean the same for any monitor.

    Example:
        >>> oriented_selection_curve({"metrics": {"selection_metric": "val_loss"},
        ...                           "history": [{"val_loss": 0.9}, {"val_loss": 0.5}]})
        [-0.9, -0.5]
    """
    selection = _selection_column(result)
    sign = -1.0 if selection is not None and monitor_mode(selection) == "min" else 1.0
    return [sign * row.get(selection, math.nan) for row in result["history"]]


def _selection_column(result: dict) -> str | None:
    named = (result.get("metrics") or {}).get("selection_metric")
    columns = result["history"][0].keys() if result["history"] else ()
    if named in columns:
        return named
    return next((c for c in columns if c.startswith(HISTORY_SELECTION_PREFIX)), None)


def _learned(score: float, constant: float) -> bool | None:
    """Whether a run's model (its selected epoch) beats the best constant predictor on test.

    A run that never beats it, and any model whose output is constant, did not learn (no
    constant prediction scores above "every label present"). None: no baseline known.
    """
    if not (math.isfinite(constant) and math.isfinite(score)):
        return None
    return bool(score > constant + 1e-9)


def _learned_text(learned: bool | None) -> str:
    return "" if learned is None else "yes" if learned else DID_NOT_LEARN


def _aligned(finetune: dict, scratch: dict):
    with np.load(finetune["predictions"], allow_pickle=False) as a, \
            np.load(scratch["predictions"], allow_pickle=False) as b:
        return align_predictions(dict(a), dict(b))


def _nanmax(values: Sequence[float]) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.nanmax(values)) if np.isfinite(values).any() else math.nan


def _first_finite(values) -> float:
    return next((v for v in values if math.isfinite(v)), math.nan)


def _sizes_as_int(table: pd.DataFrame) -> pd.DataFrame:
    """Integer train sizes, blank (not NaN floats) for full train splits."""
    table["train_size"] = table["train_size"].astype("Int64")
    return table


def _float(value) -> float:
    return math.nan if value is None else float(value)
