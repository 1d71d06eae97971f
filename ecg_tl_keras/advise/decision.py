"""What ``advise`` recommends: only from runs that learned, with the linear probe as one answer.

Whether a run learned is the study's rule (:data:`ecg_tl_keras.study.learning.RULE`), judged
on the selection split (the validation fold), never on test. The answers compared are the
paths a user can take from the advice, each scored by its selection-split weighted F1:

* fine-tuning a checkpoint (its seeds' mean), training its backbone from scratch (same), and
* a linear probe on a checkpoint's frozen features.

A run that did not learn is never the basis of a recommendation: the fine-tune vs scratch gain
is measured over the seeds whose two runs both learned, and a path none of whose runs learned is
named as such, with what to change. When the best probe that learned beats every fine-tune
and scratch path on the selection split, the advice says so first.

Example:
    >>> runs = {"seeds": [0, 1], "finetune_val_f1": [0.40, 0.41], "finetune_learned": [False,
    ...         False], "scratch_val_f1": [0.30, 0.31], "scratch_learned": [False, False],
    ...         "scratch_model": "gru", "compared_seeds": [], "interval": None}
    >>> advice = {"candidates": [{"name": "A", "compatible": True, "rank": 1, "scores": {}}],
    ...           "finetune": {"A": runs}, "baselines": {"constant_val_f1": 0.54},
    ...           "budget": {"train_records": 130, "batch_size": 256, "epochs": 5, "lr": 0.01,
    ...                      "given": ["batch_size", "epochs"]}}
    >>> recommendation(advice)[:46]
    'Neither run learned with these settings (batch'
"""

from __future__ import annotations

from ecg_tl_keras.advise.budget import MIN_STEPS_PER_EPOCH, MIN_TOTAL_STEPS, Budget, fit_budget
from ecg_tl_keras.advise.baselines import comparison_text as baseline_finding
from ecg_tl_keras.advise.report import gain_text
from ecg_tl_keras.study.learning import AUC_MARGIN
from ecg_tl_keras.study.stats import Verdict

#: The recommendation for each verdict of the gain (:class:`~ecg_tl_keras.study.stats.Verdict`,
#: the study report's vocabulary): ``{best}`` is the candidate, ``{gain}`` the gain with its
#: interval, ``{wording}`` the verdict's wording.
VERDICT_TEXT = {
    Verdict.POSITIVE: "Start from {best}: {gain}.",
    Verdict.NEGATIVE: "Pre-training hurts here: {best} {gain}. Train from scratch.",
    Verdict.UNCLEAR: "No evidence that pre-training helps here ({best}: {gain}); train from "
                     "scratch.",
    Verdict.SINGLE_SEED: "{best} measured {gain}: one seed gives no interval, so this is no "
                         "evidence either way; rerun with --seeds 3 or more.",
    Verdict.NOT_ROBUST: "{best} measured {gain}: {wording}, so no winner is named; rerun with "
                        "more seeds.",
    Verdict.NONE: "{best} measured {gain}: {wording} (the gain did not vary across seeds, so "
                  "its uncertainty is unmeasured); rerun with more seeds.",
}


def _mean(values) -> float:
    return sum(values) / len(values)


def learned_mean(result: dict, role: str) -> float | None:
    """Mean selection-split weighted F1 of the ``role`` (``finetune``/``scratch``) runs that
    learned; None when none did.

    Example:
        >>> learned_mean({"finetune_val_f1": [0.6, 0.2], "finetune_learned": [True, False]},
        ...              "finetune")
        0.6
    """
    kept = [f1 for f1, ok in zip(result[f"{role}_val_f1"], result[f"{role}_learned"]) if ok]
    return _mean(kept) if kept else None


def _paths(advice: dict) -> list[tuple[str, dict, str]]:
    """``(label, result, role)`` of every fine-tune and scratch path, scratch once per backbone."""
    paths, scratch_seen = [], set()
    for name, result in advice["finetune"].items():
        paths.append((f"fine-tuning {name}", result, "finetune"))
        for scratch in (result, result.get("reference")):
            if scratch is not None and scratch["scratch_model"] not in scratch_seen:
                scratch_seen.add(scratch["scratch_model"])
                paths.append((f"training {scratch['scratch_model']} from scratch", scratch,
                              "scratch"))
    return paths


def not_learned(advice: dict) -> list[str]:
    """One line per run of stage finetune that did not learn, with its selection-split scores.

    Example:
        >>> not_learned({"finetune": {"A": {"seeds": [0, 1], "finetune_val_f1": [0.4, 0.7],
        ...     "finetune_val_auc": [0.5, 0.8], "finetune_learned": [False, True],
        ...     "scratch_val_f1": [0.6, 0.6], "scratch_val_auc": [0.7, 0.7],
        ...     "scratch_learned": [True, True], "scratch_model": "gru"}}})
        ['fine-tuning A, seed 0: weighted F1 0.400, macro AUC 0.500']
    """
    lines = []
    for label, result, role in _paths(advice):
        for seed, f1, auc, ok in zip(result["seeds"], result[f"{role}_val_f1"],
                                     result[f"{role}_val_auc"], result[f"{role}_learned"]):
            if not ok:
                lines.append(f"{label}, seed {seed}: weighted F1 {f1:.3f}, macro AUC "
                             f"{'n/a' if auc is None else format(auc, '.3f')}")
    return lines


def best_probe(advice: dict) -> dict | None:
    """The pre-trained candidate whose linear probe learned, with the best selection-split
    weighted F1; None when no probe ran or none learned (baselines are not answers)."""
    probes = [c for c in advice["candidates"] if c["compatible"] and c.get("kind") != "baseline"
              and c["scores"].get("probe_learned")]
    return max(probes, key=lambda c: c["scores"]["probe_val_f1"]) if probes else None


def changes(budget: Budget) -> str:
    """What to change when runs did not learn with ``budget``.

    Example:
        >>> changes(fit_budget(130, batch_size=256, epochs=5))[:56]
        'To change: leave out --batch-size 256 (the budget rule t'
    """
    texts = []
    if "batch_size" in budget.given and (budget.steps_per_epoch < MIN_STEPS_PER_EPOCH
                                         or budget.total_steps < MIN_TOTAL_STEPS):
        fitted = fit_budget(budget.train_records, epochs=budget.epochs)
        texts.append(f"leave out --batch-size {budget.batch_size} (the budget rule takes "
                     f"batch {fitted.batch_size} here: {fitted.steps_per_epoch} steps per epoch "
                     f"instead of {budget.steps_per_epoch})")
    texts.append(f"give more optimizer steps (--epochs {2 * budget.epochs})")
    texts.append(f"try a smaller learning rate (--lr {budget.lr / 10:.2g})")
    return "To change: " + "; ".join(texts) + "."


def _budget(advice: dict) -> Budget:
    return Budget.from_json(advice["budget"])


def _neither(advice: dict) -> str:
    constant = advice["baselines"]["constant_val_f1"]
    names = " and ".join(label for label, _, _ in _paths(advice))
    budget = _budget(advice)
    return (f"Neither run learned with these settings ({budget.short()}): {names} stay at or "
            f"below the best constant predictor on the selection split (weighted F1 "
            f"{constant:.3f}) without a macro AUC above {0.5 + AUC_MARGIN:.2f}. Nothing is "
            f"recommended from them. {changes(budget)}")


def _only_some_paths(advice: dict) -> str:
    """Some path learned, but no seed has a fine-tune and a scratch run that both did."""
    means = [(label, learned_mean(result, role)) for label, result, role in _paths(advice)]
    failed = " and ".join(label for label, value in means if value is None)
    label, value = max(((lb, v) for lb, v in means if v is not None), key=lambda item: item[1])
    text = ("No seed has a fine-tune and a scratch run that both learned, so no gain over "
            "scratch is measured.")
    if failed:
        text += (f" {_sentence(failed)} did not learn with these settings "
                 f"({_budget(advice).short()}); {label} did")
    else:
        text += f" {_sentence(label)} learned best"
    constant = advice["baselines"]["constant_val_f1"]
    return (f"{text} (selection-split weighted F1 {value:.3f} over its runs that learned, best "
            f"constant predictor {constant:.3f}). {changes(_budget(advice))}")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _comparison(advice: dict) -> str:
    """The fine-tune vs scratch answer, from runs that learned only."""
    results = advice["finetune"]
    compared = {name: r for name, r in results.items() if r["compared_seeds"]}
    if compared:
        best = max(compared, key=lambda name: learned_mean(compared[name], "finetune"))
        result = compared[best]
        verdict = Verdict(result["interval"]["verdict"])
        text = VERDICT_TEXT[verdict].format(
            best=best, gain=gain_text(result["interval"], len(result["compared_seeds"])),
            wording=verdict.wording)
        left_out = [seed for seed in result["seeds"] if seed not in result["compared_seeds"]]
        if left_out:
            text += (f" Seed{'s' * (len(left_out) > 1)} {', '.join(map(str, left_out))} left "
                     f"out: a run did not learn (listed below).")
        return text + _reference_text(best, result)
    if not any(learned_mean(r, role) is not None for _, r, role in _paths(advice)):
        return _neither(advice)
    return _only_some_paths(advice)


def _reference_text(name: str, result: dict) -> str:
    """A preset's second comparison: its fine-tune against the study's backbone from scratch."""
    reference = result.get("reference")
    if reference is None:
        return ""
    if reference["interval"] is None:
        return (f" Against {reference['scratch_model']} from scratch: no seed has both runs "
                f"learned, so no gain is measured.")
    verdict = Verdict(reference["interval"]["verdict"])
    gain = gain_text(reference["interval"], len(reference["compared_seeds"]))
    model = reference["scratch_model"]
    wording = verdict.wording.replace("scratch", f"{model} from scratch")
    return (f" Against {model} from scratch, fine-tuning {name} measured "
            f"{gain.replace('over scratch', 'over it')} ({wording}).")


def _probe_text(advice: dict, probe: dict) -> str | None:
    """The probe's answer when it beats every fine-tune and scratch path on the selection
    split (each path's mean over its seeds)."""
    name, value = probe["name"], probe["scores"]["probe_val_f1"]
    scores = {label: _mean(result[f"{role}_val_f1"]) for label, result, role in _paths(advice)}
    if not all(value > score for score in scores.values()):
        return None
    beaten = ", ".join(f"{label} {score:.3f}" for label, score in scores.items())
    data = advice["data"]
    return (f"A linear probe on {name}'s frozen features beats both fine-tuning and training "
            f"from scratch on the selection split (weighted F1 {value:.3f}; {beaten}; "
            f"{data['val_records']} records, no interval): train a linear head on {name} "
            f"(`ecg-tl-keras train --data {data['path']} --model {probe['model']} --out "
            f"runs/probe-{name} --finetune-from {probe['path']} "
            f"--finetune linear`).")


def recommendation(advice: dict) -> str:
    """The advice's recommendation in plain words (see the module docstring)."""
    ranked = sorted((c for c in advice["candidates"] if c["compatible"]
                     and c.get("kind") != "baseline"), key=lambda c: c["rank"])
    if not ranked:
        return "No candidate checkpoint can read this data (see the list of incompatible ones)."
    if not advice["finetune"]:
        first = ranked[0]["name"]
        against = next((baseline_finding(c) for c in advice.get("baseline_comparisons", ())
                        if c["candidate"] == first), None)
        return (f"{first} ranks first among the pre-trained candidates by "
                f"{advice['ranked_by']}." + (f" {against}" if against else "") +
                " This is a ranking, not a measured gain: run `--last-stage finetune` to learn "
                "whether starting from it beats training from scratch.")
    comparison = _comparison(advice)
    probe = best_probe(advice)
    probe_text = _probe_text(advice, probe) if probe is not None else None
    return comparison if probe_text is None else f"{probe_text} Fine-tune vs scratch: {comparison}"
