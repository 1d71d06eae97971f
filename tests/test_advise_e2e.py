"""End to end on real records: a folder dataset of Georgia (CinC) and PTB-XL records with a
labels.csv is built, a PTB-XL checkpoint is pre-trained, and ``ecg-tl-keras advise`` runs all
three stages (tiny: 1 epoch, 2 seeds; minutes on 2 CPU cores); and ``advise`` on the demo's
small set with the quick demo's pre-trained checkpoint, ``--epochs 5`` and its budget rule
reports only runs that learned, or names those that did not."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from conftest import QUICK_DEMO_GROUP
from folder_fixtures import make_folder_release


@pytest.mark.slow
def test_folder_dataset_builds_trains_and_is_advised_on(shared_data, ptbxl_built, tmp_path,
                                                       capsys):
    # The commands run in this process (cli.main): the process boundary (exit status, one error
    # line, console) is tested in test_cli.py; here, what the commands compute.
    from ecg_tl_keras import cli
    from ecg_tl_keras.models import build_model
    from ecg_tl_keras.training import TrainConfig, train
    from ecg_tl_keras.training.checkpoints import save_checkpoint

    release = make_folder_release(tmp_path / "mine", shared_data, ptbxl_count=60, fmt212_count=10,
                                  edf_count=3)
    from tfrecords_builder.cli import main as build_main

    assert build_main(["folder", "--source", str(release.source), "--labels",
                       str(release.labels), "--name", "mine", "--out", str(tmp_path / "out"),
                       "--no-progress", "--workers", "0"]) == 0, capsys.readouterr().err
    data = tmp_path / "out" / "mine"
    assert json.loads((data / "manifest.json").read_text())["dataset"] == "mine"

    train(TrainConfig(data=str(ptbxl_built), model="gru", out=str(tmp_path / "ptbxl-gru"),
                      epochs=1, batch_size=32, train_size=120, verbose=0))
    old = build_model("gru", 2, input_shape=(500, 12))
    save_checkpoint(old, tmp_path / "short.keras", {"labels": ["a", "b"], "model": "gru"})

    advice_dir = tmp_path / "advice"
    assert cli.main(["advise", "--data", str(data),
                     "--checkpoint", str(tmp_path / "ptbxl-gru" / "best.keras"),
                     "--checkpoint", str(tmp_path / "short.keras"), "--out", str(advice_dir),
                     "--seeds", "2", "--top", "1", "--epochs", "1", "--batch-size", "16"]) == 0, (
        capsys.readouterr().err[-3000:])
    advice = json.loads((advice_dir / "advice.json").read_text())
    assert advice["stages_done"] == ["score", "probe", "finetune"]
    usable, unusable, baseline = advice["candidates"]
    assert usable["compatible"] and usable["upstream"] == "ptbxl" and usable["rank"] in (1, 2)
    assert set(usable["scores"]) >= {"melep", "logme", "probe_val_f1", "probe_test_f1"}
    assert not unusable["compatible"] and "500 samples" in unusable["reason"]
    # every ranking holds the random-encoder baseline of each architecture, one per seed
    assert (baseline["name"], baseline["kind"], baseline["seeds"]) == (
        "random encoder (baseline): gru", "baseline", [0, 1])
    assert {usable["rank"], baseline["rank"]} == {1, 2} and baseline["of"] == ["ptbxl-gru"]
    assert list(advice["finetune"]) == ["ptbxl-gru"]  # a baseline is never fine-tuned

    measured = advice["finetune"]["ptbxl-gru"]
    for seed, gain in zip(measured["seeds"], measured["gains"]):
        tuned = json.loads((advice_dir / "runs" / "ptbxl-gru" / f"seed{seed}" / "metrics.json")
                           .read_text())
        scratch = json.loads((advice_dir / "runs" / "scratch-gru" / f"seed{seed}" / "metrics.json")
                             .read_text())
        assert tuned["finetune_from"].endswith("best.keras") and scratch["finetune_from"] is None
        assert tuned["select_on"] == scratch["select_on"] == "val"
        assert gain == pytest.approx(tuned["test_weighted_f1"] - scratch["test_weighted_f1"])
    interval = measured["interval"]  # None when no seed's two runs both learned
    opening = {"positive": "Start from ptbxl-gru", "unclear": "No evidence",
               "negative": "Pre-training hurts", "none": "did not vary", "single-seed": "one seed",
               "not-robust": "not robust"}[interval["verdict"]] if interval else "no gain"
    assert opening.lower() in advice["recommendation"].lower()
    text = (advice_dir / "advice.md").read_text()
    assert advice["recommendation"] in text and "short (" in text and "Caveats" in text
    assert (advice_dir / "advice.png").stat().st_size > 1000


def selection_scores(run: Path) -> tuple[float, float]:
    """A run's selected-epoch weighted F1 and macro AUC on the selection split, from its files."""
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["select_on"] == "val"
    with open(run / "history.csv", newline="") as handle:
        row = list(csv.DictReader(handle))[metrics["best_epoch"] - 1]
    return float(row["val_weighted_f1"]), float(row["val_macro_auc"] or "nan")


@pytest.mark.slow
@pytest.mark.xdist_group(QUICK_DEMO_GROUP)
def test_advise_on_the_demos_small_set_recommends_only_from_runs_that_learned(quick_demo, tmp_path,
                                                                            capsys):
    """The issue's new user: ``advise --data ptbxl_small --checkpoint CKPT --epochs 5`` after
    ``demo --quick`` (CKPT: its pre-train on ``ptbxl``, run by test_demo.py's quick demo and
    shared with it; top 2, the budget rule; 2 seeds instead of the default 3, the fewest that
    give an interval: each seed is two more training runs). Every run either learned by the
    study's rule on the selection split or is named in advice.md as one that did not; the budget
    is stated; with the fitted budget the runs learn, so a gain is measured."""
    from ecg_tl_keras import cli
    from ecg_tl_keras.advise.budget import MIN_TOTAL_STEPS, fit_budget
    from ecg_tl_keras.advise.features import load_target
    from ecg_tl_keras.demo import UPSTREAM
    from ecg_tl_keras.study.learning import did_not_learn
    from ecg_tl_keras.study.results import load_results
    from ecg_tl_keras.study.stats import no_skill_baselines

    demo_out, done, console = quick_demo
    assert done.returncode == 0, console[-3000:]
    data = demo_out / "data"
    (pretrain,) = [r for r in load_results(demo_out / "study-quick")
                   if r["cell"]["kind"] == "scratch" and r["cell"]["dataset"] == UPSTREAM]
    assert pretrain["cell"]["train_size"] is None and pretrain["cell"]["seed"] == 0
    (tmp_path / "pre").mkdir()  # the candidate is named after its run folder: "pre"
    shutil.copyfile(demo_out / "study-quick" / pretrain["run_dir"] / "best.keras",
                    tmp_path / "pre" / "best.keras")
    advice_dir = tmp_path / "advice"
    # in this process, as above: the process boundary is tested in test_cli.py
    assert cli.main(["advise", "--data", str(data / "ptbxl_small"),
                     "--checkpoint", str(tmp_path / "pre" / "best.keras"), "--out", str(advice_dir),
                     "--epochs", "5", "--seeds", "2"]) == 0, capsys.readouterr().err[-3000:]
    advice = json.loads((advice_dir / "advice.json").read_text())
    text = (advice_dir / "advice.md").read_text()

    target = load_target(data / "ptbxl_small", val_fold=8)
    budget = advice["budget"]
    assert budget == fit_budget(len(target.train), epochs=5).to_json()
    assert budget["batch_size"] < 256 and budget["total_steps"] >= MIN_TOTAL_STEPS
    assert f"Training budget: {budget['train_records']} training records, batch " \
           f"{budget['batch_size']}" in text and "5 epochs (--epochs)" in text

    constant = no_skill_baselines(target.val.y, None)["constant"]
    assert advice["baselines"]["constant_val_f1"] == pytest.approx(constant)
    measured = advice["finetune"]["pre"]
    for seed in measured["seeds"]:
        for name, label in (("pre", "fine-tuning pre"),
                            ("scratch-resnet1d18", "training resnet1d18 from scratch")):
            f1, auc = selection_scores(advice_dir / "runs" / name / f"seed{seed}")
            role = "finetune" if name == "pre" else "scratch"
            learned = not did_not_learn(f1, constant, auc)
            assert measured[f"{role}_learned"][measured["seeds"].index(seed)] == learned
            assert learned or f"- {label}, seed {seed}: weighted F1 {f1:.3f}" in text
    compared = measured["compared_seeds"]
    assert compared == [seed for seed, tuned, scratch in zip(
        measured["seeds"], measured["finetune_learned"], measured["scratch_learned"])
        if tuned and scratch]
    # the fitted budget is enough: runs learn and the advice measures a gain over them
    assert compared and "Neither run learned" not in advice["recommendation"]
    assert measured["interval"]["method"] == f"t-interval over {len(compared)} seeds"
    assert advice["recommendation"] in text
