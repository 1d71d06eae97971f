"""``ADVICE/advice.md``, ``advice.json`` and ``advice.png``: rewritten after every stage.

Each file is written to a temporary name and renamed (:mod:`tfrecords_builder.files`, the
project's one atomic write), so a reader never sees half a file, and an interrupted
``advise`` leaves the last finished stage's advice.

Example:
>>> from ecg_tl_keras.advise.report import gain_text
>>> gain_text({"estimate": 0.04, "low": 0.01, "high": 0.07, "verdict": "positive"}, 3)
'+0.040 weighted F1 [+0.010, +0.070] over scratch, 3 seeds'
"""

from __future__ import annotations

import math
from pathlib import Path

from ecg_tl_keras.advise.budget import Budget
from ecg_tl_keras.study.stats import Verdict
from tfrecords_builder.files import write_atomic, write_json_atomic, write_text_atomic

ADVICE_MD, ADVICE_JSON, ADVICE_FIGURE = "advice.md", "advice.json", "advice.png"

#: score key -> (column title, higher is better)
SCORES = {
    "melep": ("MELEP (lower better)", False),
    "logme": ("LogME", True),
    "probe_val_f1": ("probe val wF1", True),
    "probe_test_f1": ("probe test wF1", True),
}


def _number(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:+.3f}"


def interval_text(interval: dict) -> str:
    """``+0.040 [+0.010, +0.070]`` (the estimate alone without an interval)."""
    if interval["low"] is None or not math.isfinite(interval["low"]):
        return _number(interval["estimate"])
    return f"{_number(interval['estimate'])} [{_number(interval['low'])}, " \
           f"{_number(interval['high'])}]"


def gain_text(interval: dict, seeds: int) -> str:
    """``+0.040 weighted F1 [+0.010, +0.070] over scratch, 3 seeds`` (no interval with 1 seed)."""
    estimate, _, bounds = interval_text(interval).partition(" ")
    plural = "seed" if seeds == 1 else "seeds"
    return f"{estimate} weighted F1{' ' + bounds if bounds else ''} over scratch, {seeds} {plural}"


def _json_ready(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def _scores_table(advice: dict) -> list[str]:
    shown = [key for key in SCORES if any(key in c["scores"] for c in advice["candidates"])]
    header = ["rank", "candidate", "backbone", "pre-trained on", *(SCORES[k][0] for k in shown)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for candidate in sorted((c for c in advice["candidates"] if c["compatible"]),
                            key=lambda c: c["rank"]):
        cells = [str(candidate["rank"]), candidate["name"], candidate["model"] or "?",
                 _pretrained_on(candidate)]
        cells += [f"{candidate['scores'][k]:.4f}" if candidate["scores"].get(k) is not None
                  else "" for k in shown]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _pretrained_on(candidate: dict) -> str:
    if candidate.get("kind") == "baseline":
        seeds = candidate["seeds"]
        return (f"nothing: random weights (mean of seed{'s' * (len(seeds) > 1)} "
                f"{', '.join(map(str, seeds))})")
    return (candidate["upstream"] or "?") + (" (preset)" if candidate.get("kind") == "preset"
                                              else "")


def _learned_count(flags) -> str:
    return f"{sum(map(bool, flags))}/{len(flags)}"


def _finetune_table(advice: dict) -> list[str]:
    lines = ["| candidate | seeds | learned (fine-tune, scratch) | fine-tune val wF1 (mean) | "
             "scratch val wF1 (mean) | fine-tune test wF1 (mean) | scratch test wF1 (mean) | "
             "gain [95% interval] | seeds compared | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, result in _compared(advice):
        interval = result["interval"]
        gain, verdict = ("no run pair learned", Verdict.NONE) if interval is None else (
            interval_text(interval), Verdict(interval["verdict"]))
        lines.append(
            f"| {name} | {len(result['seeds'])} | {_learned_count(result['finetune_learned'])}, "
            f"{_learned_count(result['scratch_learned'])} | "
            f"{_mean(result['finetune_val_f1']):.4f} | {_mean(result['scratch_val_f1']):.4f} | "
            f"{_mean(result['finetune_test_f1']):.4f} | {_mean(result['scratch_test_f1']):.4f} | "
            f"{gain} | {len(result['compared_seeds'])} | {verdict.wording} |")
    return lines


def _compared(advice: dict) -> list[tuple[str, dict]]:
    """``(row name, result)`` of each fine-tune vs scratch comparison; a preset's second one
    (against the study's backbone from scratch) under its own row."""
    rows = []
    for name, result in advice["finetune"].items():
        rows.append((name, result))
        if result.get("reference"):
            rows.append((f"{name} vs {result['reference']['scratch_model']} from scratch",
                         {**result, **result["reference"]}))
    return rows


def _finetune_section(advice: dict) -> list[str]:
    baselines = advice["baselines"]
    lines = ["## Measured: fine-tune vs from scratch", "",
             f"Training budget: {Budget.from_json(advice['budget']).text()}.", "",
             f"Best constant predictor (every label present): weighted F1 "
             f"{baselines['constant_val_f1']:.4f} on the selection split, "
             f"{baselines['constant_test_f1']:.4f} on test. Whether a run learned: "
             f"{advice['learning_rule']}.", "", *_finetune_table(advice), ""]
    failed = advice["not_learned"]
    if failed:
        lines += ["Runs that did not learn (selection split; nothing is recommended from them):",
                  "", *(f"- {line}" for line in failed), ""]
    return lines


def _mean(values) -> float:
    return sum(values) / len(values)


def markdown(advice: dict) -> str:
    """The text of ``advice.md``."""
    data = advice["data"]
    lines = [f"# Advice for {data['path']}", "",
             f"Stages done: {', '.join(advice['stages_done'])} (asked: {advice['stage']}).", "",
             f"**Recommendation.** {advice['recommendation']}", "",
             "## Candidates", "",
             f"Ranked by {advice['ranked_by']}. Scores are computed on the "
             f"{data['train_records']} training records outside the validation fold.", "",
             *_scores_table(advice), ""]
    if advice.get("baseline_findings"):
        lines += ["## Pre-trained vs random encoder", "",
                  "Each architecture randomly initialised, scored and probed the same way "
                  "(rows named `random encoder (baseline): ...`):", "",
                  *(f"- {text}" for text in advice["baseline_findings"]), ""]
    unlearned_probes = [c["name"] for c in advice["candidates"]
                        if c["scores"].get("probe_learned") is False]
    if unlearned_probes:
        lines += [f"Linear probes that did not learn (selection split): "
                  f"{', '.join(unlearned_probes)}.", ""]
    incompatible = [c for c in advice["candidates"] if not c["compatible"]]
    if incompatible:
        lines += ["Not usable on this data:", ""]
        lines += [f"- {c['name']} ({c['path']}): {c['reason']}" for c in incompatible]
        lines.append("")
    if advice["finetune"]:
        lines += _finetune_section(advice)
    lines += ["## Caveats", "", *(f"- {text}" for text in advice["caveats"]), "",
              f"![advice]({ADVICE_FIGURE})", ""]
    return "\n".join(lines)


def figure(advice: dict, path: Path) -> None:
    """One panel per score that ran (plus the measured gains), candidates in rank order, named
    on the first panel; random-encoder baselines in grey."""
    from matplotlib.figure import Figure  # not pyplot: the caller's backend is left alone

    ranked = sorted((c for c in advice["candidates"] if c["compatible"]), key=lambda c: c["rank"])
    panels = [key for key in SCORES if any(c["scores"].get(key) is not None for c in ranked)]
    count = len(panels) + bool(advice["finetune"])
    fig = Figure(figsize=(3.6 * max(count, 1), 0.5 * len(ranked) + 2))
    axes = fig.subplots(1, max(count, 1), squeeze=False)
    names = [c["name"] for c in ranked]
    for column, (axis, key) in enumerate(zip(axes[0], panels)):
        for baseline, color in ((False, "tab:blue"), (True, "tab:gray")):  # baselines grey
            shown = [(i, c["scores"][key]) for i, c in enumerate(ranked)
                     if c["scores"].get(key) is not None
                     and (c.get("kind") == "baseline") == baseline]
            axis.plot([value for _, value in shown], [i for i, _ in shown], "o", color=color)
        axis.set_yticks(range(len(names)), names if column == 0 else [])  # names once
        axis.set_ylim(len(names) - 0.5, -0.5)
        axis.set_title(SCORES[key][0], fontsize=9)
    if advice["finetune"]:
        axis = axes[0][len(panels)]
        tuned = [name for name, result in advice["finetune"].items() if result["interval"]]
        estimates = [advice["finetune"][n]["interval"]["estimate"] for n in tuned]
        lows = [advice["finetune"][n]["interval"]["low"] for n in tuned]
        highs = [advice["finetune"][n]["interval"]["high"] for n in tuned]
        errors = [[e - lo if lo is not None and math.isfinite(lo) else 0 for e, lo in
                   zip(estimates, lows)],
                  [hi - e if hi is not None and math.isfinite(hi) else 0 for e, hi in
                   zip(estimates, highs)]]
        axis.errorbar(estimates, range(len(tuned)), xerr=errors, fmt="o", color="tab:red",
                      capsize=3)
        axis.set_yticks(range(len(tuned)), tuned)
        if tuned:
            axis.axvline(0, color="grey", lw=0.8)
            axis.set_ylim(len(tuned) - 0.5, -0.5)
        else:
            axis.set_xticks([])
            axis.text(0.5, 0.5, "no gain measured:\nno seed's two runs\nboth learned",
                      ha="center", va="center", transform=axis.transAxes, fontsize=9)
        axis.set_title("gain over scratch (test wF1, 95% CI;\nseeds whose runs learned)",
                       fontsize=9)
    fig.tight_layout()
    write_atomic(path, lambda partial: fig.savefig(partial, dpi=110, format="png"))


def write(advice: dict, out: Path) -> None:
    """Writes ``advice.json``, ``advice.md`` and the figure into ``out`` (atomically each)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ready = _json_ready(advice)
    write_json_atomic(out / ADVICE_JSON, ready)
    figure(ready, out / ADVICE_FIGURE)
    write_text_atomic(out / ADVICE_MD, markdown(ready))
