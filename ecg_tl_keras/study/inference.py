"""Every test the report makes, before the family's multiplicity adjustment.

Each :class:`Hypothesis` is one test: an interval with its p-value and the words of each
verdict. The units resampled follow the study's design: the seeds of a comparison; for pooled
gains (per downstream, per upstream, per diagnosis, convergence, CNNs vs RNNs) the cluster of
runs that share a training run, i.e. a model and seed (its pre-train and its scratch run); for
the size sweep the seed alone (every model trains on the same subsample of a seed).

Example:
    >>> tests = collect_tests([])
    >>> tests
    []
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
from scipy import stats as scipy_stats

from ecg_tl_keras.study.comparisons import Comparison
from ecg_tl_keras.study.curves import common_area
from ecg_tl_keras.study.stats import (
    MIN_SEEDS_ROBUST, SINGLE_SEED_LABEL, Interval, Verdict, align_predictions, cluster_interval,
    paired_bootstrap_f1_difference, robust_p_value, seed_gain_interval, t_interval,
    welch_interval)

CLUSTERS = "model x seed clusters"
#: Words of a gain's verdicts: fine-tune minus scratch.
GAIN_WORDS = {Verdict.POSITIVE: "fine-tuning beats training from scratch",
              Verdict.NEGATIVE: "training from scratch beats fine-tuning",
              Verdict.UNCLEAR: "no clear difference between fine-tuning and training from "
                               "scratch"}


@dataclasses.dataclass
class Hypothesis:
    """One interval of the report's family, with how to word it.

    Attributes:
        key: the finding's stable key.
        subject: what it is about, in words.
        interval: the unadjusted interval and p-value.
        words: a phrase per verdict that names a winner or none (positive, negative, unclear).
        detail: more words for the text (counts, sensitivity).
        robust: computes ``(p-value, method)`` of a check without normality, run only for a
            test that names a winner (None: no check).
        reason: why there is no verdict (with verdict ``none``).
    """

    key: str
    subject: str
    interval: Interval
    words: dict
    detail: str = ""
    robust: Callable[[], tuple[float, str]] | None = None
    reason: str = ""


def collect_tests(groups: Sequence[Comparison]) -> list[Hypothesis]:
    """The pooled tests, then per comparison, then per diagnosis and per comparison label."""
    full = [g for g in groups if g.train_size is None]
    sweep = [g for g in groups if g.train_size is not None]
    tests = [pooled_test(f"downstream:{name}", f"**{name}** (downstream)",
                         [g for g in full if g.downstream == name])
             for name in dict.fromkeys(g.downstream for g in full)]
    tests += [pooled_test(f"upstream:{name}", f"**{name}** (upstream)",
                          [g for g in full if g.upstream == name])
              for name in dict.fromkeys(g.upstream for g in full)]
    for series in dict.fromkeys((g.upstream, g.downstream) for g in sweep):
        tests.append(size_trend_test(series, [g for g in sweep
                                              if (g.upstream, g.downstream) == series]))
    if full:
        tests.append(convergence_test(full))
        tests.append(family_test(full))
    tests += [comparison_test(group) for group in groups]
    labels = list(dict.fromkeys(label for g in full for r in g.finetune
                                for label in r["per_label_f1"]))
    for name in dict.fromkeys(g.downstream for g in full):
        part = [g for g in full if g.downstream == name]
        tests += [pooled_test(f"diagnosis:{name}:{label}", f"**{label}** on {name}", part,
                              lambda ft, sc, label=label: _label_gain(ft, sc, label))
                  for label in labels if _has_label(part, label)]
    for group in groups:
        for label in group.finetune[0]["per_label_f1"]:
            gains = [_label_gain(ft, sc, label) for ft, sc in group.pairs()]
            tests.append(_seed_test(f"label:{group.key}:{label}",
                                    f"{label}, {group.model} {group.upstream} -> "
                                    f"{group.downstream}", [g for g in gains
                                                            if math.isfinite(g)], group))
    return tests


def comparison_test(group: Comparison) -> Hypothesis:
    """One comparison's gain over its seeds (test records with one seed), with the check
    without normality from 5 seeds."""
    size = "" if group.train_size is None else f", {group.train_size} train records"
    test = _seed_test(f"comparison:{group.key}", f"{group.model}, {group.upstream} -> "
                      f"{group.downstream}{size}", group.gains(), group)
    gains = group.gains()
    if not gains:  # both runs of every pair did not learn: the gain, described, no interval
        test.interval = dataclasses.replace(
            test.interval, estimate=float(np.mean(group.gains(leave_out="none"))))
    if len(gains) == 1:
        test.interval = single_seed_interval(group)
    if len(gains) >= MIN_SEEDS_ROBUST and math.isfinite(test.interval.p_value):
        test.robust = lambda: robust_p_value(gains)
    return test


def single_seed_interval(group: Comparison) -> Interval:
    """One pair: a paired bootstrap over test records when both prediction files exist
    (test-sample uncertainty only; the verdict stays ``single-seed``)."""
    (finetune, scratch), = group.pairs()
    gain = finetune["weighted_f1"] - scratch["weighted_f1"]
    paths = (finetune["predictions"], scratch["predictions"])
    if any(path is None or not path.is_file() for path in paths):
        return Interval(gain, math.nan, math.nan,
                        f"{SINGLE_SEED_LABEL}: no interval, no predictions_test.npz", seeds=1)
    interval = paired_bootstrap_f1_difference(*aligned_predictions(*paths))
    return dataclasses.replace(interval, estimate=gain, seeds=1,
                               method=f"{SINGLE_SEED_LABEL}: {interval.method}")


def aligned_predictions(first, second):
    """Two ``predictions_test.npz`` files matched by record (see ``align_predictions``)."""
    with np.load(first, allow_pickle=False) as a, np.load(second, allow_pickle=False) as b:
        return align_predictions(dict(a), dict(b))


def _seed_test(key: str, subject: str, gains: list[float], group: Comparison) -> Hypothesis:
    interval = seed_gain_interval(gains) if gains else Interval(
        math.nan, math.nan, math.nan, "no interval: no pair")
    reason = ""
    left_out = len(group.finetune) - len(group.pairs())
    if left_out:
        reason = f"both runs did not learn in {left_out} of {len(group.finetune)} seeds"
    if interval.verdict == Verdict.NONE:
        reason = reason or interval.method.removeprefix("no interval: ")
    return Hypothesis(key, subject, interval, GAIN_WORDS, reason=reason)


def pooled_test(key: str, subject: str, part: Sequence[Comparison],
                value: Callable[[dict, dict], float] | None = None) -> Hypothesis:
    """Mean of per-pair values over model x seed clusters; says when leaving out the pairs
    with a run that did not learn changes the verdict."""
    value = value or (lambda ft, sc: ft["weighted_f1"] - sc["weighted_f1"])
    interval = _clustered(part, value, "both")
    detail = f"over the {len(part)} upstream/downstream x model comparisons"
    learned_only = _clustered(part, value, "any")
    if learned_only.verdict != interval.verdict:
        detail += (f"; without the pairs with a run that did not learn: "
                   f"{learned_only.verdict.value} ({_short(learned_only)})")
    return Hypothesis(key, subject, interval, GAIN_WORDS, detail=detail,
                reason=_no_verdict_reason(interval))


def _clustered(part: Sequence[Comparison], value, leave_out: str) -> Interval:
    data = [(value(ft, sc), (g.model, ft["seed"])) for g in part
            for ft, sc in g.pairs(leave_out)]
    data = [(v, c) for v, c in data if math.isfinite(v)]
    if not data:
        return Interval(math.nan, math.nan, math.nan, "no interval: no pair")
    interval = cluster_interval([v for v, _ in data], [c for _, c in data], what=CLUSTERS)
    return dataclasses.replace(interval, seeds=len({seed for _, (_, seed) in data}))


def size_trend_test(series: tuple[str, str], part: Sequence[Comparison]) -> Hypothesis:
    """Spearman rho of gain vs train size per model and seed, averaged per seed (the seed's
    subsample is shared by every model), t-interval over seeds."""
    up, down = series
    sizes = sorted({g.train_size for g in part})
    subject = f"gain vs train size, {up} -> {down}"
    words = {Verdict.POSITIVE: "the gain grows with the train set",
             Verdict.NEGATIVE: "the gain shrinks as the train set grows",
             Verdict.UNCLEAR: "no clear trend with train size"}
    means = {size: [x for g in part if g.train_size == size for x in g.gains()] for size in sizes}
    points = ", ".join(f"{size}: {np.mean(gains) if gains else math.nan:+.4f}"
                       for size, gains in means.items())
    detail = f"mean gain by train size {points}"
    if len(sizes) < 3:
        count = f"{len(sizes)} size-sweep train size{'' if len(sizes) == 1 else 's'}"
        return Hypothesis(f"size-trend:{up}>{down}", subject, Interval(
            math.nan, math.nan, math.nan, f"no interval: only {count}"), words, detail=detail,
            reason=f"only {count}: too few for a trend, which needs 3 (the full train "
                   f"split is not counted)")
    per_seed: dict[int, list[float]] = {}
    for label in dict.fromkeys(g.label for g in part):
        for seed in sorted({s for g in part for s in g.seeds}):
            found = [(g.train_size, ft["weighted_f1"] - sc["weighted_f1"]) for g in part
                     if g.label == label for ft, sc in g.pairs() if ft["seed"] == seed]
            if len(found) >= 3:
                rho = scipy_stats.spearmanr(*zip(*found))[0]
                if math.isfinite(rho):
                    per_seed.setdefault(seed, []).append(rho)
    means = [float(np.mean(v)) for v in per_seed.values()]
    interval = dataclasses.replace(
        t_interval(means, what=f"{len(means)} seeds (mean Spearman rho over models per seed)"),
        seeds=len(means))
    return Hypothesis(f"size-trend:{up}>{down}", subject, interval, words, detail=detail,
                reason=_no_verdict_reason(interval))


def convergence_test(full: Sequence[Comparison]) -> Hypothesis:
    """Fine-tune minus scratch area under the selection curve per epoch, over the epochs both
    runs have, for the pairs in which both learned and both have a curve; model x seed
    clusters."""
    values, clusters, no_curve = [], [], 0
    for group in full:
        for ft, sc in group.pairs("any"):
            if ft["selection_curve"] is None or sc["selection_curve"] is None:
                no_curve += 1
                continue
            a, b = common_area(ft["selection_curve"], sc["selection_curve"])
            if math.isfinite(a - b):
                values.append(a - b)
                clusters.append((group.model, ft["seed"]))
    words = {Verdict.POSITIVE: "fine-tuned runs learn faster (higher selection curves)",
             Verdict.NEGATIVE: "runs from scratch learn faster (higher selection curves)",
             Verdict.UNCLEAR: "no clear difference in learning speed"}
    pairs = sum(len(g.finetune) for g in full)
    detail = (f"{len(values)} of {pairs} pairs in which both runs learned and have a selection "
              f"curve" + (f" ({no_curve} without a curve: no curve)" if no_curve else "")
              + "; areas over the epochs both runs have")
    if not values:
        interval = Interval(math.nan, math.nan, math.nan,
                            "no interval: no pair where both runs learned")
    else:
        interval = dataclasses.replace(cluster_interval(values, clusters, what=CLUSTERS),
                                       seeds=len({s for _, s in clusters}))
    return Hypothesis("convergence", "convergence speed", interval, words, detail=detail,
                reason=_no_verdict_reason(interval))


def family_test(full: Sequence[Comparison]) -> Hypothesis:
    """CNN minus RNN gain on the upstream/downstream pairs both families have: Welch over
    model x seed clusters (about these models), with a model-level random-effects check."""
    pairs = {f: {(g.upstream, g.downstream) for g in full if g.finetune[0]["family"] == f}
             for f in ("cnn", "rnn")}
    common = pairs["cnn"] & pairs["rnn"]
    clusters: dict[str, dict[tuple, list[float]]] = {"cnn": {}, "rnn": {}}
    for g in full:
        family = g.finetune[0]["family"]
        if family in clusters and (g.upstream, g.downstream) in common:
            for ft, sc in g.pairs():
                clusters[family].setdefault((g.model, ft["seed"]), []).append(
                    ft["weighted_f1"] - sc["weighted_f1"])
    if not common:
        present = [f.upper() for f, found in pairs.items() if found] or ["no"]
        reason = f"only {' and '.join(present)} models on the upstream/downstream pairs"
        return Hypothesis("families:cnn-rnn", "CNNs vs RNNs", Interval(
            math.nan, math.nan, math.nan, "no interval: nothing to compare"), {}, reason=reason)
    models = {f: list(dict.fromkeys(m for m, _ in c)) for f, c in clusters.items()}
    named = {f: f"these {len(models[f])} {f.upper()}s ({', '.join(models[f])})"
             for f in clusters}
    words = {Verdict.POSITIVE: f"{named['cnn']} gained more than {named['rnn']}",
             Verdict.NEGATIVE: f"{named['rnn']} gained more than {named['cnn']}",
             Verdict.UNCLEAR: f"no clear difference between {named['cnn']} and {named['rnn']}"}
    means = {f: {k: float(np.mean(v)) for k, v in c.items()} for f, c in clusters.items()}
    interval = welch_interval(list(means["cnn"].values()), list(means["rnn"].values()),
                              what=CLUSTERS)
    seeds = {s for c in means.values() for _, s in c}
    interval = dataclasses.replace(interval, seeds=len(seeds))
    per_model = {f: [np.mean([v for (m, _), v in means[f].items() if m == model])
                     for model in models[f]] for f in means}
    random_effects = welch_interval(per_model["cnn"], per_model["rnn"], what="model means")
    agrees = ("agrees" if random_effects.verdict == interval.verdict
              else "does not agree")
    detail = (f"on the {len(common)} upstream/downstream pairs both families have; a "
              f"model-level (random-effects) interval, which treats the models as drawn from "
              f"their families, {agrees}: {_short(random_effects)}, "
              f"{random_effects.verdict.value}")
    return Hypothesis("families:cnn-rnn", "CNNs vs RNNs", interval, words, detail=detail,
                reason=_no_verdict_reason(interval))


def _label_gain(ft: dict, sc: dict, label: str) -> float:
    a, b = ft["per_label_f1"].get(label), sc["per_label_f1"].get(label)
    return math.nan if a is None or b is None else float(a) - float(b)


def _has_label(part: Sequence[Comparison], label: str) -> bool:
    return any(label in r["per_label_f1"] for g in part for r in g.finetune)


def _no_verdict_reason(interval: Interval) -> str:
    if interval.verdict == Verdict.NONE:
        return interval.method.removeprefix("no interval: ")
    return ""


def _short(interval: Interval) -> str:
    if not math.isfinite(interval.low):
        return f"{interval.estimate:+.4f}, {interval.method}"
    return f"{interval.estimate:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"
