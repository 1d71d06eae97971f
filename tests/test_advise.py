"""``ecg-tl-keras advise``: transferability scores, probe, candidates, advice text, command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from ecg_tl_keras.advise import advisor, candidates, decision, report
from ecg_tl_keras.training.checkpoints import input_mismatch
from ecg_tl_keras.advise.leep import melep, pairwise_leep
from ecg_tl_keras.advise.logme import logme
from ecg_tl_keras.advise.probe import linear_probe

PROJECT_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- MELEP

def melep_by_loops(theta: np.ndarray, y: np.ndarray) -> float:
    """MELEP written out as in the paper: per (target label, source output) binary LEEP."""
    n = len(y)
    per_label = []
    for label in range(y.shape[1]):
        values = []
        for output in range(theta.shape[1]):
            p = theta[:, output]
            joint = np.zeros((2, 2))
            for record in range(n):
                joint[int(y[record, label]), 0] += (1 - p[record]) / n
                joint[int(y[record, label]), 1] += p[record] / n
            conditional = joint / joint.sum(axis=0)
            values.append(np.mean([
                math.log(conditional[int(y[r, label]), 0] * (1 - p[r])
                         + conditional[int(y[r, label]), 1] * p[r]) for r in range(n)]))
        per_label.append(-np.mean(values))
    return float(np.average(per_label, weights=y.mean(axis=0)))


def test_melep_equals_the_papers_definition_written_as_loops():
    rng = np.random.default_rng(1)
    theta = rng.uniform(0.01, 0.99, size=(60, 4))
    y = (rng.uniform(size=(60, 3)) < [0.2, 0.5, 0.7]).astype(int)
    assert melep(theta, y) == pytest.approx(melep_by_loops(theta, y), rel=1e-10)


def test_melep_prefers_outputs_that_predict_the_target():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(200, 2))
    informative = np.clip(y + rng.normal(0, 0.2, size=y.shape), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, size=y.shape)
    assert melep(informative, y) < melep(noise, y)
    assert (pairwise_leep(noise, y) <= 0).all()


def test_melep_rejects_mismatched_records():
    with pytest.raises(ValueError, match="same records"):
        melep(np.zeros((3, 2)), np.zeros((4, 2)))


# ---------------------------------------------------------------- LogME

def evidence_by_optimizer(features: np.ndarray, target: np.ndarray) -> float:
    """max over alpha, beta of log N(y; 0, F F^T / alpha + I / beta), per record."""
    n = len(target)
    gram = features @ features.T

    def negative(log_params):
        alpha, beta = np.exp(log_params)
        covariance = gram / alpha + np.eye(n) / beta
        sign, log_det = np.linalg.slogdet(covariance)
        quadratic = target @ np.linalg.solve(covariance, target)
        return 0.5 * (quadratic + log_det + n * np.log(2 * np.pi))

    best = minimize(negative, x0=np.zeros(2), method="Nelder-Mead",
                    options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    return -best.fun / n


@pytest.mark.parametrize("n, d", [(80, 5), (30, 60)], ids=["n>d", "n<d"])
def test_logme_is_the_maximized_evidence(n, d):
    rng = np.random.default_rng(3)
    features = rng.normal(size=(n, d))
    y = (features[:, :2] @ rng.normal(size=(2, 2)) + rng.normal(size=(n, 2)) > 0).astype(float)
    expected = np.mean([evidence_by_optimizer(features, y[:, k]) for k in range(2)])
    assert logme(features, y) == pytest.approx(expected, abs=2e-3)


# ---------------------------------------------------------------- linear probe

def test_probe_selects_on_val_and_never_looks_at_test_labels():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, size=(300, 3))
    x = y + 0.8 * rng.normal(size=(300, 3))
    first = linear_probe(x[:150], y[:150], x[150:220], y[150:220], x[220:], y[220:])
    shuffled = linear_probe(x[:150], y[:150], x[150:220], y[150:220], x[220:],
                            rng.permutation(y[220:]))
    assert first.c == shuffled.c and first.val_weighted_f1 == shuffled.val_weighted_f1
    assert first.test_weighted_f1 > shuffled.test_weighted_f1
    assert first.val_weighted_f1 > 0.6


# ---------------------------------------------------------------- candidates

MANIFEST = {"fs": 100, "samples": 1000, "leads": ["I", "II", "V1"]}


@pytest.mark.parametrize("metadata, shape, needles", [
    ({"fs": 500}, (1000, 3), ["500 Hz"]),
    ({}, (500, 3), ["500 samples"]),
    ({"leads": ["I", "II", "V2"]}, (1000, 3), ["I,II,V2"]),
    ({}, (1000, 12), ["12 leads"]),
])
def test_incompatible_input_is_explained(metadata, shape, needles):
    reason = input_mismatch(metadata, shape, MANIFEST)
    assert reason is not None and all(needle in reason for needle in needles)
    assert input_mismatch({"fs": 100, "leads": MANIFEST["leads"]}, (1000, 3), MANIFEST) is None


def write_study_result(study: Path, key: str, roles: list, dataset: str, model: str,
                       train_size=None) -> None:
    (study / "results").mkdir(parents=True, exist_ok=True)
    cell = {"key": key, "roles": roles, "dataset": dataset, "model": model, "seed": 0,
            "train_size": train_size}
    (study / "results" / f"{key}.json").write_text(json.dumps(
        {"format": 1, "cell": cell, "metrics": {}, "history": [], "run_dir": f"runs/{key}"}))


def test_a_study_folder_gives_its_pretrains(tmp_path):
    study = tmp_path / "study"
    write_study_result(study, "scratch__ptbxl__gru__seed0", ["pretrain", "scratch"], "ptbxl", "gru")
    write_study_result(study, "scratch__ptb__gru__seed0", ["scratch"], "ptb", "gru")
    write_study_result(study, "finetune__ptbxl-to-ptb__gru__seed0", ["finetune"], "ptb", "gru")
    single = tmp_path / "other" / "best.keras"
    single.parent.mkdir()
    single.write_bytes(b"")
    found = candidates.gather([study, single, study])
    assert [c.name for c in found] == ["ptbxl-gru-seed0", "other"]
    assert found[0].path == study / "runs" / "scratch__ptbxl__gru__seed0" / "best.keras"
    assert (found[0].model, found[0].upstream) == ("gru", "ptbxl")
    with pytest.raises(ValueError, match="nowhere.keras: not found"):
        candidates.gather([tmp_path / "nowhere.keras"])


# ---------------------------------------------------------------- advice text

def advice_with(intervals: dict) -> dict:
    """Advice whose fine-tune and scratch runs all learned (val wF1 above the constant's)."""
    entries = [{"name": name, "compatible": True, "rank": i + 1, "scores": {"logme": -i},
                "model": "gru", "upstream": "ptbxl", "path": name, "reason": None}
               for i, name in enumerate(intervals)]
    finetune = {name: {"seeds": list(range(seeds)), "finetune_val_f1": [val] * seeds,
                       "finetune_val_auc": [0.8] * seeds, "finetune_learned": [True] * seeds,
                       "scratch_val_f1": [0.45] * seeds, "scratch_val_auc": [0.8] * seeds,
                       "scratch_learned": [True] * seeds, "scratch_model": "gru",
                       "finetune_test_f1": [0.5] * seeds, "scratch_test_f1": [0.4] * seeds,
                       "compared_seeds": list(range(seeds)), "interval": interval}
                for name, (interval, seeds, val) in intervals.items()}
    return {"candidates": entries, "finetune": finetune, "ranked_by": "LogME",
            "baselines": {"constant_val_f1": 0.3, "constant_test_f1": 0.3},
            "budget": {"train_records": 130, "batch_size": 16, "epochs": 5, "lr": 0.0025,
                       "given": ["epochs"]},
            "learning_rule": "the rule", "not_learned": []}


def interval(estimate, low, high, verdict):
    return {"estimate": estimate, "low": low, "high": high, "verdict": verdict, "method": "t"}


def test_recommendation_follows_the_verdict_of_the_candidate_best_on_val():
    advice = advice_with({"A": (interval(0.04, 0.01, 0.07, "positive"), 3, 0.6),
                          "B": (interval(0.09, 0.05, 0.12, "positive"), 3, 0.5)})
    assert decision.recommendation(advice) == (
        "Start from A: +0.040 weighted F1 [+0.010, +0.070] over scratch, 3 seeds.")
    advice = advice_with({"A": (interval(0.01, -0.02, 0.04, "unclear"), 3, 0.6)})
    text = decision.recommendation(advice)
    assert text.startswith("No evidence that pre-training helps here")
    assert "train from scratch" in text
    advice = advice_with({"A": (interval(0.02, math.nan, math.nan, "single-seed"), 1, 0.6)})
    text = decision.recommendation(advice)
    assert "one seed" in text and "[" not in text
    advice = advice_with({"A": (interval(-0.05, -0.08, -0.02, "negative"), 3, 0.6)})
    assert "Train from scratch" in decision.recommendation(advice)
    advice = advice_with({"A": (None, 1, 0.6)})
    advice["finetune"] = {}
    assert "not a measured gain" in decision.recommendation(advice)


def test_report_files_are_written_without_nan(tmp_path):
    advice = advice_with({"A": (interval(0.02, math.nan, math.nan, "single-seed"), 1, 0.6)})
    advice.update(data={"path": "OUT/x", "train_records": 10}, stage="finetune",
                  stages_done=["score", "finetune"], recommendation="r", caveats=["c"])
    advice["candidates"].append({"name": "old", "compatible": False, "rank": None, "scores": {},
                                 "model": None, "upstream": None, "path": "old.keras",
                                 "reason": "input length 500 samples, data 1000"})
    report.write(advice, tmp_path)
    stored = json.loads((tmp_path / "advice.json").read_text())
    assert stored["finetune"]["A"]["interval"]["low"] is None
    text = (tmp_path / "advice.md").read_text()
    assert "old (old.keras): input length 500 samples, data 1000" in text
    assert "| A | 1 |" in text
    assert (tmp_path / "advice.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary file of the atomic writes left


# ---------------------------------------------------------------- the command

def run_advise(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecg_tl_keras", "advise", *map(str, args)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)


def test_command_errors_are_one_line(tmp_path, capsys):
    result = run_advise("--data", tmp_path / "none", "--checkpoint", tmp_path / "x.keras",
                        "--out", tmp_path / "advice")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]  # lines before it are TensorFlow's start-up log
    assert last.startswith("ecg-tl-keras: error:") and "x.keras" in last
    assert "Traceback" not in result.stderr
    # the same policy in this process (the process boundary is checked above): a bad flag value
    from ecg_tl_keras import cli

    assert cli.main(["advise", "--data", str(tmp_path), "--checkpoint", str(tmp_path), "--out",
                     str(tmp_path / "advice"), "--seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ecg-tl-keras: error:") and "seeds" in err


def test_unloadable_and_foreign_checkpoints_are_listed_not_crashed_on(tmp_path):
    import keras

    plain = keras.Sequential([keras.Input((1000, 12)), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    manifest = {"fs": 100, "samples": 1000, "leads": ["I"] * 12}
    found = candidates.gather([tmp_path / "plain.keras", tmp_path / "broken.keras"])
    for candidate in found:
        model, _ = candidates.load(candidate, manifest)
    assert "no 'head' layer" in found[0].reason
    assert "could not be loaded" in found[1].reason and model is None


def test_config_from_python_paths_is_json_ready(tmp_path):
    import dataclasses

    config = advisor.AdviseConfig(data=tmp_path / "d", checkpoints=[tmp_path / "a.keras"],
                                  out=tmp_path / "o", stage="score")
    assert json.loads(json.dumps(dataclasses.asdict(config)))["checkpoints"] == [
        str(tmp_path / "a.keras")]
    with pytest.raises(ValueError, match="stage must be one of score, probe, finetune"):
        advisor.AdviseConfig(data="d", checkpoints=["a"], out="o", stage="all")
