"""``report.md``, worded from the findings (:mod:`ecg_tl_keras.study.findings`) and the tables.

Example:
    >>> section("Convergence", ["a", "b"])
    ['## Convergence', '', 'a', 'b', '']
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ecg_tl_keras.study.comparisons import BASIS_STAND_IN
from ecg_tl_keras.study.cost import machine_note
from ecg_tl_keras.study.findings import ALPHA, PROCEDURE, Analysis, Finding, seeds_of
from ecg_tl_keras.study.learning import RULE
from ecg_tl_keras.study.stats import SINGLE_SEED_LABEL, Verdict, single_seed_note
from ecg_tl_keras.study.tables import markdown_table

#: The numbered findings, in order: (title, the finding keys' prefix or prefixes).
SECTIONS = (("Fine-tuning vs training from scratch, per downstream dataset", "downstream:"),
            ("Per upstream (pre-training) dataset", ("upstream:", "pretrained:")),
            ("Gain vs downstream train size", "size-trend:"),
            ("Convergence speed", "convergence"),
            ("CNNs vs RNNs", "families:"),
            ("Per diagnosis (label), per downstream dataset", "diagnosis:"),
            ("No-skill baselines", "baselines:"),
            ("What pre-training costs", "cost:"),
            ("Incomplete result files", "incomplete:"))


def section(title: str, lines: Sequence[str]) -> list[str]:
    """A Markdown section: heading, blank line, lines, blank line."""
    return [f"## {title}", "", *lines, ""]


def report_text(study: Path, analysis: Analysis, tables: Mapping[str, pd.DataFrame],
                drawn, out: Path) -> str:
    """The text of ``report.md``: settings, the findings with numbers, figures, tables."""
    rows, groups, found = analysis.rows, analysis.groups, analysis.findings
    select_on = ", ".join(sorted({str(r["select_on"]) for r in rows}))
    seeds = sorted({r["seed"] for r in rows})
    per_comparison = seeds_of(groups)
    lines = [
        "# Transfer learning in ECG diagnosis: study report", "",
        f"From {len(rows) + len(analysis.incomplete)} result files in `{study}` "
        f"({len(analysis.incomplete)} incomplete, left out): {len(groups)} fine-tune vs scratch "
        f"comparisons, seeds {', '.join(map(str, seeds))} ({_seed_counts(per_comparison)} per "
        f"comparison). All scores are test weighted F1; the best epoch of every run was "
        f"selected on the **{select_on}** split.", "",
        *how_to_read(analysis), "",
        "## Findings", ""]
    for number, (title, prefix) in enumerate(SECTIONS, start=1):
        part = [f for f in found if f.key.startswith(prefix)]
        if prefix == "diagnosis:":
            part = _diagnosis_summary(part)
        lines += [f"{number}. **{title}.**"] + [f"   - {_line(f)}" for f in part] + (
            [] if part else ["   - nothing to report in these results."]) + [""]
    named = [f for f in found if f.verdict.names_winner and f.key.startswith(
        ("comparison:", "label:"))]
    lines += [f"{len(SECTIONS) + 1}. **Per comparison and per label.** "
              f"{len(named)} of the per-comparison and per-label findings name a winner after "
              f"the family's adjustment" + (": " + "; ".join(_line(f) for f in named[:20])
                                            if named else "") + (" ..." if len(named) > 20
                                                                 else "."), ""]
    note = single_seed_note(min(per_comparison)) if groups else None
    if note:
        lines += [f"**Seeds.** {note}", ""]
    lines += ["## Figures", ""]
    for figure in drawn:
        png = next(path for path in figure.paths if path.suffix == ".png")
        lines += [f"![{png.stem}]({png.relative_to(out).as_posix()})", "",
                  f"*{figure.caption}*", ""]
    lines += section("Fine-tune minus scratch", [
        f"*Per comparison: {_seed_counts(per_comparison)}; gain = mean paired gain; "
        "ci_low/ci_high: unadjusted 95% interval (ci_method says which); p_holm: adjusted "
        f"across the report's family of {analysis.family_size} tests; verdict: after the "
        "family's adjustment; did_not_learn: a run that did not learn (selection split); "
        "baselines: test weighted F1 of the best constant predictor and of random predictions "
        "at the training prevalence.*", "", markdown_table(tables["transfer_gain"])])
    lines += section("Per-label gains", [
        "*Per downstream dataset and label: fine-tune minus scratch test F1 of that label, "
        "pooled over upstreams and models (model x seed clusters); the per-comparison table "
        "is `tables/per_label_gain.csv`. Verdicts after the family's adjustment.*", "",
        markdown_table(tables["diagnosis_gain"])])
    lines += section("Cost", [
        f"*Mean train_time_s (training epochs only) of the pre-train, the fine-tune and the "
        f"scratch run; the epoch at which the fine-tune reached the scratch run's best "
        f"selection score (median over the seeds that did); break-even: downstream tasks one "
        f"pre-train must serve before it costs less than training each from scratch to the "
        f"same score. {_sentence(machine_note(rows))}.*", "",
        markdown_table(tables["cost"])])
    lines += section("Convergence", [
        "*Per pair (one seed): the first epoch at which each run reaches the other's best "
        "selection-split score (\"never\" if it does not, \"no curve\" without a selection "
        "column), and the mean of each selection curve over the epochs both runs have.*", "",
        markdown_table(tables["convergence"])])
    lines += section("No-skill baselines (test weighted F1)", [
        markdown_table(tables["baselines"]), "",
        "Every cell's scores, baselines, per-label F1 and curves: `tables/` (CSV and "
        "Markdown); every finding: `findings.json`."])
    return "\n".join(lines)


def how_to_read(analysis: Analysis) -> list[str]:
    """The paragraph that says how the numbers were made."""
    stand_in = sum(r["learned_basis"] == BASIS_STAND_IN for r in analysis.rows)
    return [
        "How to read the numbers: a gain is fine-tune minus scratch test weighted F1, paired by "
        "seed (a fine-tune and the scratch run with the same model, train size and seed). With "
        "2 or more seeds its 95% interval is a Student-t interval over the seeds' gains; with 1 "
        f"seed it is a paired bootstrap over test records, marked \"{SINGLE_SEED_LABEL}\", and "
        "no verdict is given. Pooled gains average whole clusters of runs that share a training "
        "run (a model and seed: its pre-train and its scratch run) and take a t-interval over "
        "the clusters; the size sweep's clusters are its seeds (every model of a seed trains on "
        "the same subsample).",
        "",
        f"**One family.** Every finding that could name a winner is one test of a single family "
        f"of {analysis.family_size} tests (pooled, per comparison, per diagnosis and per "
        f"comparison label), adjusted together by {PROCEDURE}: the chance that this report "
        f"names any wrong winner is at most {ALPHA:.0%}. A winner is named only where the "
        "adjusted p-value is below 0.05; the tables keep the unadjusted intervals. With 5 or "
        "more seeds a comparison is also checked without assuming normal gains (exact "
        "sign-flip test from 6 seeds, bootstrap-t at 5); where the two disagree the verdict "
        "is \"not robust\". Gains without measured variation across seeds get no verdict.",
        "",
        f"**Did not learn.** Judged on the selection split, never on test: {RULE}. Pairs in "
        "which both runs did not learn get no verdict; a pooled finding says when leaving out "
        "every pair with a run that did not learn changes its verdict."
        + (f" {stand_in} result files predate the recorded selection-split constant predictor: "
           "for them the test split's constant predictor (label prevalence only) stands in."
           if stand_in else "")]


def _diagnosis_summary(part: Sequence[Finding]) -> list[Finding]:
    """The diagnosis findings that name a winner, then per dataset the diagnoses that do not."""
    named = [f for f in part if f.verdict.names_winner]
    rest = []
    for name in dict.fromkeys(f.key.split(":")[1] for f in part):
        labels = [f.key.split(":", 2)[2] for f in part
                  if f.key.split(":")[1] == name and not f.verdict.names_winner]
        if labels:
            rest.append(Finding(
                f"diagnosis:{name}", f"**{name}**: no clear gain or loss for {len(labels)} "
                f"diagnoses ({', '.join(labels)}); see the per-label table.", math.nan,
                math.nan, math.nan, "", math.nan, math.nan, Verdict.NONE))
    return named + rest


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _line(finding: Finding) -> str:
    return finding.text


def _seed_counts(counts: Sequence[int]) -> str:
    text = " to ".join(map(str, sorted({min(counts), max(counts)})))
    return f"{text} seed{'s' if max(counts) > 1 else ''}"
