"""The study as published (issue 9): the paper-faithful and readout-ablation plans, per-family
settings, plan overrides, [build] checks and the training options behind them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.study.cells import expand_cells
from ecg_tl_keras.study.plan import load_plan, plan_differences, plan_from_dict
from ecg_tl_keras.study.runner import build_mismatches, run_study
from ecg_tl_keras.training.config import TrainConfig

RNNS = ("lstm", "bilstm", "gru")
MINI = dict(upstream=["georgia"], downstream=["ptbxl"], models=["resnet1d18", "lstm"], seeds=1,
            epochs=1, finetune="full", select_on="val", batch_size=8, lr=0.01)


def test_paper_faithful_dry_run_lists_162_cells_with_the_studys_settings(capsys, tmp_path):
    assert cli.main(["study", "run", "--plan", "paper-faithful", "--out", str(tmp_path),
                     "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "plan paper-faithful: 162 cells" in out and "selection split 'test'" in out
    assert out.count("  to do  ") == 162
    for line in ("select_on: 'val' -> 'test'", "[train] readout: (default) -> {'rnn': 'flatten'}",
                 "[train] input_scaling: (default) -> 'minmax'",
                 "[build] resample: (default) -> 'decimate'"):
        assert line in out
    assert "tfrecords_builder ribeiro --source RELEASE" in out and "--keep-padding" in out
    cells = expand_cells(load_plan("paper-faithful"))
    for cell in cells:
        train = dict(cell.train)
        assert train["select_on"] == "test" and train["input_scaling"] == "minmax"
        if cell.model in RNNS:
            assert (train["readout"], train["head"], train["dropout"]) == ("flatten", "linear", 0.0)
            assert cell.label == f"{cell.model}[flatten]"
        else:
            assert train["head"] == "mlp" and "readout" not in train and "dropout" not in train
    finetunes = [cell for cell in cells if cell.kind == "finetune"]
    keys = {cell.key for cell in cells}
    assert all(cell.depends_on in keys for cell in finetunes)


def test_paper_dry_run_prints_its_differences_from_paper_faithful(capsys, tmp_path):
    assert cli.main(["study", "run", "--plan", "paper", "--out", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "differences from plan paper-faithful" in out
    assert "select_on: 'test' -> 'val'" in out
    assert len(plan_differences(load_plan("paper"), load_plan("paper-faithful"))) == len(
        plan_differences(load_plan("paper-faithful"), load_plan("paper")))


def test_readout_ablation_crosses_recurrent_models_with_both_readouts():
    plan = load_plan("readout-ablation")
    cells = expand_cells(plan)
    per_seed = [cell for cell in cells if cell.seed == 0]
    labels = {cell.label for cell in per_seed}
    assert labels == {f"{m}[{r}]" for m in RNNS for r in ("last", "flatten")}
    # 5 datasets from scratch + 3 upstream x 4 downstream fine-tunes, per model and readout
    assert len(per_seed) == 6 * (5 + 3 * 4)
    assert len({cell.key for cell in cells}) == len(cells)
    for cell in per_seed:
        assert dict(cell.train)["readout"] == dict(cell.variant)["readout"]
        if cell.kind == "finetune":
            readout = dict(cell.variant)["readout"]
            assert cell.depends_on.endswith(f"__{cell.model}-{readout}__seed0")


@pytest.mark.parametrize("changes, message", [
    ({"train": {"head": {"cnn": "mlp", "lstm": "linear"}}}, "keyed by model family.*lstm"),
    ({"train": {"head": {}}}, "empty table"),
    ({"grid": {"readout": []}}, "non-empty list"),
    ({"grid": {"readout": ["last"]}, "train": {"readout": "flatten"}}, "both .train. and .grid."),
    ({"grid": {"epochs": [1, 2]}}, "may not set epochs"),
    ({"build": {"resample": "decimate", "sharding": 2}}, "unknown builder option.*sharding"),
    ({"build": {"keep_padding": {"code": True}}}, "keyed by dataset.*code"),
])
def test_plan_tables_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        plan_from_dict({**MINI, **changes}, name="mini")


def test_per_family_values_apply_to_their_family_only():
    plan = plan_from_dict({**MINI, "train": {"head": {"cnn": "mlp"}, "val_fold": 0}}, name="mini")
    assert plan.train_for("resnet1d18") == {"head": "mlp", "val_fold": 0}
    assert plan.train_for("lstm") == {"val_fold": 0}


def test_overrides_shrink_a_plan_and_bad_ones_are_named():
    plan = load_plan("readout-ablation", overrides=[
        'upstream=["ptbxl"]', 'models=["gru"]', "seeds=1", "train.val_fold=0", "epochs=1"])
    assert (plan.upstream, plan.models, plan.seeds, plan.epochs) == (("ptbxl",), ("gru",), (0,), 1)
    assert plan.train == {"val_fold": 0}
    with pytest.raises(ValueError, match="bad --set 'epochs'"):
        load_plan("smoke", overrides=["epochs"])
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        load_plan("smoke", overrides=["epochs=0"])


def test_runner_refuses_data_not_built_as_the_plan_needs(tmp_path):
    manifest = {"labels": ["NORM"], "samples": 1000, "leads": ["I"],
                "splits": {"train": {"records": 10}, "test": {"records": 5}},
                "build_options": {"resample": "poly", "keep_unlabeled": False,
                                  "reader_options": {"keep_padding": False}}}
    for dataset in ("ptbxl", "georgia"):
        (tmp_path / dataset).mkdir()
        (tmp_path / dataset / "manifest.json").write_text(json.dumps(manifest))
    plan = load_plan("paper-faithful",
                     overrides=['upstream=["georgia"]', 'downstream=["ptbxl"]'])
    assert build_mismatches(plan, "ptbxl", manifest) == [
        "keep_unlabeled: built with False, the plan needs True",
        "resample: built with 'poly', the plan needs 'decimate'"]
    with pytest.raises(ValueError, match="georgia/manifest.json: not built as plan paper-faithful "
                                         "needs.*--resample decimate --overwrite"):
        run_study(plan, tmp_path, tmp_path / "study", log=lambda line: None,
                  train_fn=lambda config: pytest.fail("must not train"))
    faithful = {**manifest, "build_options": {"resample": "decimate", "keep_unlabeled": True}}
    assert build_mismatches(plan, "ptbxl", faithful) == []


@pytest.mark.parametrize("field, value", [("readout", "mean"), ("input_scaling", "robust"),
                                          ("dropout", 1.0), ("skip_release_val_fold", "yes")])
def test_train_config_rejects_bad_faithful_options(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(data="d", model="lstm", out="o", **{field: value})


def test_train_cli_takes_the_faithful_flags():
    import argparse

    from ecg_tl_keras.training.cli_train import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--data", "d", "--model", "gru", "--out", "o", "--readout",
                              "flatten", "--input-scaling", "minmax", "--dropout", "0",
                              "--select-on", "test", "--skip-release-val-fold"])
    config = config_from_args(args)
    assert (config.readout, config.input_scaling, config.dropout,
            config.skip_release_val_fold) == ("flatten", "minmax", 0.0, True)


def test_fine_tuning_keeps_the_checkpoints_architecture():
    from ecg_tl_keras.models import build_model
    from ecg_tl_keras.training.finetune import architecture

    model = build_model("gru", 2, input_shape=(20, 12), readout="flatten", dropout=0.0,
                        input_scaling="minmax", head="linear")
    assert architecture(model) == {"head": "linear", "readout": "flatten", "dropout": 0.0,
                                   "input_scaling": "minmax"}
    resnet = build_model("resnet1d18", 2, input_shape=(64, 12), head="mlp")
    assert architecture(resnet) == {"head": "mlp", "readout": None, "dropout": None,
                                    "input_scaling": "zscore"}


@pytest.mark.parametrize("skip", [False, True])
def test_ptbxl_trains_on_strat_folds_1_to_8_under_test_selection_when_asked(ptbxl_built, skip):
    from ecg_tl_keras import datasets
    from ecg_tl_keras.training.data import plan_data

    config = TrainConfig(data=str(ptbxl_built), model="gru", out="o", select_on="test",
                         skip_release_val_fold=skip)
    folds = datasets.load_index(str(ptbxl_built), "train")["fold"]
    data = plan_data(config, datasets.BuiltDataset.open(ptbxl_built))
    expected = int((folds != 8).sum()) if skip else len(folds)
    assert data.train_records == expected
    assert (folds == 8).any()  # the sample has strat_fold 9 records, so the two cases differ
    assert data.train_filters == ({"exclude_folds": [8]} if skip else {})


@pytest.mark.slow
def test_readout_ablation_in_miniature_runs_and_its_report_separates_readouts(
        tmp_path, data_root, capsys):
    study, report = tmp_path / "study", tmp_path / "report"
    tiny = ["--set", 'upstream=["ptbxl"]', "--set", 'downstream=["ptbxl", "georgia"]',
            "--set", 'models=["gru"]', "--set", "seeds=1", "--set", "epochs=1",
            "--set", "batch_size=64", "--set", "train.val_fold=0"]
    assert cli.main(["study", "run", "--plan", "readout-ablation", "--data-root", str(data_root),
                     "--out", str(study)] + tiny) == 0
    assert cli.main(["study", "report", str(study), "--out", str(report)]) == 0
    capsys.readouterr()
    cells = pd.read_csv(report / "tables" / "cells.csv")
    assert set(cells["model"]) == {"gru[last]", "gru[flatten]"}
    assert len(cells) == 6  # 2 readouts x (scratch ptbxl, scratch georgia, ptbxl -> georgia)
    gains = pd.read_csv(report / "tables" / "transfer_gain.csv")
    assert {"gru[last]", "gru[flatten]"} <= set(gains["model"])
    config = json.loads((study / "runs" / "finetune__ptbxl-to-georgia__gru-flatten__seed0"
                         / "config.json").read_text())
    assert json.dumps(config).count('"flatten"') >= 1
