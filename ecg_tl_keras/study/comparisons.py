"""The report's data: one row per complete result file, and fine-tune vs scratch comparisons.

A result file without a test score is *incomplete*: it is listed (cell named) and left out.
Whether a run learned is judged on its **selection split** (never on test) by the shared
rule :func:`ecg_tl_keras.study.learning.did_not_learn`; a result file written before the
selection split's constant predictor was recorded uses the test split's constant predictor as
a stand-in (a property of the labels, not of any run's test score), and says so.

Example:
    >>> rows, incomplete = read_cells([], None)
    >>> rows, incomplete
    ([], [])
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Sequence


from ecg_tl_keras.study.cells import CellLabel
from ecg_tl_keras.study.curves import as_float, oriented_selection_curve
from ecg_tl_keras.study.learning import did_not_learn

#: history.csv column with the test split's weighted F1 after each epoch.
HISTORY_TEST_F1 = "test_weighted_f1"
#: How learning was judged, per kind of result file.
BASIS_SELECTION = "selection split"
BASIS_STAND_IN = "selection split, test constant predictor as stand-in"


@dataclasses.dataclass(frozen=True)
class Incomplete:
    """A result file left out of the report, and why."""

    key: str
    reason: str


def read_cells(results: Sequence[dict], study: Path | None) -> tuple[list[dict], list[Incomplete]]:
    """One flat dict per complete result file, and the incomplete ones.

    Args:
        results: result-file dicts (``STUDY/results/*.json``).
        study: the study folder, against which the result files' paths are relative.
    """
    rows, incomplete = [], []
    for result in results:
        cell = result.get("cell") or {}
        key = cell.get("key", "?")
        metrics = result.get("metrics") or {}
        weighted = as_float(metrics.get("test_weighted_f1"))
        if not math.isfinite(weighted):
            incomplete.append(Incomplete(key, "no test_weighted_f1 in the result file"))
            continue
        rows.append(_row(result, cell, metrics, weighted, study))
    return rows, incomplete


def _row(result: dict, cell: dict, metrics: dict, weighted: float, study: Path | None) -> dict:
    history = result.get("history") or []
    baselines = result.get("baselines") or {}
    label = CellLabel.of_spec(cell)
    learned, basis = learning_of(result)
    predictions = result.get("predictions_test")
    return dict(
        key=cell["key"], kind=cell["kind"], roles="+".join(cell["roles"]),
        upstream=cell["upstream"], dataset=cell["dataset"], label=label, model=str(label),
        family=family_of(label.model), seed=cell["seed"], train_size=cell["train_size"],
        train_records=(metrics.get("records") or {}).get("train"),
        select_on=cell.get("select_on"), weighted_f1=weighted,
        macro_f1=as_float(metrics.get("test_macro_f1")),
        macro_auc=as_float(metrics.get("test_macro_auc")),
        baseline_constant=as_float(baselines.get("constant")),
        baseline_random=as_float(baselines.get("random")),
        learned=learned, learned_basis=basis, best_epoch=metrics.get("best_epoch"),
        epochs_trained=len(history), curve=[r.get(HISTORY_TEST_F1, math.nan) for r in history],
        selection_curve=oriented_selection_curve(result),
        user_metrics=user_metric_values(metrics),
        per_label_f1=dict(metrics.get("per_label_f1") or {}),
        per_label_constant=dict(baselines.get("constant_per_label") or {}),
        train_time_s=as_float(metrics.get("train_time_s")), machine=result.get("machine"),
        predictions=None if predictions is None else Path(study or ".") / predictions,
        preset=cell.get("preset"))


def user_metric_values(metrics: dict) -> dict[str, float]:
    """The test values a run's metrics hold of the metrics registered with
    ``ecg_tl_keras.metrics.register_metric`` (not built in), by name.

    A metric counts when it is registered now (``ecg-tl-keras --import MODULE study report``)
    and the run logged it (``test_<name>``).

    Example:
        >>> from ecg_tl_keras.metrics import register_metric, unregister_metric
        >>> _ = register_metric("brier", lambda y_true, y_prob: 0.0, higher_is_better=False)
        >>> user_metric_values({"test_weighted_f1": 0.5, "test_brier": 0.125})
        {'brier': 0.125}
        >>> unregister_metric("brier")
    """
    from ecg_tl_keras.metrics import METRICS

    return {entry.name: as_float(metrics[f"test_{entry.name}"]) for entry in METRICS.entries()
            if not entry.builtin and f"test_{entry.name}" in metrics}


def user_metric_names(rows: Sequence[dict]) -> list[str]:
    """The user metrics (:func:`user_metric_values`) any row holds, in registration order."""
    return list(dict.fromkeys(name for row in rows for name in row["user_metrics"]))


def baselines_by_dataset(rows: Sequence[dict]) -> dict[str, tuple[list[dict], float, float]]:
    """Per dataset, in the order the rows name them: its rows, and the test weighted F1 of its
    best constant predictor and of random at training prevalence (NaN where no row holds it).

    Example:
        >>> rows = [{"dataset": "a", "baseline_constant": math.nan, "baseline_random": 0.3},
        ...         {"dataset": "a", "baseline_constant": 0.5, "baseline_random": 0.3}]
        >>> part, constant, random = baselines_by_dataset(rows)["a"]
        >>> len(part), constant, random
        (2, 0.5, 0.3)
    """
    found = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        part = [r for r in rows if r["dataset"] == dataset]
        found[dataset] = (part, _first_finite(part, "baseline_constant"),
                          _first_finite(part, "baseline_random"))
    return found


def _first_finite(rows: Sequence[dict], column: str) -> float:
    return next((r[column] for r in rows if math.isfinite(r[column])), math.nan)


def family_of(model: str) -> str:
    """A backbone's family from its registered spec (``"unknown"`` when not registered here).

    Example:
        >>> family_of("resnet1d50"), family_of("gru"), family_of("mystery")
        ('cnn', 'rnn', 'unknown')
    """
    from ecg_tl_keras.models.families import model_family_of

    try:
        return model_family_of(model)
    except ValueError:
        return "unknown"


def learning_of(result: dict) -> tuple[bool | None, str]:
    """Whether a run learned (None: unknown) and on what basis, from its result file.

    Example:
        >>> learning_of({"selection": {"weighted_f1": 0.41, "macro_auc": 0.52,
        ...              "constant_weighted_f1": 0.54}})
        (False, 'selection split')
    """
    selection = result.get("selection") or {}
    score = as_float(selection.get("weighted_f1"))
    auc = as_float(selection.get("macro_auc"))
    if not selection:
        score, auc = _selection_at_best_epoch(result)
    constant, basis = as_float(selection.get("constant_weighted_f1")), BASIS_SELECTION
    if not math.isfinite(constant):
        constant = as_float((result.get("baselines") or {}).get("constant"))
        basis = BASIS_STAND_IN
    if not (math.isfinite(score) and math.isfinite(constant)):
        return None, "unknown: no selection-split score or no constant predictor"
    return not did_not_learn(score, constant, auc), basis


def _selection_at_best_epoch(result: dict) -> tuple[float, float]:
    """Selection weighted F1 and macro AUC of the best epoch from the history alone."""
    history = result.get("history") or []
    epoch = (result.get("metrics") or {}).get("best_epoch")
    if not history or not epoch or epoch > len(history):
        return math.nan, math.nan
    row = history[epoch - 1]
    f1 = next((v for c, v in row.items() if c.endswith("weighted_f1")
               and not c.startswith("test_")), None)
    if f1 is None:  # selected on test
        f1 = row.get(HISTORY_TEST_F1)
    auc = next((v for c, v in row.items() if c.endswith("macro_auc")
                and not c.startswith("test_")), row.get("test_macro_auc"))
    return as_float(f1), as_float(auc)


@dataclasses.dataclass
class Comparison:
    """Fine-tune vs scratch for one (upstream, downstream, model, train size), paired by seed.

    ``pretrain`` holds, per pair, the scratch run on the upstream dataset the fine-tune
    started from (None when its result file is missing).
    """

    upstream: str
    downstream: str
    label: CellLabel
    train_size: int | None
    finetune: list[dict]
    scratch: list[dict]
    pretrain: list[dict | None]

    @property
    def model(self) -> str:
        """The model as tables name it (``gru`` or ``gru[flatten]``)."""
        return str(self.label)

    @property
    def key(self) -> str:
        """A stable name: ``georgia>ptbxl:resnet1d18`` (``:n500`` for a size-sweep size)."""
        size = "" if self.train_size is None else f":n{self.train_size}"
        return f"{self.upstream}>{self.downstream}:{self.model}{size}"

    @property
    def preset(self) -> dict | None:
        """The ``pretrained`` checkpoint fine-tuned (its result-file record), or None when the
        upstream is one of the study's own pre-trains."""
        return self.finetune[0].get("preset") if self.finetune else None

    @property
    def seeds(self) -> list[int]:
        """The seeds of the pairs."""
        return [ft["seed"] for ft in self.finetune]

    def pairs(self, leave_out: str = "both") -> list[tuple[dict, dict]]:
        """The (fine-tune, scratch) pairs, without those in which ``"both"`` runs (or, with
        ``"any"``, a run) did not learn; ``"none"``: every pair."""
        if leave_out == "none":
            return list(zip(self.finetune, self.scratch))
        test = all if leave_out == "both" else any
        return [(ft, sc) for ft, sc in zip(self.finetune, self.scratch)
                if not test(r["learned"] is False for r in (ft, sc))]

    def gains(self, leave_out: str = "both") -> list[float]:
        """Fine-tune minus scratch test weighted F1 per kept pair."""
        return [ft["weighted_f1"] - sc["weighted_f1"] for ft, sc in self.pairs(leave_out)]

    def did_not_learn(self) -> str:
        """Which side has a run that did not learn (on the selection split)."""
        finetune = any(r["learned"] is False for r in self.finetune)
        scratch = any(r["learned"] is False for r in self.scratch)
        return {(True, True): "both", (True, False): "fine-tune",
                (False, True): "scratch"}.get((finetune, scratch), "")


def comparisons(rows: Sequence[dict]) -> list[Comparison]:
    """Pair each fine-tune cell with the scratch cell on the same data, model, size and seed."""
    scratch = {(r["dataset"], r["model"], r["train_size"], r["seed"]): r
               for r in rows if r["kind"] == "scratch"}
    groups: dict[tuple, Comparison] = {}
    for row in sorted(rows, key=lambda r: r["seed"]):
        match = scratch.get((row["dataset"], row["model"], row["train_size"], row["seed"]))
        if row["kind"] != "finetune" or match is None:
            continue
        key = (row["upstream"], row["dataset"], row["label"], row["train_size"])
        group = groups.setdefault(key, Comparison(*key, finetune=[], scratch=[], pretrain=[]))
        group.finetune.append(row)
        group.scratch.append(match)
        group.pretrain.append(scratch.get((row["upstream"], row["model"], None, row["seed"])))
    return sorted(groups.values(), key=lambda g: (g.upstream, g.downstream, g.train_size or 0,
                                                  model_rank(g.label)))


def model_rank(label: CellLabel) -> tuple[int, str]:
    """Sort key of cell labels: registration order (the paper's: ResNets by depth, LSTM,
    BiLSTM, GRU), a variant right after its model, unregistered models last."""
    from ecg_tl_keras.models.families import known_models

    order = known_models()
    return (order.index(label.model) if label.model in order else len(order), str(label))

