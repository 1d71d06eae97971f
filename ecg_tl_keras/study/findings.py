"""The report's findings, machine-readable, every verdict controlled as one family.

:func:`findings` turns the result files into :class:`Finding` objects. Every finding that
can name a winner (per downstream, per upstream, the size trend, convergence, CNNs vs RNNs,
per comparison, per diagnosis and per comparison label) is a test of one family: Holm's
procedure over all of their p-values keeps the chance of naming any wrong winner in a report
at 5% (the family-wise error rate), whatever the dependence between the tests. A finding names
a winner (``positive``/``negative``) only when its Holm-adjusted p-value is below 0.05; a
comparison with 5 or more seeds whose check without normality (:func:`robust_p_value`) is not
below 0.05 is ``not-robust``. Without measured variation, or when both runs of every pair did
not learn, the verdict is ``none`` with the reason in ``text``. Descriptive findings (no-skill
baselines, cost, incomplete cells, which checkpoint a plan's ``pretrained`` upstream was) have
the verdict ``none`` and no p-value. A ``pretrained`` upstream's comparisons are tested like the
study's own pre-trains, in the same family.

Example:
    >>> findings([])
    []
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Sequence

from ecg_tl_keras.study.comparisons import (
    Comparison, Incomplete, baselines_by_dataset, comparisons, read_cells)
from ecg_tl_keras.study.cost import PRETRAINED_ELSEWHERE, cost_of, machine_note
from ecg_tl_keras.study.inference import Hypothesis, collect_tests
from ecg_tl_keras.study.stats import CONFIDENCE, Verdict, holm

ALPHA = 1 - CONFIDENCE
#: The procedure, in words, for the report.
PROCEDURE = "Holm's step-down procedure"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding of a study report.

    Attributes:
        key: a stable id, e.g. ``downstream:ptbxl``, ``comparison:georgia>ptbxl:gru``.
        text: the finding in words, with its numbers.
        estimate, low, high: the estimate and its unadjusted 95% interval (NaN: none).
        method: how the interval was computed.
        p_value: the unadjusted p-value (NaN: not tested).
        p_adjusted: the Holm-adjusted p-value across the report's family (NaN: not tested).
        verdict: ``positive``, ``negative``, ``unclear``, ``single-seed``, ``not-robust`` or
            ``none``.
    """

    key: str
    text: str
    estimate: float
    low: float
    high: float
    method: str
    p_value: float
    p_adjusted: float
    verdict: Verdict

    def to_dict(self) -> dict:
        """JSON-ready: NaN as None, the verdict as its string."""
        data = dataclasses.asdict(self)
        data["verdict"] = self.verdict.value
        return {k: None if isinstance(v, float) and math.isnan(v) else v
                for k, v in data.items()}


@dataclasses.dataclass
class Analysis:
    """Everything the report is written from."""

    rows: list[dict]
    incomplete: list[Incomplete]
    groups: list[Comparison]
    findings: list[Finding]

    @property
    def family_size(self) -> int:
        """How many tests the family's adjustment ran over."""
        return sum(math.isfinite(f.p_adjusted) for f in self.findings)

    def by_key(self) -> dict[str, Finding]:
        """The findings by key."""
        return {finding.key: finding for finding in self.findings}


def findings(results: Sequence[dict], *, study: str | Path | None = None) -> list[Finding]:
    """The findings of a study from its result files.

    Args:
        results: the result-file dicts as ``study report`` reads them (``STUDY/results``).
        study: the study folder the result files' paths are relative to (only a one-seed
            comparison reads its ``predictions_test.npz``, when it exists).
    """
    return analyse(results, study).findings


def analyse(results: Sequence[dict], study: str | Path | None = None) -> Analysis:
    """Rows, comparisons and findings of the result files (see :func:`findings`)."""
    rows, incomplete = read_cells(results, None if study is None else Path(study))
    groups = comparisons(rows)
    tested = adjust(collect_tests(groups))
    described = ([incomplete_finding(item) for item in incomplete]
                 + baseline_findings(rows) + cost_findings(rows, groups)
                 + pretrained_findings(groups))
    return Analysis(rows, incomplete, groups, tested + described)


def adjust(tests: Sequence[Hypothesis]) -> list[Finding]:
    """The family's verdicts: Holm over every finite p-value, then the robustness check."""
    adjusted = holm([test.interval.p_value for test in tests])
    return [_finding(test, p_adjusted) for test, p_adjusted in zip(tests, adjusted)]


def family_verdict(raw: Verdict, estimate: float, p_adjusted: float,
                   robust_p: float = math.nan) -> Verdict:
    """A test's verdict after the family's adjustment (see the module docstring).

    Example:
        >>> family_verdict(Verdict.POSITIVE, 0.02, 0.01).value
        'positive'
        >>> family_verdict(Verdict.POSITIVE, 0.02, 0.2).value
        'unclear'
        >>> family_verdict(Verdict.POSITIVE, 0.02, 0.01, robust_p=0.06).value
        'not-robust'
    """
    if raw in (Verdict.SINGLE_SEED, Verdict.NONE):
        return raw
    if not p_adjusted < ALPHA:
        return Verdict.UNCLEAR
    if math.isfinite(robust_p) and not robust_p < ALPHA:
        return Verdict.NOT_ROBUST
    return Verdict.POSITIVE if estimate > 0 else Verdict.NEGATIVE


def _finding(test: Hypothesis, p_adjusted: float) -> Finding:
    interval = test.interval
    verdict = family_verdict(interval.verdict, interval.estimate, p_adjusted)
    if verdict.names_winner and test.robust is not None:  # checked only where it matters
        robust_p, method = test.robust()
        test.detail = "; ".join(filter(None, [test.detail, f"check without normality: "
                                              f"{method}, p {robust_p:.4f}"]))
        verdict = family_verdict(interval.verdict, interval.estimate, p_adjusted, robust_p)
    return Finding(test.key, _text(test, verdict, p_adjusted), interval.estimate, interval.low,
                   interval.high, interval.method, interval.p_value, p_adjusted, verdict)


def _text(test: Hypothesis, verdict: Verdict, p_adjusted: float) -> str:
    interval = test.interval
    if verdict == Verdict.SINGLE_SEED:
        phrase = "1 seed: no verdict"
    elif verdict == Verdict.NONE:
        phrase = f"no verdict ({test.reason or 'no interval'})"
    elif verdict == Verdict.NOT_ROBUST:
        phrase = (f"not robust: the t-interval says "
                  f"{test.words[interval.verdict]}, a check without normality does not")
    else:
        phrase = test.words[verdict]
    numbers = f"{interval.estimate:+.4f}" if math.isfinite(interval.estimate) else "no estimate"
    if math.isfinite(interval.low):
        numbers += (f" (95% CI {interval.low:+.4f} to {interval.high:+.4f}, "
                    f"{interval.method}")
        numbers += f"; Holm-adjusted p {p_adjusted:.4f})" if math.isfinite(p_adjusted) else ")"
    else:
        numbers += f" ({interval.method})"
    details = [test.detail] + ([test.reason] if test.reason and verdict != Verdict.NONE else [])
    detail = "".join(f"; {d}" for d in details if d)
    return f"{test.subject}: {phrase}: {numbers}{detail}."


def incomplete_finding(item: Incomplete) -> Finding:
    """A result file left out."""
    return Finding(f"incomplete:{item.key}", f"`{item.key}` left out: {item.reason}.",
                   math.nan, math.nan, math.nan, "not analysed", math.nan, math.nan,
                   Verdict.NONE)


def baseline_findings(rows: Sequence[dict]) -> list[Finding]:
    """Per dataset: the no-skill baselines and the runs that do not beat them or did not learn."""
    found = []
    for dataset, (part, constant, random) in baselines_by_dataset(rows).items():
        if not math.isfinite(constant):
            text = (f"**{dataset}**: no baselines in the result files (written without "
                    "predictions_test.npz).")
        else:
            below = [r["key"] for r in part if not r["weighted_f1"] > max(constant, random
                                                                          if math.isfinite(random)
                                                                          else constant)]
            random_text = f"{random:.4f}" if math.isfinite(random) else "unknown"
            text = (f"**{dataset}**: best constant predictor {constant:.4f}, random at training "
                    f"prevalence {random_text} (test weighted F1). " + (
                        f"{len(below)} of {len(part)} runs do not beat them on test: "
                        f"{', '.join(f'`{k}`' for k in below)}." if below
                        else f"All {len(part)} runs beat both on test."))
        stuck = [r["key"] for r in part if r["learned"] is False]
        if stuck:
            text += (f" Did not learn (selection split): {', '.join(f'`{k}`' for k in stuck)}.")
        found.append(Finding(f"baselines:{dataset}", text, constant, math.nan, math.nan,
                             "test weighted F1 of the best constant predictor", math.nan,
                             math.nan, Verdict.NONE))
    return found


def cost_findings(rows: Sequence[dict], groups: Sequence[Comparison]) -> list[Finding]:
    """Per comparison on full train splits: seconds of each run and the break-even."""
    note = machine_note(rows)
    found = []
    for group in (g for g in groups if g.train_size is None):
        cost = cost_of(group)
        tasks = cost["break_even_tasks"]
        pretrain = (f"pre-train {cost['pretrain_s']:.0f} s" if group.preset is None
                    else "pre-trained elsewhere (not timed here)")
        text = (f"{group.model}, {group.upstream} -> {group.downstream}: {pretrain}, "
                f"fine-tune {cost['finetune_s']:.0f} s, scratch "
                f"{cost['scratch_s']:.0f} s (train_time_s, mean over seeds); the fine-tune "
                f"reached the scratch run's best selection score at epoch "
                f"{cost['finetune_epoch_reaching_scratch_best']} ({cost['seeds_reaching']} "
                f"seeds); {_break_even_text(tasks)} ({note}).")
        found.append(Finding(f"cost:{group.key}", text,
                             float(tasks) if isinstance(tasks, int) else math.nan, math.nan,
                             math.nan, "break-even: downstream tasks one pre-train must serve",
                             math.nan, math.nan, Verdict.NONE))
    return found


def pretrained_findings(groups: Sequence[Comparison]) -> list[Finding]:
    """Per checkpoint given as an upstream (a plan's ``pretrained``): which one it was."""
    found = {}
    for group in groups:
        if group.preset is not None:
            found.setdefault(group.upstream, (group.preset, []))[1].append(group)
    return [Finding(
        f"pretrained:{name}",
        f"**{name}** was pre-trained elsewhere: `{preset['path']}` ({preset['model']}, weights "
        f"sha256 `{preset['sha256']}`), fine-tuned vs the same architecture from scratch "
        f"({', '.join(dict.fromkeys(f'{g.model} on {g.downstream}' for g in part))}).",
        math.nan, math.nan, math.nan, "the checkpoint the comparisons fine-tuned", math.nan,
        math.nan, Verdict.NONE) for name, (preset, part) in found.items()]


def _break_even_text(tasks: int | str) -> str:
    if isinstance(tasks, int):
        return f"break-even after {tasks} downstream task{'' if tasks == 1 else 's'}"
    if tasks == PRETRAINED_ELSEWHERE:
        return "no break-even: the checkpoint's pre-training was paid elsewhere"
    return ("no break-even: the fine-tune saves no training time to the scratch run's best "
            "score")


def seeds_of(groups: Sequence[Comparison]) -> list[int]:
    """The number of seeds per comparison."""
    return sorted({len(g.finetune) for g in groups}) or [0]
