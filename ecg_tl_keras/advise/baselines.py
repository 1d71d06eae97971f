"""The random-encoder baseline: each candidate architecture randomly initialised, scored and
probed exactly as the pre-trained candidates are, and the verdict of each pre-trained
candidate against its own architecture's baseline.

Pre-training helps only if its features beat those of the same network with random weights
under the same probe (the baseline of the 2025-2026 ECG foundation-model benchmarks). For
every distinct architecture among the usable candidates (the backbone's configuration and
input), the architecture of the first candidate that has it is rebuilt from its
configuration with fresh weights (:func:`random_encoder`, ``keras.utils.set_random_seed(seed)``
first), keeping its input layer (a preset's input convention, a checkpoint's per-lead
statistics) and its head layout. One such encoder per seed (``--seeds``: seeds 0 to N-1,
recorded in ``advice.json``) gives a spread over random initialisations.

A candidate's score (the ranking score: the linear probe's weighted F1 on the selection split,
else LogME on the training records) minus each seed's baseline score is the gain; its
Student-t interval over the seeds and its verdict
(:func:`ecg_tl_keras.advise.finetune.gain_interval`, the study's
:class:`~ecg_tl_keras.study.intervals.Verdict`) say whether the candidate beats its baseline.
The interval covers random initialisation only, on the same records.

Example:
    >>> comparison_text({"candidate": "ecgfounder", "baseline": "random encoder (baseline): "
    ...     "net1d", "score": "probe val wF1", "candidate_value": 0.70, "baseline_values":
    ...     [0.60, 0.62, 0.61], "seeds": [0, 1, 2], "interval": {"estimate": 0.09, "low": 0.065,
    ...     "high": 0.115, "verdict": "positive", "method": "t-interval over 3 seeds"}})[:62]
    'ecgfounder beats its random-encoder baseline (net1d): probe va'
"""

from __future__ import annotations

import json

from ecg_tl_keras.advise.candidates import Candidate
from ecg_tl_keras.advise.finetune import gain_interval
from ecg_tl_keras.advise.report import interval_text
from ecg_tl_keras.models.finetune import reinitialized as random_encoder  # noqa: F401 (advise's name)
from ecg_tl_keras.study.intervals import Verdict

PREFIX = "random encoder (baseline): "

#: The opening of a candidate-vs-baseline finding for each verdict; ``{name}`` the candidate.
VERDICT_OPENING = {
    Verdict.POSITIVE: "{name} beats its random-encoder baseline",
    Verdict.NEGATIVE: "{name} scores below its random-encoder baseline",
    Verdict.UNCLEAR: "{name} does not clearly beat its random-encoder baseline",
    Verdict.SINGLE_SEED: "{name} vs its random-encoder baseline: one baseline seed gives no "
                         "interval, so no evidence either way",
    Verdict.NOT_ROBUST: "{name} vs its random-encoder baseline: not robust (the t-interval and "
                        "a check without normality disagree), no winner named",
    Verdict.NONE: "{name} vs its random-encoder baseline: the difference did not vary across "
                  "seeds, so its uncertainty is unmeasured; no verdict",
}


def architecture_key(model) -> str:
    """What makes two candidates one architecture: the backbone's configuration and the input,
    not the precision it was trained under (layers' ``dtype`` policies are left out).

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> from ecg_tl_keras.precision import apply_precision
        >>> one, two = (build_model("gru", n, input_shape=(50, 12), units=4) for n in (2, 3))
        >>> architecture_key(one) == architecture_key(apply_precision(two, "mixed_bfloat16"))
        True
    """
    backbone = _without_dtypes(model.get_layer("backbone").get_config())
    return json.dumps([backbone, list(model.input_shape[1:])], sort_keys=True, default=str)


def _without_dtypes(config):
    """A layer configuration without its (nested) ``dtype`` entries."""
    if isinstance(config, dict):
        return {key: _without_dtypes(value) for key, value in config.items() if key != "dtype"}
    if isinstance(config, (list, tuple)):
        return [_without_dtypes(value) for value in config]
    return config


class Architectures:
    """The distinct architectures of the usable candidates, as they are loaded: only the first
    model of each is kept (the one its baseline rebuilds), so candidates are not all held.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> seen = Architectures()
        >>> for name in ("a", "b"):
        ...     seen.add(Candidate(name, name, model="gru"),
        ...              build_model("gru", 2, input_shape=(50, 12), units=4))
        >>> [(baseline.name, members) for baseline, _, members in seen.baselines()]
        [('random encoder (baseline): gru', ['a', 'b'])]
    """

    def __init__(self):
        self._by_key: dict[str, tuple] = {}
        self._names: dict[str, int] = {}

    def add(self, candidate: Candidate, model) -> None:
        key = architecture_key(model)
        if key not in self._by_key:
            arch = candidate.model or model.name
            count = self._names[arch] = self._names.get(arch, 0) + 1
            baseline = Candidate(name=f"{PREFIX}{arch}" + (f" #{count}" if count > 1 else ""),
                                 path=candidate.path, model=candidate.model, kind="baseline")
            self._by_key[key] = (baseline, model, [])
        self._by_key[key][2].append(candidate.name)

    def baselines(self) -> list[tuple]:
        """``(baseline candidate, model whose architecture it rebuilds, names of the candidates
        of that architecture)`` per architecture, in order of first appearance."""
        return list(self._by_key.values())


def compare(candidate_value: float, baseline_values: list[float], seeds: list[int]) -> dict:
    """A candidate's score against its baseline's seeds: gains, interval and verdict.

    Example:
        >>> compare(0.7, [0.6, 0.62, 0.61], [0, 1, 2])["interval"]["verdict"]
        'positive'
    """
    gains = [candidate_value - value for value in baseline_values]
    return {"candidate_value": candidate_value, "baseline_values": list(baseline_values),
            "seeds": list(seeds), "gains": gains, "interval": gain_interval(gains)}


def comparison_text(comparison: dict) -> str:
    """One finding in words: the verdict, both scores, the gain with its interval and seeds."""
    interval = comparison["interval"]
    verdict = Verdict(interval["verdict"])
    arch = comparison["baseline"].removeprefix(PREFIX)
    values = comparison["baseline_values"]
    seeds = comparison["seeds"]
    opening = VERDICT_OPENING[verdict].format(name=comparison["candidate"])
    opening = opening.replace("random-encoder baseline", f"random-encoder baseline ({arch})", 1)
    return (f"{opening}: {comparison['score']} {comparison['candidate_value']:.3f} vs "
            f"{sum(values) / len(values):.3f} (mean over random-encoder seed"
            f"{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}); difference "
            f"{interval_text(interval)} ({interval['method']}: random initialisation only, "
            f"not the sampling of the records).")
