"""``advise``'s training budget and its recommendation from runs that learned (synthetic scores)."""

from __future__ import annotations

import csv
import math

import pytest

from ecg_tl_keras.advise import decision, finetune
from ecg_tl_keras.advise.advisor import AdviseConfig
from ecg_tl_keras.advise.budget import (MIN_BATCH_SIZE, MIN_STEPS_PER_EPOCH, MIN_TOTAL_STEPS,
                                        STUDY_BATCH_SIZE, STUDY_EPOCHS, STUDY_LR, Budget,
                                        fit_budget)
from ecg_tl_keras.advise.candidates import Candidate

CONSTANT = 0.54  # the best constant predictor's selection-split weighted F1 in these tests


# ---------------------------------------------------------------- the budget rule

def test_data_large_enough_gets_exactly_the_studys_settings():
    budget = fit_budget(17000)
    assert (budget.batch_size, budget.epochs, budget.lr) == (STUDY_BATCH_SIZE, STUDY_EPOCHS,
                                                             STUDY_LR)
    assert budget.given == () and budget.steps_per_epoch == 67


def enough_full_steps(records: int, batch_size: int, epochs: int) -> bool:
    full = records // batch_size
    return full >= MIN_STEPS_PER_EPOCH and full * epochs >= MIN_TOTAL_STEPS


@pytest.mark.parametrize("records", [1, 5, 9, 40, 130, 131, 700, 2047, 2048, 5000])
@pytest.mark.parametrize("epochs", [None, 1, 5, 30])
def test_the_batch_is_the_largest_that_gives_enough_steps(records, epochs):
    budget = fit_budget(records, epochs=epochs)
    assert budget.epochs == (STUDY_EPOCHS if epochs is None else epochs)
    assert 1 <= budget.batch_size <= min(STUDY_BATCH_SIZE, records)
    assert (enough_full_steps(records, budget.batch_size, budget.epochs)
            or budget.batch_size == min(MIN_BATCH_SIZE, records))
    assert (budget.batch_size in (STUDY_BATCH_SIZE, records)
            or not enough_full_steps(records, budget.batch_size + 1, budget.epochs))
    assert budget.lr == pytest.approx(STUDY_LR * math.sqrt(budget.batch_size / STUDY_BATCH_SIZE))


def test_the_demos_small_set_with_five_epochs_gets_many_steps_not_five():
    study = fit_budget(130, batch_size=STUDY_BATCH_SIZE, epochs=5, lr=STUDY_LR)
    assert study.total_steps == 5  # what advise did before: one step per epoch
    fitted = fit_budget(130, epochs=5)
    assert fitted.total_steps >= MIN_TOTAL_STEPS and fitted.lr < STUDY_LR


def test_values_the_user_gives_are_kept_and_named_in_the_text():
    budget = fit_budget(130, batch_size=256, epochs=5, lr=0.01)
    assert (budget.batch_size, budget.epochs, budget.lr) == (256, 5, 0.01)
    assert set(budget.given) == {"batch_size", "epochs", "lr"}
    text = budget.text()
    assert "batch 256 (--batch-size)" in text and "5 epochs (--epochs)" in text
    assert "1 optimizer step per epoch, 5 in all" in text and "(--lr)" in text
    only_lr = fit_budget(130, lr=0.001)
    assert only_lr.lr == 0.001 and only_lr.batch_size == 16
    assert "the study's 256 or less" in only_lr.text() and "the study default" in only_lr.text()


def test_budget_round_trips_through_json_and_rejects_no_records():
    budget = fit_budget(130, epochs=5)
    stored = budget.to_json()
    assert stored["total_steps"] == budget.total_steps and Budget.from_json(stored) == budget
    with pytest.raises(ValueError, match="at least 1 training record"):
        fit_budget(0)


def test_advise_config_fits_what_the_user_did_not_give():
    config = AdviseConfig(data="d", checkpoints=["a"], out="o", epochs=5)
    assert config.batch_size is None and config.lr is None
    assert config.budget(130) == fit_budget(130, epochs=5)
    with pytest.raises(ValueError, match="batch_size"):
        AdviseConfig(data="d", checkpoints=["a"], out="o", batch_size=0)


def test_the_command_leaves_unset_budget_flags_to_the_rule():
    import argparse

    from ecg_tl_keras.advise import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    base = ["--data", "d", "--checkpoint", "a", "--out", "o"]
    args = parser.parse_args(base)
    assert (args.epochs, args.batch_size, args.lr, args.val_fold) == (None, None, None, 8)
    args = parser.parse_args(base + ["--batch-size", "32", "--epochs", "5", "--lr", "0.001"])
    assert (args.epochs, args.batch_size, args.lr) == (5, 32, 0.001)


# ---------------------------------------------------------------- measure: learned or not

def fake_trainer(scores: dict):
    """``trained_metrics`` writing a run's history: ``scores[(name, seed)] = (val_f1, val_auc,
    test_f1)`` at the selected epoch 2 of 3."""
    def trained_metrics(data, out, model, name, seed, settings, finetune_from=None, log=None):
        val_f1, val_auc, test_f1 = scores[(name, seed)]
        folder = finetune.run_dir(out, name, seed)
        folder.mkdir(parents=True)
        with open(folder / "history.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["epoch", "val_weighted_f1", "val_macro_auc"])
            writer.writerows([[1, 0.1, 0.4], [2, val_f1, val_auc], [3, 0.2, 0.45]])
        return {"best_epoch": 2, "select_on": "val", "best_selection_weighted_f1": val_f1,
                "test_weighted_f1": test_f1}
    return trained_metrics


def test_measure_compares_only_seeds_whose_two_runs_learned(tmp_path, monkeypatch):
    scores = {("A", 0): (0.70, 0.80, 0.66), ("scratch-gru", 0): (0.60, 0.75, 0.60),
              ("A", 1): (0.40, 0.50, 0.30), ("scratch-gru", 1): (0.62, 0.70, 0.61),  # A: no
              ("A", 2): (0.72, 0.85, 0.68), ("scratch-gru", 2): (0.61, 0.77, 0.60),
              ("A", 3): (0.45, 0.90, 0.50), ("scratch-gru", 3): (0.50, math.nan, 0.52)}
    monkeypatch.setattr(finetune, "trained_metrics", fake_trainer(scores))
    settings = finetune.RunSettings(5, 16, 0.0025, 8)
    result = finetune.measure(Candidate("A", tmp_path / "a.keras", model="gru"), "data",
                              tmp_path, [0, 1, 2, 3], settings, CONSTANT, log=lambda _: None)
    # seed 3: the fine-tune ranks (AUC 0.90) so it learned; the scratch run neither beats the
    # constant predictor nor has an AUC: it did not
    assert result["finetune_learned"] == [True, False, True, True]
    assert result["scratch_learned"] == [True, True, True, False]
    assert result["finetune_val_auc"] == [0.80, 0.50, 0.85, 0.90]
    assert result["compared_seeds"] == [0, 2]
    assert result["gains"] == pytest.approx([0.06, -0.31, 0.08, -0.02])
    assert result["interval"]["estimate"] == pytest.approx(0.07)
    assert result["interval"]["method"] == "t-interval over 2 seeds"


def test_measure_gives_no_interval_when_no_pair_learned(tmp_path, monkeypatch):
    scores = {("A", 0): (0.40, 0.50, 0.2), ("scratch-gru", 0): (0.70, 0.80, 0.6)}
    monkeypatch.setattr(finetune, "trained_metrics", fake_trainer(scores))
    result = finetune.measure(Candidate("A", tmp_path / "a.keras", model="gru"), "data",
                              tmp_path, [0], finetune.RunSettings(5, 16, 0.0025, 8), CONSTANT,
                              log=lambda _: None)
    assert result["compared_seeds"] == [] and result["interval"] is None


# ---------------------------------------------------------------- the recommendation

def runs(finetune_f1, scratch_f1, learned_ft, learned_sc, interval=None, model="gru"):
    seeds = list(range(len(finetune_f1)))
    compared = [s for s in seeds if learned_ft[s] and learned_sc[s]]
    return {"seeds": seeds, "finetune_val_f1": finetune_f1, "finetune_val_auc": [0.5] * len(seeds),
            "finetune_learned": learned_ft, "scratch_val_f1": scratch_f1,
            "scratch_val_auc": [0.5] * len(seeds), "scratch_learned": learned_sc,
            "scratch_model": model, "compared_seeds": compared, "interval": interval,
            "finetune_test_f1": [f1 - 0.1 for f1 in finetune_f1],
            "scratch_test_f1": [f1 - 0.1 for f1 in scratch_f1]}


def advice_of(finetune_runs: dict, probes: dict | None = None, given=("epochs",),
              batch_size=16) -> dict:
    probes = probes or {}
    candidates = [{"name": name, "path": f"{name}.keras", "model": "gru", "compatible": True,
                   "rank": rank, "scores": dict(zip(("probe_val_f1", "probe_learned"),
                                                    probes.get(name, ())))}
                  for rank, name in enumerate(finetune_runs, start=1)]
    return {"candidates": candidates, "finetune": finetune_runs, "ranked_by": "probe",
            "data": {"path": "OUT/mine", "val_records": 18},
            "baselines": {"constant_val_f1": CONSTANT, "constant_test_f1": CONSTANT},
            "budget": fit_budget(130, epochs=5, batch_size=batch_size if "batch_size" in given
                                 else None).to_json()}


POSITIVE = {"estimate": 0.05, "low": 0.01, "high": 0.09, "verdict": "positive", "method": "t"}


def test_when_neither_run_learned_nothing_is_recommended_and_the_fix_is_named():
    advice = advice_of({"A": runs([0.40, 0.41], [0.09, 0.09], [False, False], [False, False])},
                       given=("batch_size", "epochs"), batch_size=256)
    text = decision.recommendation(advice)
    assert text.startswith("Neither run learned with these settings (batch 256, 5 epochs, 5 "
                           "optimizer steps")
    assert "fine-tuning A and training gru from scratch" in text
    assert "Start from" not in text and "train from scratch" not in text.lower().split(
        "to change")[0]
    assert "leave out --batch-size 256 (the budget rule takes batch 8 here" in text
    assert "--epochs 10" in text
    assert len(decision.not_learned(advice)) == 4


def test_a_fine_tune_that_did_not_learn_is_named_and_not_recommended():
    advice = advice_of({"A": runs([0.40, 0.42], [0.70, 0.72], [False, False], [True, True])})
    text = decision.recommendation(advice)
    assert "Start from" not in text and "no gain over scratch is measured" in text
    assert "Fine-tuning A did not learn" in text
    assert "training gru from scratch did (selection-split weighted F1 0.710" in text
    assert decision.not_learned(advice) == [
        "fine-tuning A, seed 0: weighted F1 0.400, macro AUC 0.500",
        "fine-tuning A, seed 1: weighted F1 0.420, macro AUC 0.500"]


def test_a_scratch_run_that_did_not_learn_is_not_the_basis_of_a_gain():
    advice = advice_of({"A": runs([0.70, 0.72], [0.20, 0.22], [True, True], [False, False])})
    text = decision.recommendation(advice)
    assert "Start from" not in text and "no gain over scratch is measured" in text
    assert "Training gru from scratch did not learn" in text and "fine-tuning A did" in text


def test_the_gain_rests_on_the_seeds_that_learned_and_says_which_were_left_out():
    advice = advice_of({"A": runs([0.70, 0.30, 0.72], [0.60, 0.61, 0.62], [True, False, True],
                                  [True, True, True], interval=POSITIVE)})
    text = decision.recommendation(advice)
    assert text.startswith("Start from A: +0.050 weighted F1 [+0.010, +0.090] over scratch, "
                           "2 seeds.")
    assert "Seed 1 left out: a run did not learn" in text


def test_the_best_candidate_is_chosen_on_its_runs_that_learned():
    unclear = {**POSITIVE, "low": -0.01, "verdict": "unclear"}
    advice = advice_of({
        "A": runs([0.95, 0.60, 0.61], [0.6] * 3, [False, True, True], [True] * 3,
                  interval=POSITIVE),
        "B": runs([0.70, 0.70, 0.70], [0.6] * 3, [True] * 3, [True] * 3, interval=unclear)})
    assert decision.recommendation(advice).startswith("No evidence that pre-training helps "
                                                      "here (B:")


def test_a_probe_that_beats_both_paths_is_the_first_answer():
    advice = advice_of({"A": runs([0.60, 0.62], [0.58, 0.60], [True, True], [True, True],
                                  interval=POSITIVE)}, probes={"A": (0.75, True)})
    text = decision.recommendation(advice)
    assert text.startswith("A linear probe on A's frozen features beats both fine-tuning and "
                           "training from scratch on the selection split (weighted F1 0.750")
    assert "training gru from scratch 0.590; 18 records, no interval): train" in text
    assert "--finetune-from A.keras --finetune linear" in text
    assert "Fine-tune vs scratch: Start from A" in text


@pytest.mark.parametrize("probe", [(0.61, True), (0.90, False)])
def test_a_probe_that_does_not_beat_both_or_did_not_learn_is_not_recommended(probe):
    advice = advice_of({"A": runs([0.60, 0.62], [0.58, 0.60], [True, True], [True, True],
                                  interval=POSITIVE)}, probes={"A": probe})
    assert decision.recommendation(advice).startswith("Start from A")


def test_when_only_the_probe_learned_it_is_the_answer_and_the_runs_are_named():
    advice = advice_of({"A": runs([0.40, 0.41], [0.09, 0.09], [False, False], [False, False])},
                       probes={"A": (0.75, True)})
    text = decision.recommendation(advice)
    assert text.startswith("A linear probe on A's frozen features")
    assert "Fine-tune vs scratch: Neither run learned with these settings" in text



def test_runs_that_learned_on_different_seeds_give_no_gain():
    advice = advice_of({"A": runs([0.70, 0.40], [0.30, 0.65], [True, False], [False, True])})
    text = decision.recommendation(advice)
    assert text.startswith("No seed has a fine-tune and a scratch run that both learned")
    assert "Fine-tuning A learned best (selection-split weighted F1 0.700" in text
    assert "Start from" not in text and len(decision.not_learned(advice)) == 2


def test_advice_files_name_the_runs_that_did_not_learn_and_the_budget(tmp_path):
    import warnings

    from ecg_tl_keras.advise import report

    advice = advice_of({"A": runs([0.40, 0.41], [0.09, 0.09], [False, False], [False, False])},
                       given=("batch_size", "epochs"), batch_size=256)
    advice["candidates"][0].update(upstream="ptbxl", reason=None)
    advice.update(data={"path": "OUT/mine", "train_records": 130}, stage="finetune",
                  stages_done=["score", "finetune"], caveats=[], learning_rule="RULE",
                  recommendation=decision.recommendation(advice),
                  not_learned=decision.not_learned(advice))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the figure of no measured gain draws without warnings
        report.write(advice, tmp_path)
    text = (tmp_path / "advice.md").read_text()
    assert "Training budget: 130 training records, batch 256 (--batch-size)" in text
    assert "| A | 2 | 0/2, 0/2 |" in text and "| no run pair learned | 0 | no verdict |" in text
    assert "Best constant predictor (every label present): weighted F1 0.5400" in text
    assert "- training gru from scratch, seed 1: weighted F1 0.090, macro AUC 0.500" in text
    assert (tmp_path / "advice.png").stat().st_size > 1000


def test_an_advice_folder_of_other_settings_is_refused_before_anything_is_written(tmp_path):
    from ecg_tl_keras.training import TrainConfig
    from ecg_tl_keras.training.rundir import write_json_atomic

    folder = finetune.run_dir(tmp_path, "A", 0)
    folder.mkdir(parents=True)
    old = TrainConfig(data="d", model="gru", out=str(folder), epochs=100, batch_size=256,
                      lr=0.01, val_fold=8)
    write_json_atomic(folder / "config.json", {"config": old.to_dict()})
    finetune.check_earlier_runs(tmp_path, finetune.RunSettings(100, 256, 0.01, 8))
    with pytest.raises(ValueError, match=r"seed0 holds a run with other settings \(batch_size, "
                                         r"lr\) from an earlier advise: give advise another --out"):
        finetune.check_earlier_runs(tmp_path, finetune.RunSettings(100, 16, 0.0025, 8))
