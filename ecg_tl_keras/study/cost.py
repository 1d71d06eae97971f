"""What pre-training costs beside what it gains: measured training seconds and the break-even.

Per comparison on full train splits: the mean ``train_time_s`` (the sum of the epochs' training
seconds) of the pre-train, the fine-tune and the scratch run; the epoch at which the fine-tune
first reached the scratch run's best selection-split score; and the *break-even*: a task
fine-tuned from a shared pre-train costs the fine-tune's seconds up to that epoch, trained
from scratch it costs the scratch run's seconds up to its own best epoch. The saving per task
is the difference; one pre-train pays for itself once it serves
``ceil(pre-train seconds / saving)`` downstream tasks ("never" when the fine-tune saves
nothing or never reaches the scratch run's best).

Example:
    >>> break_even(pretrain_s=100.0, saving_s=30.0)
    4
    >>> break_even(pretrain_s=100.0, saving_s=-5.0)
    'never'
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ecg_tl_keras.study.comparisons import Comparison
from ecg_tl_keras.study.curves import best_score, first_epoch_reaching

MACHINE_UNKNOWN = "machine type not recorded"
#: The break-even of a checkpoint pre-trained elsewhere (a plan's ``pretrained``): not this
#: study's cost to recover.
PRETRAINED_ELSEWHERE = "pre-trained elsewhere"


def break_even(pretrain_s: float, saving_s: float) -> int | str:
    """How many downstream tasks one pre-train must serve to cost less than scratch runs."""
    if not (math.isfinite(pretrain_s) and math.isfinite(saving_s)) or saving_s <= 0:
        return "never"
    return max(1, math.ceil(pretrain_s / saving_s))


def cost_of(group: Comparison) -> dict:
    """The cost columns of one comparison (means over its seeds)."""
    reached, savings = [], []
    for ft, sc in zip(group.finetune, group.scratch):
        target = best_score(sc["selection_curve"])
        epoch = first_epoch_reaching(ft["selection_curve"], target)
        reached.append(epoch)
        scratch_epoch = first_epoch_reaching(sc["selection_curve"], target)
        if isinstance(epoch, int) and isinstance(scratch_epoch, int):
            savings.append(scratch_epoch * _per_epoch(sc) - epoch * _per_epoch(ft))
    pretrain = _mean([p["train_time_s"] for p in group.pretrain if p is not None])
    epochs = [e for e in reached if isinstance(e, int)]
    saving = _mean(savings)
    return dict(
        pretrain_s=pretrain, finetune_s=_mean([r["train_time_s"] for r in group.finetune]),
        scratch_s=_mean([r["train_time_s"] for r in group.scratch]),
        finetune_epoch_reaching_scratch_best=(f"{np.median(epochs):g}" if epochs
                                              else _first_text(reached)),
        seeds_reaching=f"{len(epochs)} of {len(reached)}",
        saving_s_per_task=saving,
        break_even_tasks=(break_even(pretrain, saving) if group.preset is None
                          else PRETRAINED_ELSEWHERE))


def machine_note(rows: Sequence[dict]) -> str:
    """Which machine types the times were measured on, as the report labels them."""
    machines = {r["machine"] for r in rows if r.get("machine")}
    missing = sum(not r.get("machine") for r in rows)
    if not machines:
        return f"{MACHINE_UNKNOWN}: compare the times only if every cell ran on one machine type"
    if len(machines) == 1 and not missing:
        return f"time measured on one machine type: {next(iter(machines))}"
    return (f"times measured on {len(machines)} machine types ({'; '.join(sorted(machines))})"
            + (f" and {missing} cells without a record" if missing else "")
            + ": not comparable across cells")


def _per_epoch(row: dict) -> float:
    epochs = row["epochs_trained"]
    return row["train_time_s"] / epochs if epochs else math.nan




def _mean(values) -> float:
    values = [v for v in values if math.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def _first_text(reached: list) -> str:
    return reached[0] if reached and len(set(map(str, reached))) == 1 else "never"
