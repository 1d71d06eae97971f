"""Check that every number of a study report traces back to the study's result files.

Each column of the report's tables is recomputed here from the result files (and the
prediction files and manifests they name) with scipy/numpy directly, not with the report's
own helpers, so a report that drifts from its inputs fails.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ecg_tl_keras.metrics import weighted_f1
from ecg_tl_keras.study.stats import SINGLE_SEED_LABEL, align_predictions, holm


def check_report_matches_results(report: Path, study: Path, results: dict) -> None:
    """Every table column of ``report`` against ``results`` ({cell key: result file})."""
    tables = {name: pd.read_csv(report / "tables" / f"{name}.csv")
              for name in ("cells", "baselines", "per_label_f1", "transfer_gain", "convergence")}
    _check_cells(tables["cells"].set_index("key"), results)
    _check_baselines(tables["baselines"], study, results)
    labels = tables["per_label_f1"]
    for row in labels.itertuples():
        result = results[row.key]
        assert row.f1 == pytest.approx(result["metrics"]["per_label_f1"][row.label])
        assert row.baseline_constant == pytest.approx(
            result["baselines"]["constant_per_label"][row.label])
    _check_gains(tables["transfer_gain"], study, results)
    _check_convergence(tables["convergence"], results)
    text = (report / "report.md").read_text()
    assert "selected on the **val** split" in text
    if tables["transfer_gain"]["seeds"].max() < 2:  # one seed: no winner named anywhere
        assert not re.search(r"better|worse|beats", text.split("## Findings")[1])
    # The Markdown tables in report.md are the CSV tables, number for number.
    gains_md = text.split("## Fine-tune minus scratch")[1].split("## Convergence")[0]
    for row in tables["transfer_gain"].itertuples():
        assert f"| {row.gain:.4f} |" in gains_md
    _check_pooled_findings(text, results)
    figures = report / "figures"
    for figure in ("fig2_finetune_vs_scratch_by_upstream", "fig3_finetune_vs_scratch_scatter",
                   "fig5_f1_per_epoch"):
        assert (figures / f"{figure}.png").is_file() and (figures / f"{figure}.svg").is_file()
        assert f"{figure}.png" in text
    # Every figure caption names its seed count.
    assert all(re.search(r"\d+ seeds?", caption)
               for caption in re.findall(r"^\*(Fig \d.*)\*$", text, flags=re.M))


def _check_cells(cells: pd.DataFrame, results: dict) -> None:
    assert set(cells.index) == set(results)
    for key, result in results.items():
        row, metrics, baselines = cells.loc[key], result["metrics"], result["baselines"]
        assert row["weighted_f1"] == pytest.approx(metrics["test_weighted_f1"])
        assert row["best_epoch"] == metrics["best_epoch"]
        assert row["baseline_constant"] == pytest.approx(baselines["constant"])
        assert row["baseline_random"] == pytest.approx(baselines["random"])
        assert row["learned"] == ("yes" if learned(result) else "did not learn")
        assert row["train_time_s"] == pytest.approx(metrics.get("train_time_s", np.nan),
                                                    nan_ok=True)


def learned(result: dict) -> bool:
    """The selection-split rule, recomputed: the selected epoch beats the split's constant
    predictor (the test one where the result file has none) or its macro AUC exceeds 0.55."""
    selection = result["selection"]
    constant = selection.get("constant_weighted_f1")
    if constant is None:
        constant = result["baselines"]["constant"]
    auc = selection.get("macro_auc")
    return bool(selection["weighted_f1"] > constant or (auc is not None and auc > 0.55))


def _check_baselines(table: pd.DataFrame, study: Path, results: dict) -> None:
    """The result files' baselines, recomputed from the predictions and the manifest."""
    for result in results.values():
        with np.load(study / result["predictions_test"]) as stored:
            y_true, labels = stored["y_true"].astype(bool), list(stored["labels"])
        assert result["baselines"]["constant"] == pytest.approx(
            weighted_f1(y_true, np.ones(y_true.shape)))
        relative = Path(result["baselines"]["train_prevalence_from"])
        assert not relative.is_absolute()  # portable: relative to the study folder
        manifest = json.loads((study / relative).read_text())
        train = manifest["splits"]["train"]
        p = np.array([train["label_counts"][label] / train["records"] for label in labels])
        q, support = y_true.mean(axis=0), y_true.sum(axis=0)
        f1 = np.where(p + q > 0, 2 * p * q / np.where(p + q > 0, p + q, 1), 0.0)
        assert result["baselines"]["random"] == pytest.approx((f1 * support).sum()
                                                              / support.sum())
    for row in table.itertuples():
        part = [r for r in results.values() if r["cell"]["dataset"] == row.dataset]
        assert row.baseline_constant == pytest.approx(part[0]["baselines"]["constant"])
        assert row.baseline_random == pytest.approx(part[0]["baselines"]["random"])
        assert row.runs == len(part)
        assert row.runs_beating_constant == sum(
            r["metrics"]["test_weighted_f1"] > r["baselines"]["constant"] for r in part)


def _pairs(row, results: dict) -> list[tuple[dict, dict]]:
    size = "" if pd.isna(row.train_size) else f"-n{int(row.train_size)}"
    pairs = []
    for key, finetune in sorted(results.items()):
        prefix = f"finetune__{row.upstream}-to-{row.downstream}{size}__{row.model}__seed"
        if key.startswith(prefix):
            seed = key[len(prefix):]
            pairs.append((finetune, results[f"scratch__{row.downstream}{size}__{row.model}"
                                            f"__seed{seed}"]))
    return pairs


def _check_gains(gains: pd.DataFrame, study: Path, results: dict) -> None:
    assert len(gains) == len({k.rsplit("__seed", 1)[0] for k in results
                              if k.startswith("finetune__")})
    p_values = []
    for row in gains.itertuples():
        every = _pairs(row, results)
        assert row.seeds == len(every)
        # Pairs in which both runs did not learn carry no evidence: left out of the interval;
        # if no pair is left, the table describes the mean gain of all and gives no verdict.
        pairs = [(ft, sc) for ft, sc in every if learned(ft) or learned(sc)]
        per_seed = [ft["metrics"]["test_weighted_f1"] - sc["metrics"]["test_weighted_f1"]
                    for ft, sc in pairs or every]
        assert row.gain == pytest.approx(np.mean(per_seed))
        assert row.baseline_constant == pytest.approx(every[0][0]["baselines"]["constant"])
        if not pairs:
            assert row.verdict == "no verdict" and pd.isna(row.ci_low) and pd.isna(row.p_value)
            assert row.did_not_learn == "both"
            p_values.append(math.nan)
        elif len(pairs) >= 2:
            test = scipy_stats.ttest_1samp(per_seed, 0.0)
            low, high = test.confidence_interval(0.95)
            assert (row.ci_low, row.ci_high) == pytest.approx((low, high))
            assert row.p_value == pytest.approx(test.pvalue)
            assert row.ci_method == f"t-interval over {len(pairs)} seeds"
            p_values.append(test.pvalue)
        else:
            # One seed: the test-record bootstrap scores the saved predictions as the trainer did.
            (finetune, scratch), = pairs
            with np.load(study / finetune["predictions_test"]) as a, \
                    np.load(study / scratch["predictions_test"]) as b:
                y_true, prob_ft, prob_sc = align_predictions(dict(a), dict(b))
            assert weighted_f1(y_true, prob_ft) - weighted_f1(y_true, prob_sc) == pytest.approx(
                row.gain, abs=1e-6)
            assert row.ci_low <= row.gain <= row.ci_high
            assert row.ci_method.startswith(SINGLE_SEED_LABEL)
            assert row.verdict == "single seed: no verdict" and pd.isna(row.p_value)
            p_values.append(math.nan)
    # The family is larger than this table (pooled and per-label tests too): Holm over the
    # table alone is a lower bound of each adjusted p-value.
    adjusted = holm(p_values)
    for row, p_holm in zip(gains.itertuples(), adjusted):
        if math.isnan(p_holm):
            assert pd.isna(row.p_holm)
            continue
        assert row.p_holm >= p_holm - 1e-12
        expected = ("no clear difference" if not row.p_holm < 0.05
                    else "fine-tune better" if row.gain > 0 else "scratch better")
        assert row.verdict == expected


def _check_convergence(table: pd.DataFrame, results: dict) -> None:
    assert len(table) == sum(key.startswith("finetune__") for key in results)
    for row in table.itertuples():
        finetune, scratch = next((ft, sc) for ft, sc in _pairs(row, results)
                                 if ft["cell"]["seed"] == row.seed)
        curves = [[h[_selection_column(r)] for h in r["history"]] for r in (finetune, scratch)]
        for curve, other, column in ((curves[0], curves[1], "finetune_reaches_scratch_best"),
                                     (curves[1], curves[0], "scratch_reaches_finetune_best")):
            reached = [epoch for epoch, score in enumerate(curve, 1) if score >= max(other)]
            assert str(getattr(row, column)) == (str(reached[0]) if reached else "never")
        common = min(map(len, curves))  # areas over the epochs both runs have
        assert row.common_epochs == common
        assert row.finetune_area == pytest.approx(np.mean(curves[0][:common]))
        assert row.scratch_area == pytest.approx(np.mean(curves[1][:common]))


def _check_pooled_findings(text: str, results: dict) -> None:
    """Findings 1 and 2: the mean gain per downstream (upstream) dataset with a t-interval over
    model x seed clusters, each cluster the mean of its full-size gains."""
    findings = text.split("## Findings")[1].split("3. **Gain")[0]
    full = []
    for result in results.values():
        cell = result["cell"]
        if cell["kind"] == "finetune" and cell["train_size"] is None:
            model_part = cell["key"].split("__")[2]  # the model and its variant
            scratch = results[f"scratch__{cell['dataset']}__{model_part}__seed{cell['seed']}"]
            if not learned(result) and not learned(scratch):
                continue  # both runs did not learn: no gain to pool
            full.append((cell, result["metrics"]["test_weighted_f1"]
                         - scratch["metrics"]["test_weighted_f1"]))
    for by in ("dataset", "upstream"):
        for name in {cell[by] for cell, _ in full}:
            clusters: dict = {}
            for cell, gain in full:
                if cell[by] == name:
                    clusters.setdefault((cell["key"].split("__")[2], cell["seed"]),
                                        []).append(gain)
            means = [np.mean(gains) for gains in clusters.values()]
            expected = f"{np.mean(means):+.4f}"
            if len(means) >= 2 and np.std(means) > 0:
                low, high = scipy_stats.ttest_1samp(means, 0.0).confidence_interval()
                expected += f" (95% CI {low:+.4f} to {high:+.4f}, t-interval over {len(means)}"
            assert expected in findings, (by, name, expected)


def _selection_column(result: dict) -> str:
    """The history column the run selected its epoch on, as the trainer recorded it.

    Result files written before the trainer recorded ``selection_metric`` name it
    ``selection_<split>_weighted_f1``.
    """
    named = result["metrics"].get("selection_metric")
    if named in result["history"][0]:
        return named
    return next(c for c in result["history"][0] if c.startswith("selection_"))
