"""One error policy for every command: bad input is one line and exit 2, Ctrl-C one line."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fast_backbone import NAME as FAST_MODEL
from fast_backbone import write_module

from ecg_tl_keras import cli

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(capsys, argv):
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("ecg-tl-keras: error: ")
    return err


def test_every_command_reports_a_missing_file_in_one_line(tmp_path, capsys):
    missing = str(tmp_path / "missing.keras")
    assert "manifest.json not found" in _one_line_error(
        capsys, ["evaluate", "--checkpoint", missing, "--data", str(tmp_path)])
    # predict: the checkpoint is checked first; a missing record is a failed row (exit 1)
    assert "missing.keras not found" in _one_line_error(
        capsys, ["predict", "--model", missing, "r.hea"])
    assert "manifest.json not found" in _one_line_error(
        capsys, ["train", "--data", str(tmp_path), "--model", "lstm", "--out", str(tmp_path)])
    assert "no result files" in _one_line_error(
        capsys, ["study", "report", str(tmp_path), "--out", str(tmp_path / "r")])


def test_study_run_with_a_missing_shard_is_one_line(ptbxl_built, georgia_built, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(ptbxl_built, root / "ptbxl")
    shutil.copytree(georgia_built, root / "georgia")
    shard = sorted((root / "ptbxl").glob("train-*.tfrecord"))[0]
    shard.unlink()
    err = _one_line_error(capsys, ["study", "run", "--plan", "smoke", "--data-root", str(root),
                                   "--out", str(tmp_path / "study")])
    assert f"shard {shard}" in err and "missing" in err


def test_interrupt_and_unexpected_errors():
    def interrupted(args):
        raise KeyboardInterrupt

    def bug(args):
        raise ZeroDivisionError("a bug")

    assert cli.run_command(interrupted, None) == 130
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        cli.run_command(bug, None)


def test_train_flags_are_the_config_fields():
    import argparse
    import dataclasses

    from ecg_tl_keras.training import cli_train
    from ecg_tl_keras.training.config import TrainConfig, cli_fields

    parser = argparse.ArgumentParser()
    cli_train.add_arguments(parser)
    dests = {action.dest for action in parser._actions} - {"help"}
    assert dests == {field.name for field in cli_fields()}
    assert {f.name for f in dataclasses.fields(TrainConfig)} - dests == {"verbose"}
    args = parser.parse_args(["--data", "d", "--model", "gru", "--out", "o", "--no-verify",
                              "--optimizer", '{"class_name": "AdamW", "config": {}}',
                              "--loss", "binary_focal_crossentropy",
                              "--monitor", "val_macro_auc", "--batch-size", "8"])
    config = cli_train.config_from_args(args)
    assert config == TrainConfig(data="d", model="gru", out="o", verify=False, batch_size=8,
                                 optimizer={"class_name": "AdamW", "config": {}},
                                 loss="binary_focal_crossentropy", monitor="val_macro_auc")
    assert parser.parse_args(["--data", "d", "--model", "m", "--out", "o"]).deterministic


def test_advise_training_flags_are_train_flags():
    import argparse

    from ecg_tl_keras.advise import cli as advise_cli
    from ecg_tl_keras.training import cli_train

    def flags(add):
        parser = argparse.ArgumentParser()
        add(parser)
        return parser, {action.dest: (action.option_strings, action.type, action.default)
                        for action in parser._actions}

    parser, advise_flags = flags(advise_cli.add_arguments)
    _, train_flags = flags(cli_train.add_arguments)
    for name in advise_cli.TRAIN_FLAGS:
        assert advise_flags[name] == train_flags[name]
    for name in advise_cli.BUDGET_FLAGS:  # train's spelling and type; unset = fitted to the data
        assert advise_flags[name][:2] == train_flags[name][:2] and advise_flags[name][2] is None
    args = parser.parse_args(["--data", "d", "--checkpoint", "c", "--out", "o", "--lr", "0.1",
                              "--val-fold", "0"])
    assert (args.lr, args.val_fold, args.epochs) == (0.1, 0, None)


def test_importing_the_study_leaves_the_matplotlib_backend_alone():
    code = ("import matplotlib; matplotlib.use('svg'); import ecg_tl_keras.study, "
            "ecg_tl_keras.study.figures; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}).stdout
    assert out.strip() == "svg"


def test_drawing_the_advice_figure_leaves_the_matplotlib_backend_alone(tmp_path):
    figure = tmp_path / "advice.png"
    code = ("import matplotlib; matplotlib.use('svg'); from ecg_tl_keras.advise import report; "
            "report.figure({'candidates': [{'name': 'a', 'compatible': True, 'rank': 1, "
            "'scores': {'logme': 0.5}}], 'finetune': {}}, __import__('pathlib').Path("
            f"{str(figure)!r})); print(matplotlib.get_backend())")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.stdout.strip() == "svg", done.stderr
    assert figure.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_ctrl_c_in_train_is_one_line(ptbxl_built, tmp_path, as_in_a_terminal):
    # a backbone whose epochs take milliseconds: the run is interrupted after its first epoch
    fast_model = write_module(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "ecg_tl_keras.cli", "--import", str(fast_model), "train",
         "--data", str(ptbxl_built), "--model", FAST_MODEL, "--out", str(tmp_path / "run"),
         "--epochs", "200", "--batch-size", "64"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
        **as_in_a_terminal)
    deadline = time.monotonic() + 300
    while not (tmp_path / "run" / "backup").is_dir() and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        "ecg-tl-keras: interrupted (run the same command again to resume)")
