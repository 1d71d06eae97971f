"""Both commands' flags come from their options' dataclasses, ambiguous flags have clear names
beside their old spellings, and one error policy answers for both commands."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tfrecords_builder import build_dataset
from tfrecords_builder import cli as builder_cli
from tfrecords_builder.errors import HeaderError, RecordRejected
from tfrecords_builder.flags import flag_fields
from tfrecords_builder.options import SETTINGS, BuildOptions, RunOptions
from tfrecords_builder.readers import READERS

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def dataset_parser(dataset: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    builder_cli.add_options(parser, dataset)
    return parser


def parsed(add, argv) -> dict:
    parser = argparse.ArgumentParser()
    add(parser)
    return vars(parser.parse_args(argv))


# ---------------------------------------------------------------- the builder's options

def test_the_builders_flags_are_its_option_fields_and_its_readers_own():
    common = {field.name for cls in (BuildOptions, RunOptions) for field in flag_fields(cls)}
    for name, reader in READERS.items():
        own = argparse.ArgumentParser()
        reader.add_options(own)
        dests = {action.dest for action in dataset_parser(name)._actions} - {"help"}
        assert dests == common | ({action.dest for action in own._actions} - {"help"}), name


def test_build_dataset_takes_the_option_fields_with_their_defaults():
    parameters = inspect.signature(build_dataset).parameters
    keywords = {name: parameter.default for name, parameter in parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "log"}
    fields = {field.name: field.default for cls in (BuildOptions, RunOptions)
              for field in flag_fields(cls) if field.name not in ("source", "out")}
    assert keywords == fields
    assert list(parameters)[:3] == ["dataset", "source", "out"]


def test_build_options_are_validated_once_where_they_are_defined(tmp_path):
    with pytest.raises(ValueError, match="shard_size must be >= 1, got 0"):
        BuildOptions("ptbxl", "src", shard_size=0)
    with pytest.raises(ValueError, match="split must be one of"):
        build_dataset("georgia", tmp_path, tmp_path, split="by_age", progress=False)


def test_old_and_new_builder_spellings_make_the_same_build(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(builder_cli, "build_dataset",
                        lambda *args, **kwargs: calls.append((args, kwargs)))
    common = ["ribeiro", "--source", str(tmp_path), "--out", str(tmp_path / "out"), "--seed", "3"]
    assert builder_cli.main(common + ["--split-policy", "random", "--keep-unlabeled"]) == 0
    assert builder_cli.main(common + ["--split", "random", "--keep-other"]) == 0
    assert calls[0] == calls[1]
    args, kwargs = calls[0]
    assert args == ("ribeiro", str(tmp_path), str(tmp_path / "out"))
    assert (kwargs["split"], kwargs["keep_unlabeled"], kwargs["seed"]) == ("random", True, 3)
    assert kwargs["keep_padding"] is False and kwargs["progress"] is True


def test_the_help_shows_the_new_name_first_and_the_old_one_as_an_alias():
    text = dataset_parser("ptbxl").format_help()
    assert "--split-policy {random,strat_fold,given}, --split" in text
    assert "(--split: old spelling, an alias)" in " ".join(text.split())


def test_the_flags_a_plan_prints_parse_back_to_its_options():
    options = {"split": "random", "seed": 3, "shard_size": 7, "nan_policy": "zero",
               "keep_unlabeled": True, "resample": "decimate", "drop_flagged": True,
               "rate": 400, "seconds": 5.0, "pad_to": 4096, "keep_padding": True,
               "lead_order": ["DI", "DII", "DIII", "AVL", "AVF", "AVR", "V1", "V2", "V3", "V4",
                              "V5", "V6"]}
    flags = builder_cli.command_flags("ribeiro", options)
    assert flags.startswith("--split-policy random --seed 3 --shard-size 7")
    args = dataset_parser("ribeiro").parse_args(["--source", "s", "--out", "o", *flags.split()])
    assert {name: getattr(args, name) for name in options} == {
        **options, "lead_order": ",".join(options["lead_order"])}
    assert builder_cli.command_flags("ribeiro", {"keep_padding": False, "pad_to": None}) == ""
    with pytest.raises(ValueError, match="has no option 'sampling_rate'"):
        builder_cli.command_flags("ribeiro", {"sampling_rate": 500})


def test_a_plans_build_keys_are_the_builders_settings_checked_with_their_defaults():
    from ecg_tl_keras.study.plan import build_options, load_plan
    from ecg_tl_keras.study.runner import build_mismatches

    assert build_options()[:len(SETTINGS)] == SETTINGS
    assert {"keep_padding", "sampling_rate", "lead_map"} <= set(build_options())
    assert "source" not in build_options()
    default_build = {"build_options": BuildOptions("ptbxl", "/data", split="strat_fold",
                                                   reader_options={"sampling_rate": 100}
                                                   ).recorded()}
    plan = dataclasses.replace(load_plan("smoke"), build={"rate": 100, "sampling_rate": 100})
    assert build_mismatches(plan, "ptbxl", default_build) == []  # rate: left out when default
    plan = dataclasses.replace(load_plan("smoke"), build={"rate": 500})
    assert build_mismatches(plan, "ptbxl", default_build) == [
        "rate: built with 100, the plan needs 500"]
    with pytest.raises(ValueError, match="unknown builder option"):
        load_plan("smoke", overrides=["build.out='x'"])


# ---------------------------------------------------------------- evaluate, predict, study, advise

def test_evaluate_and_predict_flags_are_their_option_fields():
    from ecg_tl_keras.training import cli_evaluate, cli_predict
    from ecg_tl_keras.training.command_options import EvaluateOptions, PredictOptions

    for add, cls in ((cli_evaluate.add_arguments, EvaluateOptions),
                     (cli_predict.add_arguments, PredictOptions)):
        parser = argparse.ArgumentParser()
        add(parser)
        assert {action.dest for action in parser._actions} - {"help"} == {
            field.name for field in dataclasses.fields(cls)}


@pytest.mark.parametrize("command, new, old", [
    ("evaluate", ["--checkpoint", "c.keras", "--split-name", "train", "--metrics-file", "m.json"],
     ["--model", "c.keras", "--split", "train", "--out", "m.json"]),
    ("predict", ["--checkpoint", "c.keras", "--predictions-file", "p.csv", "r.hea"],
     ["--model", "c.keras", "--out", "p.csv", "r.hea"]),
])
def test_old_and_new_spellings_give_the_same_arguments(command, new, old):
    from ecg_tl_keras.training import cli_evaluate, cli_predict

    add = {"evaluate": cli_evaluate.add_arguments, "predict": cli_predict.add_arguments}[command]
    extra = ["--data", "OUT/ptbxl"] if command == "evaluate" else []
    assert parsed(add, new + extra) == parsed(add, old + extra)
    values = parsed(add, new + extra)
    assert values["out"] in ("m.json", "p.csv") and values["checkpoint"] == "c.keras"
    if command == "evaluate":
        assert values["split"] == "train"


def test_evaluate_help_shows_the_clear_names_first():
    from ecg_tl_keras.training import cli_evaluate

    parser = argparse.ArgumentParser()
    cli_evaluate.add_arguments(parser)
    text = parser.format_help()
    assert "--split-name SPLIT, --split SPLIT" in text
    assert "--metrics-file METRICS.json, --out METRICS.json" in text
    assert "--out: old spelling, an alias" in " ".join(text.split())


def test_study_cells_and_advise_last_stage_keep_their_old_spellings():
    from ecg_tl_keras.advise import cli as advise_cli
    from ecg_tl_keras.study import cli as study_cli

    study = ["run", "--plan", "smoke", "--out", "s"]
    assert (parsed(study_cli.add_arguments, study + ["--cells", "pretrain"])
            == parsed(study_cli.add_arguments, study + ["--stage", "pretrain"]))
    assert parsed(study_cli.add_arguments, study + ["--cells", "finetune"])["stage"] == "finetune"
    advise = ["--data", "d", "--checkpoint", "c", "--out", "o"]
    assert (parsed(advise_cli.add_arguments, advise + ["--last-stage", "probe"])
            == parsed(advise_cli.add_arguments, advise + ["--stage", "probe"]))
    assert parsed(advise_cli.add_arguments, advise + ["--last-stage", "score"])["stage"] == "score"



def test_advise_flags_are_its_config_fields():
    from ecg_tl_keras.advise import cli as advise_cli
    from ecg_tl_keras.advise.advisor import AdviseConfig
    from ecg_tl_keras.advise.budget import STUDY_EPOCHS
    from ecg_tl_keras.training import cli_train

    parser = argparse.ArgumentParser()
    advise_cli.add_arguments(parser)
    assert {action.dest for action in parser._actions} - {"help"} == {
        field.name for field in dataclasses.fields(AdviseConfig)}
    args = parser.parse_args(["--data", "d", "--checkpoint", "a.keras", "--checkpoint", "st",
                              "--out", "o", "--stage", "probe", "--seeds", "2", "--top", "1",
                              "--batch-size", "16", "--val-fold", "0"])
    assert advise_cli.config_from_args(args) == AdviseConfig(
        data="d", checkpoints=["a.keras", "st"], out="o", stage="probe", seeds=2, top=1,
        batch_size=16, val_fold=0)
    given = advise_cli.config_from_args(parser.parse_args(
        ["--data", "d", "--checkpoint", "a.keras", "--out", "o"]))
    assert given == AdviseConfig(data="d", checkpoints=["a.keras"], out="o")
    assert (given.epochs, given.batch_size, given.lr, given.stage) == (
        None, None, None, "finetune")
    help_text = " ".join(parser.format_help().split())
    for flag in ("--data", "--checkpoint CKPT", "--out", "--last-stage", "--stage", "--seeds",
                 "--top", "--epochs", "--batch-size", "--lr", "--val-fold"):
        assert flag in help_text, flag
    assert f"the study's {STUDY_EPOCHS})" in help_text
    assert "--stage: old spelling, an alias" in help_text
    train = argparse.ArgumentParser()
    cli_train.add_arguments(train)
    val_fold_help = [next(action.help for action in each._actions if action.dest == "val_fold")
                     for each in (parser, train)]
    assert val_fold_help[0] == val_fold_help[1]


# ---------------------------------------------------------------- one error policy

@pytest.mark.parametrize("error", [ValueError("bad value\nsecond line"), HeaderError("a.hea: bad"),
                                   RecordRejected("too short"), FileNotFoundError("gone.csv")])
def test_both_commands_answer_an_expected_error_the_same_way(error, monkeypatch, tmp_path,
                                                              capsys):
    from ecg_tl_keras import cli
    from ecg_tl_keras.study import cli as study_cli

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(builder_cli, "build_dataset", fails)
    monkeypatch.setattr(study_cli, "run", fails)
    capsys.readouterr()
    builder = builder_cli.main(["georgia", "--source", str(tmp_path), "--out", str(tmp_path)])
    builder_err = capsys.readouterr().err
    ours = cli.main(["study", "report", str(tmp_path), "--out", str(tmp_path)])
    ours_err = capsys.readouterr().err
    first_line = str(error).splitlines()[0]
    assert (builder, ours) == (2, 2)
    assert builder_err == f"python -m tfrecords_builder: error: {first_line}\n"
    assert ours_err == f"ecg-tl-keras: error: {first_line}\n"


def test_a_bug_keeps_its_traceback_in_the_builder(monkeypatch, tmp_path):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(builder_cli, "build_dataset", bug)
    with pytest.raises(ZeroDivisionError):
        builder_cli.main(["georgia", "--source", str(tmp_path), "--out", str(tmp_path)])


def test_the_builders_command_line_layer_imports_no_tensorflow():
    code = ("import sys, tfrecords_builder.cli, tfrecords_builder.flags, "
            "tfrecords_builder.command, tfrecords_builder.options; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.stdout.strip() == "False False", done.stderr


def test_study_flags_are_its_option_fields():
    from ecg_tl_keras.study import cli as study_cli
    from ecg_tl_keras.study.cli import StudyReportOptions, StudyRunOptions
    from tfrecords_builder.flags import values_from_args

    parser = argparse.ArgumentParser()
    study_cli.add_arguments(parser)
    args = parser.parse_args(["run", "--plan", "smoke", "--out", "s", "--set", "epochs=1",
                              "--set", "seeds=1", "--cells", "pretrain"])
    assert StudyRunOptions(**values_from_args(StudyRunOptions, args)) == StudyRunOptions(
        plan="smoke", out="s", overrides=["epochs=1", "seeds=1"], stage="pretrain")
    assert set(vars(args)) == {"study_command"} | {
        field.name for field in dataclasses.fields(StudyRunOptions)}
    args = parser.parse_args(["report", "st", "--out", "r", "--fig5-model", "gru",
                              "--fig5-model", "lstm"])
    assert StudyReportOptions(**values_from_args(StudyReportOptions, args)) == (
        StudyReportOptions(study="st", out="r", fig5_model=["gru", "lstm"]))
    assert parser.parse_args(["report", "st", "--out", "r"]).fig5_model is None


def test_the_readme_lists_every_builder_flag_and_its_old_spelling():
    from tfrecords_builder.flags import flag_of

    readme = (PROJECT_ROOT / "README.md").read_text()
    for field in flag_fields(BuildOptions) + flag_fields(RunOptions):
        assert f"| `{flag_of(field)}" in readme, flag_of(field)
        for alias in field.metadata.get("aliases", ()):
            assert f"`{alias}`" in readme, alias


def test_demo_and_import_flags_are_their_option_fields():
    from ecg_tl_keras import demo
    from ecg_tl_keras.importers import cli as import_cli
    from tfrecords_builder.flags import values_from_args

    args = parsed(demo.add_arguments, ["--quick"])
    assert demo.DemoOptions(**args) == demo.DemoOptions(quick=True)
    parser = argparse.ArgumentParser()
    import_cli.add_arguments(parser)
    for source, extra, expected in (("ribeiro", ["--input-scale", "10"], {"input_scale": 10.0}),
                                    ("ecgfounder", ["--labels", "t.txt"], {"labels": "t.txt"})):
        args = parser.parse_args([source, "--weights", "w", "--out", "p", *extra])
        options = import_cli.OPTIONS[source]
        assert set(vars(args)) == {"source"} | {f.name for f in dataclasses.fields(options)}
        assert options(**values_from_args(options, args)) == options(
            weights="w", out="p", **expected)
