"""A user's own backbone, registered in a separate module and loaded with `--import`."""

from __future__ import annotations

import json
import sys
import textwrap

import pandas as pd
import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.extensions import import_extensions
from ecg_tl_keras.models import available_backbones, get_backbone_spec, unregister_backbone
from ecg_tl_keras.testing import BackboneTestCase, check_backbone

TINYCNN = textwrap.dedent('''
    """A user's backbone: two strided convolutions, registered through the public API."""
    import keras

    from ecg_tl_keras.models import register_backbone


    @register_backbone("tinycnn", family="cnn", stages=("conv1", "conv2"),
                       default_kwargs={"filters": 6}, cpu_samples_per_s=4000)
    def tinycnn(input_shape=(1000, 12), filters=8):
        inputs = keras.Input(shape=input_shape)
        x = keras.layers.Conv1D(filters, 7, strides=4, activation="relu", name="conv1")(inputs)
        x = keras.layers.Conv1D(filters, 5, strides=4, activation="relu", name="conv2")(x)
        x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
        return keras.Model(inputs, x, name="backbone")
''')

PLAN = """
upstream = ["ptbxl"]
downstream = ["ptbxl", "georgia"]
models = ["tinycnn"]
seeds = 1
epochs = 1
finetune = "full"
select_on = "val"
batch_size = 32
lr = 0.01
[train]
val_fold = 0
"""


@pytest.fixture
def tinycnn(tmp_path):
    """The path of a module registering `tinycnn`; unregistered and unloaded afterwards."""
    path = tmp_path / "tinycnn.py"
    path.write_text(TINYCNN)
    yield path
    if "tinycnn" in available_backbones():
        unregister_backbone("tinycnn")
    sys.modules.pop("tinycnn", None)


def test_import_registers_a_complete_spec_that_passes_the_harness(tinycnn):
    assert "tinycnn" not in available_backbones()
    assert import_extensions([str(tinycnn)]) == ["tinycnn"]
    spec = get_backbone_spec("tinycnn")
    assert (spec.family, spec.stages, spec.default_kwargs["filters"]) == (
        "cnn", ("conv1", "conv2"), 6)
    summary = check_backbone("tinycnn")
    assert summary["features"] == 6 and summary["stages"] == ["conv1", "conv2"]


@pytest.mark.slow
def test_a_user_backbone_runs_the_backbone_test_case_under_jax_too(tinycnn):
    pytest.importorskip("jax")
    import_extensions([str(tinycnn)])
    summary = BackboneTestCase().run_backbone_test("tinycnn", input_shape=(64, 12))
    assert set(summary["policies"]) == {"float32", "mixed_float16"}
    jax = summary["backends"]["jax"]  # the child process imported tinycnn.py to register it
    assert jax["features"] == summary["features"] == 6 and len(jax["fit"]["loss"]) == 1


def test_import_by_module_name_from_the_current_folder(tinycnn, monkeypatch):
    monkeypatch.chdir(tinycnn.parent)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tinycnn.parent))])
    assert import_extensions(["tinycnn"]) == ["tinycnn"]
    assert get_backbone_spec("tinycnn").family == "cnn"


@pytest.mark.parametrize("module, message", [
    ("no_such_module_xyz", "--import no_such_module_xyz: ModuleNotFoundError"),
    ("missing/file.py", "--import missing/file.py: FileNotFoundError"),
])
def test_import_errors_are_one_line_exit_2(module, message, capsys):
    assert cli.main(["--import", module, "study", "--help"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_module_that_fails_is_named(tmp_path, capsys):
    broken = tmp_path / "broken_backbone.py"
    broken.write_text("from ecg_tl_keras.models import register_backbone\n"
                      "register_backbone('gru')(lambda input_shape=(1000, 12): None)\n")
    assert cli.main(["--import", str(broken), "study", "--help"]) == 2
    assert "broken_backbone.py: ValueError: backbone 'gru' is already registered" in (
        capsys.readouterr().err)
    sys.modules.pop("broken_backbone", None)


def test_unknown_backbone_in_a_plan_points_to_import(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    assert cli.main(["study", "run", "--plan", str(plan), "--out", str(tmp_path / "s"),
                     "--dry-run"]) == 2
    assert "unknown model(s) tinycnn" in capsys.readouterr().err


@pytest.mark.slow
def test_user_backbone_through_train_plan_dry_run_study_and_report(
        tinycnn, tmp_path, ptbxl_built, data_root, capsys):
    imports = ["--import", str(tinycnn)]
    assert cli.main(imports + ["train", "--data", str(ptbxl_built), "--model", "tinycnn",
                               "--out", str(tmp_path / "run"), "--epochs", "1",
                               "--batch-size", "32", "--val-fold", "0"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["model"] == "tinycnn"
    assert (tmp_path / "run" / "best.keras").is_file()

    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    study = ["study", "run", "--plan", str(plan), "--data-root", str(data_root),
             "--out", str(tmp_path / "study")]
    capsys.readouterr()
    assert cli.main(imports + study + ["--dry-run"]) == 0
    dry_run = capsys.readouterr().out
    assert "3 cells" in dry_run and "tinycnn 4000" in dry_run and "not counted (?)" not in dry_run

    assert cli.main(imports + study) == 0
    assert cli.main(imports + ["study", "report", str(tmp_path / "study"),
                               "--out", str(tmp_path / "report")]) == 0
    cells = pd.read_csv(tmp_path / "report" / "tables" / "cells.csv")
    assert len(cells) == 3 and set(cells["model"]) == {"tinycnn"}
    assert set(cells["family"].str.lower()) == {"cnn"}


@pytest.mark.slow
def test_transformer1d_trains_and_is_advised_with_a_user_backbone(
        tinycnn, tmp_path, ptbxl_built, georgia_built):
    imports = ["--import", str(tinycnn)]
    for model in ("transformer1d", "tinycnn"):  # trained on 64 records: what is tested is
        # that each trains and is advised, which any amount of data shows
        assert cli.main(imports + ["train", "--data", str(ptbxl_built), "--model", model,
                                   "--out", str(tmp_path / model), "--epochs", "1",
                                   "--batch-size", "32", "--train-size", "64",
                                   "--val-fold", "0"]) == 0
    assert cli.main(imports + ["advise", "--data", str(georgia_built), "--stage", "score",
                               "--checkpoint", str(tmp_path / "transformer1d" / "best.keras"),
                               "--checkpoint", str(tmp_path / "tinycnn" / "best.keras"),
                               "--val-fold", "0", "--out", str(tmp_path / "advice")]) == 0
    advice = (tmp_path / "advice" / "advice.json").read_text()
    assert "transformer1d" in advice and "tinycnn" in advice and "incompatible" not in advice


@pytest.mark.slow
def test_user_metric_is_logged_monitored_and_evaluated(brier_module, tinycnn, tmp_path,
                                                      ptbxl_built, capsys):
    # the user's backbone too: its epochs take milliseconds, and the metric is what is tested
    imports = ["--import", str(brier_module), "--import", str(tinycnn)]
    run = tmp_path / "run"
    assert cli.main(imports + ["train", "--data", str(ptbxl_built), "--model", "tinycnn",
                               "--out", str(run), "--epochs", "2", "--batch-size", "64",
                               "--train-size", "120", "--val-fold", "0",
                               "--monitor", "val_brier"]) == 0
    history = pd.read_csv(run / "history.csv")
    assert {"val_brier", "test_brier", "val_weighted_f1"} <= set(history.columns)
    assert history["val_brier"].between(0, 1).all()
    metrics = json.loads((run / "metrics.json").read_text())
    # lower is better: the best epoch is the one with the smallest val_brier
    assert metrics["best_epoch"] == int(history["val_brier"].idxmin()) + 1
    assert metrics["monitor"] == "val_brier" and "test_brier" in metrics
    capsys.readouterr()
    assert cli.main(imports + ["evaluate", "--checkpoint", str(run / "best.keras"),
                               "--data", str(ptbxl_built), "--out", str(tmp_path / "e.json")]) == 0
    shown = capsys.readouterr().out
    value = json.loads((tmp_path / "e.json").read_text())["metrics"]["brier"]
    assert f"brier      {value:.4f}" in shown
    assert value == pytest.approx(metrics["test_brier"], abs=1e-6)
