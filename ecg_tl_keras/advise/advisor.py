"""``advise(config)``: which checkpoint to start from, and whether pre-training helps, in stages.

Stages of rising cost, each written to ``ADVICE/`` as soon as it is done:

1. ``score``: MELEP (:mod:`.leep`) on each checkpoint's outputs and LogME
   (:mod:`.logme`) on its frozen features, over the training records;
2. ``probe``: a linear probe per checkpoint (:mod:`.probe`), chosen on the validation fold;
3. ``finetune``: the ``top`` best-ranked checkpoints fine-tuned, and their
   backbones trained from scratch, with ``seeds`` seeds (:mod:`.finetune`), under a
   training budget fitted to the number of training records (:mod:`.budget`).

Candidates are ``.keras`` checkpoints, preset folders and study folders
(:mod:`.candidates`). Every ranking also holds a random-encoder baseline per architecture
(:mod:`.baselines`): the same network with seeded random weights, scored and probed alike,
one per seed; each pre-trained candidate's verdict against it is stated.

Every run and probe is judged on the selection split by the study's did-not-learn rule, and
the recommendation (:mod:`.decision`) rests only on runs that learned.

Checkpoints that cannot read the data (rate, length, leads) or cannot be
loaded are listed with the reason and skipped.

Example:
>>> config = AdviseConfig(data="OUT/mine", checkpoints=["ptbxl.keras"], out="ADVICE",
...                       stage="score")  # doctest: +SKIP
>>> advise(config)["recommendation"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from ecg_tl_keras.advise import baselines
from ecg_tl_keras.advise import candidates as candidates_module
from ecg_tl_keras.advise import report
from ecg_tl_keras.advise.budget import (STUDY_BATCH_SIZE, STUDY_EPOCHS, STUDY_LR, Budget,
                                        fit_budget)
from ecg_tl_keras.advise.decision import not_learned, recommendation
from ecg_tl_keras.advise.features import frozen_outputs_of, load_target
from ecg_tl_keras.advise.finetune import RunSettings, check_earlier_runs, measure
from ecg_tl_keras.advise.leep import melep
from ecg_tl_keras.advise.logme import logme
from ecg_tl_keras.advise.probe import linear_probe
from ecg_tl_keras.advise.report import SCORES
from ecg_tl_keras.choices import check_choice
from ecg_tl_keras.study.learning import RULE, did_not_learn
from ecg_tl_keras.study.stats import no_skill_baselines
from ecg_tl_keras.training.config import TrainConfig
from tfrecords_builder.flags import option, option_like

STAGES = ("score", "probe", "finetune")
#: The fine-tune stage's settings fitted to the data unless given (:mod:`.budget`).
BUDGET_FLAGS = ("epochs", "batch_size", "lr")
#: The fine-tune stage's settings taken as ``ecg-tl-keras train`` defines them.
TRAIN_FLAGS = ("val_fold",)


@dataclasses.dataclass
class AdviseConfig:
    """What ``ecg-tl-keras advise`` runs; each field's metadata is its flag (``advise.cli``).

    Attributes:
        data: the target dataset (``OUT/NAME`` with ``manifest.json``).
        checkpoints: ``.keras`` files, preset folders and study folders (every pre-train in
            them).
        out: the advice folder.
        stage: the last stage to run: ``score``, ``probe`` or ``finetune``.
        seeds: seeds per fine-tune and per from-scratch run, and random-encoder baselines per
            architecture (seeds 0 to ``seeds - 1``).
        top: how many of the best-ranked checkpoints are fine-tuned.
        epochs, batch_size, lr: training settings; None: fitted to the data
            (:func:`ecg_tl_keras.advise.budget.fit_budget`).
        val_fold: the train fold held out for selection (the study's by default).
    """

    data: str = option(help="the target dataset: OUT/NAME (holds manifest.json)")
    checkpoints: list[str] = option(
        help="a .keras checkpoint, a preset folder (ecg-tl-keras import) or a study folder "
        "(every pre-train in it); repeat for more", flag="--checkpoint", repeatable=True,
        metavar="CKPT")
    out: str = option(help="the advice folder (advice.md, .json, .png)")
    stage: str = option(
        "finetune", "last stage to run: score (seconds), probe (minutes), finetune (trains)",
        flag="--last-stage", aliases=("--stage",), choices=STAGES)
    seeds: int = option(3, "seeds per run and random-encoder baselines per architecture")
    top: int = option(2, "best-ranked checkpoints to fine-tune")
    epochs: int | None = option_like(
        TrainConfig, "epochs", default=None,
        help=f"epochs of every fine-tune and scratch run (default: the study's {STUDY_EPOCHS})")
    batch_size: int | None = option_like(
        TrainConfig, "batch_size", default=None,
        help="batch size (default: fitted to the training records, at most the study's "
        f"{STUDY_BATCH_SIZE}; see advice.md)")
    lr: float | None = option_like(
        TrainConfig, "lr", default=None,
        help=f"learning rate (default: the study's {STUDY_LR:g} scaled to the batch size; see "
        "advice.md)")
    val_fold: int = option_like(TrainConfig, "val_fold")

    def __post_init__(self):
        self.data, self.out = str(self.data), str(self.out)
        self.checkpoints = [str(path) for path in self.checkpoints]
        check_choice("stage", self.stage, STAGES)
        for name in ("seeds", "top"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.checkpoints:
            raise ValueError("give at least one --checkpoint (a .keras file, a preset folder or "
                             "a study folder)")
        # the training settings given are checked by TrainConfig itself
        given = {name: getattr(self, name) for name in BUDGET_FLAGS
                 if getattr(self, name) is not None}
        TrainConfig(data=self.data, model="-", out=self.out, **given,
                    **{name: getattr(self, name) for name in TRAIN_FLAGS})

    def budget(self, train_records: int) -> Budget:
        """The training budget of the fine-tune and scratch runs on ``train_records``."""
        return fit_budget(train_records, batch_size=self.batch_size, epochs=self.epochs,
                          lr=self.lr)

    def runs_through(self, stage: str) -> bool:
        return STAGES.index(stage) <= STAGES.index(self.stage)


def _entry(candidate) -> dict:
    return {"name": candidate.name, "path": str(candidate.path), "model": candidate.model,
            "upstream": candidate.upstream, "compatible": candidate.compatible,
            "reason": candidate.reason, "kind": candidate.kind, "scores": {}, "rank": None}


def _rank(advice: dict) -> None:
    """Ranks compatible candidates by the costliest score that ran (probe, else LogME)."""
    key = "probe_val_f1" if "probe" in advice["stages_done"] else "logme"
    advice["ranked_by"] = {"probe_val_f1": "linear-probe weighted F1 on the validation fold",
                           "logme": "LogME (higher is better)"}[key]
    usable = [c for c in advice["candidates"] if c["compatible"]]
    for rank, entry in enumerate(sorted(usable, key=lambda c: -c["scores"][key]), start=1):
        entry["rank"] = rank
    advice["baseline_comparisons"] = _baseline_comparisons(advice, key)


def _baseline_comparisons(advice: dict, key: str) -> list[dict]:
    """Each pre-trained candidate against its own architecture's random-encoder baseline, on
    the ranking score."""
    entries = {entry["name"]: entry for entry in advice["candidates"]}
    found = []
    for entry in advice["candidates"]:
        if not entry["compatible"] or "baseline" not in entry:
            continue
        baseline = entries[entry["baseline"]]
        found.append({"candidate": entry["name"], "baseline": baseline["name"],
                      "score": SCORES[key][0],
                      **baselines.compare(entry["scores"][key],
                                          baseline["scores_by_seed"][key], baseline["seeds"])})
    return found


def _caveats(advice: dict, target, config: AdviseConfig) -> list[str]:
    test = target.manifest["splits"]["test"]
    texts = [
        f"Selection split: every epoch and probe choice was made on train fold {config.val_fold} "
        f"({len(target.val)} records, patient-wise); the test split "
        f"({test['records']} records, {test['patients']} patients) was used only to measure.",
        f"Test size: {len(target.test)} records; weighted F1 on few records moves by several "
        f"points between seeds and splits.",
        "Scores (MELEP, LogME, probe) rank checkpoints; they do not measure whether fine-tuning "
        "beats training from scratch. Only stage finetune measures that.",
        f"Random-encoder baselines: each architecture rebuilt with fresh weights (seeds "
        f"{', '.join(map(str, range(config.seeds)))}; keras.utils.set_random_seed), scored and "
        f"probed as the candidates; their row shows the mean over the seeds. A candidate "
        f"beats its baseline only where the t-interval of its score minus the baselines' lies "
        f"above zero; that interval covers random initialisation, not the sampling of the "
        f"records.",
    ]
    if advice["finetune"]:
        seeds = config.seeds
        texts.append(f"Seeds: {seeds} per run; intervals are Student-t intervals of the mean "
                     f"paired gain over the seeds whose two runs both learned (fine-tune minus "
                     f"scratch, same seed)" + ("; one seed gives no interval" if seeds == 1
                                               else "") + ".")
        texts.append("Learning is judged on the selection split, never on test (the rule is "
                     "stated with the measured runs); runs that did not learn are listed there "
                     "and nothing is recommended from them.")
        texts.append("The recommended checkpoint is the fine-tuned one with the best mean "
                     "validation weighted F1 over runs that learned, not the best test F1.")
    incompatible = [c["name"] for c in advice["candidates"] if not c["compatible"]]
    if incompatible:
        texts.append(f"{len(incompatible)} candidate(s) could not be used: "
                     f"{', '.join(incompatible)} (see the list above).")
    return texts


def advise(config: AdviseConfig, log: Callable[[str], None] = print) -> dict:
    """Runs the stages up to ``config.stage`` and writes the advice after each.

    Returns:
        The contents of ``advice.json``.

    Raises:
        FileNotFoundError: no built dataset at ``config.data``.
        ValueError: bad arguments or a checkpoint path that does not exist.
    """
    out = Path(config.out)
    found = candidates_module.gather(config.checkpoints)
    target = load_target(config.data, config.val_fold)
    log(f"{config.data}: {len(target.train)} training, {len(target.val)} validation, "
        f"{len(target.test)} test records; {len(found)} candidate(s)")
    budget = config.budget(len(target.train))
    settings = RunSettings(budget.epochs, budget.batch_size, budget.lr, config.val_fold)
    if config.runs_through("finetune"):
        check_earlier_runs(out, settings)
    advice = {"data": {"path": str(config.data), "train_records": len(target.train),
                       "val_records": len(target.val), "test_records": len(target.test),
                       "labels": target.labels},
              "stage": config.stage, "stages_done": [], "val_fold": config.val_fold,
              "candidates": [], "finetune": {}, "settings": dataclasses.asdict(config),
              "budget": budget.to_json(), "learning_rule": RULE,
              "baselines": {"constant_val_f1": no_skill_baselines(target.val.y, None)["constant"],
                            "constant_test_f1": no_skill_baselines(target.test.y,
                                                                   None)["constant"]}}
    features, architectures = {}, baselines.Architectures()
    for candidate in found:
        model, _ = candidates_module.load(candidate, target.manifest)
        entry = _entry(candidate)
        advice["candidates"].append(entry)
        if not candidate.compatible:
            log(f"  {candidate.name}: not usable: {candidate.reason}")
            continue
        features[candidate.name] = [_score(model, entry, target, config, log, candidate.name)]
        architectures.add(candidate, model)
    seeds = list(range(config.seeds))
    for baseline, source, members in architectures.baselines():
        entry = {**_entry(baseline), "seeds": seeds, "of": members, "scores_by_seed": {}}
        advice["candidates"].append(entry)
        for other in advice["candidates"]:
            if other["name"] in members:
                other["baseline"] = baseline.name
        features[baseline.name] = [
            _score(baselines.random_encoder(source, seed), entry, target, config, log,
                   f"{baseline.name}, seed {seed}") for seed in seeds]
    del architectures
    _finish_stage(advice, "score", target, config, out)
    if config.runs_through("probe"):
        for entry in advice["candidates"]:
            if entry["compatible"]:
                _probe(entry, features.pop(entry["name"]), target,
                       advice["baselines"]["constant_val_f1"], log)
        _finish_stage(advice, "probe", target, config, out)
    if config.runs_through("finetune"):
        log(f"training budget: {budget.text()}")
        chosen = [c for c in found if c.compatible and c.model is not None]  # no baselines
        for candidate in found:
            if candidate.compatible and candidate.model is None:
                log(f"  {candidate.name}: stores no backbone name; it cannot be fine-tuned here")
        ranks = {entry["name"]: entry["rank"] for entry in advice["candidates"]}
        for candidate in sorted(chosen, key=lambda c: ranks[c.name])[:config.top]:
            advice["finetune"][candidate.name] = measure(
                candidate, config.data, out, list(range(config.seeds)), settings,
                advice["baselines"]["constant_val_f1"], log=log)
            _refresh(advice, target, config, out)  # partial results survive a long run's end
        _finish_stage(advice, "finetune", target, config, out)
    log(f"advice: {out / report.ADVICE_MD}\n{advice['recommendation']}")
    return advice


def _score(model, entry: dict, target, config: AdviseConfig, log, label: str) -> tuple | None:
    """MELEP and LogME of a model on the training records into ``entry`` (a baseline's: one
    value per seed), and its frozen features of the three parts when the probe will run."""
    probing = config.runs_through("probe")
    outputs = frozen_outputs_of(model, [target.train] + ([target.val, target.test] if probing
                                                         else []))
    train_features, train_probs = outputs[0]
    scores = {"melep": melep(train_probs, target.train.y),
              "logme": logme(train_features, target.train.y)}
    _record(entry, scores)
    log(f"  {label}: MELEP {scores['melep']:.4f}, LogME {scores['logme']:.4f}")
    return tuple(features for features, _ in outputs) if probing else None


def _record(entry: dict, scores: dict) -> None:
    """Stores a candidate's scores; a baseline keeps each seed's and shows their mean."""
    if "scores_by_seed" not in entry:
        entry["scores"].update(scores)
        return
    for key, value in scores.items():
        entry["scores_by_seed"].setdefault(key, []).append(value)
        values = entry["scores_by_seed"][key]
        if key != "probe_c":  # a mean regularization strength means nothing
            entry["scores"][key] = (all(values) if isinstance(value, bool)
                                    else sum(values) / len(values))


def _probe(entry: dict, features: list, target, constant_f1: float, log) -> None:
    """Fits the linear probe on a candidate's frozen features (a baseline's: each seed's),
    judged by the did-not-learn rule on the selection split."""
    for train_x, val_x, test_x in features:
        result = linear_probe(train_x, target.train.y, val_x, target.val.y, test_x,
                              target.test.y)
        learned = not did_not_learn(result.val_weighted_f1, constant_f1, result.val_macro_auc)
        _record(entry, {"probe_val_f1": result.val_weighted_f1,
                        "probe_val_auc": result.val_macro_auc,
                        "probe_test_f1": result.test_weighted_f1, "probe_c": result.c,
                        "probe_learned": learned})
    learned = entry["scores"]["probe_learned"]
    log(f"  {entry['name']}: linear probe val weighted F1 {entry['scores']['probe_val_f1']:.4f}"
        f"{'' if learned else ' (did not learn)'}")


def _finish_stage(advice: dict, stage: str, target, config: AdviseConfig, out: Path) -> None:
    advice["stages_done"].append(stage)
    _refresh(advice, target, config, out)


def _refresh(advice: dict, target, config: AdviseConfig, out: Path) -> None:
    _rank(advice)
    advice["baseline_findings"] = [baselines.comparison_text(comparison)
                                   for comparison in advice["baseline_comparisons"]]
    advice["recommendation"] = recommendation(advice)
    advice["not_learned"] = not_learned(advice)
    advice["caveats"] = _caveats(advice, target, config)
    report.write(advice, out)
