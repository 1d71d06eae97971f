"""Study plans, cells, shards, the runner (with a fake trainer), statistics and the report."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ecg_tl_keras.cli import run_command
from ecg_tl_keras.metrics import per_label_f1, weighted_f1
from ecg_tl_keras.study import cli, report as report_module
from ecg_tl_keras.study.cells import expand_cells, parse_shard, select_stage, shard_cells
from ecg_tl_keras.study.plan import TRAIN_KEYS, load_plan, plan_from_dict
from ecg_tl_keras.study.results import load_results, result_path, run_dir
from ecg_tl_keras.models import get_backbone_spec
from ecg_tl_keras.study.runner import cpu_samples_per_s, make_config, run_study
from ecg_tl_keras.training.config import TrainConfig
from report_checks import check_report_matches_results

TINY = dict(upstream=["georgia"], downstream=["ptbxl", "georgia"], models=["resnet1d18", "lstm"],
            seeds=[0], epochs=3, finetune="full", select_on="val", batch_size=8, lr=0.01,
            size_sweep=dict(upstream="georgia", downstream="ptbxl", models=["resnet1d18"],
                            train_sizes=[20, 10]))
LABELS = ["A", "B", "C"]


def tiny_plan(**changes):
    """The test plan with some keys changed (None: key left out)."""
    data = {key: value for key, value in {**TINY, **changes}.items() if value is not None}
    return plan_from_dict(data, name="tiny")


# ---------------------------------------------------------------- plans


@pytest.mark.parametrize("name", ["paper", "smoke"])
def test_builtin_plans_parse_and_expand(name):
    plan = load_plan(name)
    cells = expand_cells(plan)
    keys = [cell.key for cell in cells]
    assert len(keys) == len(set(keys))
    assert plan.select_on == "val"
    by_key = {cell.key: cell for cell in cells}
    for cell in cells:
        if cell.kind == "finetune":
            assert cell.upstream != cell.dataset
            pretrain = by_key[cell.depends_on]
            assert pretrain.kind == "scratch" and pretrain.train_size is None
            assert cell.dataset in pretrain.pretrain_for
            assert "pretrain" in pretrain.roles
            assert keys.index(pretrain.key) < keys.index(cell.key)


def test_paper_plan_is_the_study():
    plan = load_plan("paper")
    cells = expand_cells(plan)
    scratch_full = [c for c in cells if c.kind == "scratch" and c.train_size is None]
    finetunes = [c for c in cells if c.kind == "finetune" and c.train_size is None]
    # 5 datasets x 6 models from scratch, the 3 upstream ones reused as the pre-trains.
    assert len(scratch_full) == 5 * 6
    assert sum("pretrain" in c.roles for c in scratch_full) == 3 * 6
    assert len(finetunes) == 3 * 4 * 6
    assert plan.epochs == 100
    sweep = plan.size_sweep
    assert (sweep.upstream, sweep.downstream) == ("georgia", "ptbxl")
    assert set(sweep.models) == {"resnet1d18", "resnet1d50", "resnet1d101"}
    assert min(sweep.train_sizes) == 500 and max(sweep.train_sizes) == 9000


def test_smoke_plan_fits_the_sample():
    plan = load_plan("smoke")
    assert set(plan.upstream) | set(plan.downstream) <= {"ptbxl", "georgia"}
    assert plan.epochs <= 3 and max(plan.size_sweep.train_sizes) < 200


def test_seeds_option_and_int_seeds():
    assert tiny_plan(seeds=3).seeds == (0, 1, 2)
    plan = tiny_plan().with_seeds(2)
    assert {c.seed for c in expand_cells(plan)} == {0, 1}


@pytest.mark.parametrize("changes, message", [
    (dict(models=["resnet1d18", "vgg16"]), "unknown model"),
    (dict(downstream=["ptbxl", "mitbih"]), "unknown dataset"),
    (dict(size_sweep=dict(upstream="ptbxl", downstream="ptbxl", models=["lstm"],
                          train_sizes=[10])), "own upstream"),
    (dict(epochs=0), "epochs"),
    (dict(finetune="half"), "finetune"),
    (dict(seeds="three"), "seeds"),
    (dict(train=dict(epochs=3)), "may not set"),
    (dict(train=dict(optimiser="sgd")), "unknown TrainConfig field"),
    (dict(colour="blue"), "unknown key"),
])
def test_plan_validation_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny_plan(**changes)


def test_missing_keys_are_named():
    data = dict(TINY)
    del data["models"], data["lr"]
    with pytest.raises(ValueError, match="missing key.*models, lr"):
        plan_from_dict(data, name="tiny")


def test_plan_files_toml_and_yaml(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text('upstream = ["georgia"]\ndownstream = ["ptbxl"]\nmodels = ["gru"]\n'
                    'seeds = 2\nepochs = 1\nfinetune = "linear"\nselect_on = "val"\n'
                    'batch_size = 4\nlr = 0.001\n[train]\nhead = "mlp"\n')
    plan = load_plan(toml)
    assert (plan.name, plan.models, plan.seeds) == ("mine", ("gru",), (0, 1))
    assert plan.train == {"head": "mlp"}
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text(json.dumps(TINY))  # JSON is YAML
    pytest.importorskip("yaml")
    assert load_plan(yaml_file).models == ("resnet1d18", "lstm")
    broken = tmp_path / "broken.toml"
    broken.write_text("upstream = [")
    with pytest.raises(ValueError, match="broken.toml: not valid TOML"):
        load_plan(broken)
    with pytest.raises(ValueError, match="not found"):
        load_plan(tmp_path / "absent.toml")


# ---------------------------------------------------------------- cells and shards


def test_pretrain_cell_is_the_scratch_cell_trained_once():
    cells = expand_cells(tiny_plan())
    keys = [c.key for c in cells]
    assert keys.count("scratch__georgia__resnet1d18__seed0") == 1
    cell = cells[keys.index("scratch__georgia__resnet1d18__seed0")]
    assert cell.roles == ("pretrain", "scratch") and cell.pretrain_for == ("ptbxl",)
    assert "also the pre-train" in cell.title
    assert cells[keys.index("scratch__ptbxl__lstm__seed0")].roles == ("scratch",)
    # size sweep: scratch and fine-tune cells per size, sorted sizes
    assert [c.train_size for c in cells if c.kind == "finetune" and c.train_size] == [10, 20]
    assert "finetune__georgia-to-ptbxl-n10__resnet1d18__seed0" in keys


def test_cell_settings_are_train_config_values_and_keep_the_result_layout(tmp_path):
    plan = tiny_plan(train=dict(val_fold=0))
    assert set(TRAIN_KEYS) <= {field.name for field in dataclasses.fields(TrainConfig)}
    cell = expand_cells(plan)[0]
    assert {key: cell.settings[key] for key in TRAIN_KEYS} == plan.train_settings()
    # result files keep the plan's training keys as entries of their own, [train] the rest
    spec = cell.spec()
    assert {key: spec[key] for key in TRAIN_KEYS} == plan.train_settings()
    assert spec["train"] == {"val_fold": 0}
    config = make_config(cell, tmp_path, tmp_path / "study")
    assert (config.epochs, config.batch_size, config.lr, config.val_fold) == (3, 8, 0.01, 0)


def test_a_plans_finetuning_strategy_is_its_finetunes_and_scratch_cells_train_everything(tmp_path):
    """A plan with ``finetune = "lp-ft"``: its scratch cells (no checkpoint to start from)
    train the whole network; TrainConfig refuses lp-ft without a checkpoint."""
    configs = {cell.kind: make_config(cell, tmp_path, tmp_path / "study")
               for cell in expand_cells(tiny_plan(finetune="lp-ft"))}
    assert (configs["scratch"].finetune, configs["scratch"].finetune_from) == ("full", None)
    assert configs["finetune"].finetune == "lp-ft" and configs["finetune"].finetune_from


@pytest.mark.parametrize("count", [1, 2, 3, 5, 40])
def test_shards_partition_the_cells(count):
    cells = expand_cells(load_plan("paper"))
    shards = [shard_cells(cells, index, count) for index in range(count)]
    flat = [cell.key for shard in shards for cell in shard]
    assert sorted(flat) == sorted(cell.key for cell in cells)
    assert len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    # stages split each shard too
    for shard in shards:
        stages = [select_stage(shard, stage) for stage in ("pretrain", "finetune")]
        assert sum(map(len, stages)) == len(shard)


@pytest.mark.parametrize("spec", ["2/2", "-1/3", "a/b", "1", "0/0", "3/2"])
def test_bad_shard_specs(spec):
    with pytest.raises(ValueError, match="bad shard"):
        parse_shard(spec)


# ---------------------------------------------------------------- a fake trainer


class FakeTrainer:
    """Writes what ecg_tl_keras.training.train writes, from made-up predictions.

    Fine-tuned runs predict the truth on most records; runs from scratch guess.
    """

    def __init__(self, fail_on: str | None = None):
        self.calls: list[str] = []
        self.fail_on = fail_on

    def __call__(self, config):
        out = Path(config.out)
        self.calls.append(out.name)
        if config.finetune_from is not None:
            assert Path(config.finetune_from).is_file(), "fine-tune started before its pre-train"
        out.mkdir(parents=True, exist_ok=True)
        if out.name == self.fail_on:
            self.fail_on = None
            (out / "history.csv").write_text("epoch,loss\n1,0.5\n")
            raise KeyboardInterrupt("killed mid-cell")
        rng = np.random.default_rng(zlib.crc32(out.name.encode()))
        y_true = np.random.default_rng(len(Path(config.data).name)).random((80, 3)) < 0.4
        noise = 0.15 if config.finetune_from else 0.6
        y_prob = np.where(rng.random(y_true.shape) < noise, rng.random(y_true.shape),
                          y_true * 0.8 + 0.1)
        curve = np.linspace(0.3, weighted_f1(y_true, y_prob), config.epochs)
        with open(out / "history.csv", "w") as stream:
            stream.write("epoch,loss,selection_val_weighted_f1,test_weighted_f1,"
                         "test_macro_auc,seconds\n")
            for epoch, f1 in enumerate(curve, start=1):
                stream.write(f"{epoch},{1 / epoch},{f1},{f1},0.7,1.0\n")
        record_ids = np.array([f"r{i}" for i in range(len(y_true))])[::-1]
        np.savez(out / "predictions_test.npz", record_id=record_ids,
                 y_true=y_true[::-1].astype("float32"), y_prob=y_prob[::-1].astype("float32"),
                 labels=np.array(LABELS))
        (out / "best.keras").write_bytes(b"fake")
        (out / "config.json").write_text(json.dumps({"config": {"data": config.data}}))
        metrics = dict(test_weighted_f1=weighted_f1(y_true, y_prob), test_macro_f1=0.5,
                       per_label_f1=dict(zip(LABELS, per_label_f1(y_true, y_prob).tolist())),
                       test_macro_auc=0.7, best_epoch=config.epochs, epochs=config.epochs,
                       selection_split="val (train fold 8, patient-wise)")
        (out / "metrics.json").write_text(json.dumps(metrics))
        return metrics


#: The signal keys every built manifest has (checked when the runner opens a dataset).
SIGNALS = {"samples": 1000, "leads": ["I", "II", "III", "aVR", "aVL", "aVF",
                                      "V1", "V2", "V3", "V4", "V5", "V6"]}


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "data"
    for name, records in (("ptbxl", 200), ("georgia", 8)):
        (root / name).mkdir(parents=True)
        (root / name / "manifest.json").write_text(json.dumps(
            {"dataset": name, "labels": LABELS, **SIGNALS,
             "splits": {"train": {"records": records,
                                  "label_counts": dict(zip(LABELS, (records // 2, records // 4,
                                                                    records // 8)))},
                        "test": {"records": 20}}}))
    return root


def quiet(_line):
    pass


def test_runner_trains_each_cell_once_and_resumes(tmp_path, data_root):
    plan, out = tiny_plan(), tmp_path / "study"
    cells = expand_cells(plan)
    interrupted = "finetune__georgia-to-ptbxl__lstm__seed0"
    trainer = FakeTrainer(fail_on=interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(plan, data_root, out, train_fn=trainer, log=quiet)
    assert not result_path(out, interrupted).exists()
    lines = []
    summary = run_study(plan, data_root, out, train_fn=trainer, log=lines.append)
    assert sorted(trainer.calls) == sorted([c.key for c in cells] + [interrupted])
    assert summary.trained + summary.done == len(cells) and summary.waiting == []
    assert any(line.startswith(f"[1/{len(cells)}] scratch__") and "done, skipping" in line
               for line in lines)
    results = {r["cell"]["key"]: r for r in load_results(out)}
    assert set(results) == {c.key for c in cells}
    result = results["finetune__georgia-to-ptbxl-n10__resnet1d18__seed0"]
    assert result["cell"]["train_size"] == 10 and result["cell"]["upstream"] == "georgia"
    assert len(result["history"]) == plan.epochs and result["history"][0]["epoch"] == 1
    assert (out / result["predictions_test"]).is_file()
    stored = json.loads((out / result["run_dir"] / "metrics.json").read_text())
    assert result["metrics"] == stored
    calls = len(trainer.calls)
    run_study(plan, data_root, out, train_fn=trainer, log=quiet)
    assert len(trainer.calls) == calls
    assert not list((out / "results").glob(".*tmp"))


def test_finished_run_without_result_file_is_not_retrained(tmp_path, data_root):
    plan, out = tiny_plan(size_sweep=None, models=["lstm"]), tmp_path / "study"
    key, trainer = "scratch__georgia__lstm__seed0", FakeTrainer()
    run_study(plan, data_root, out, stage="pretrain", train_fn=trainer, log=quiet)
    before = json.loads(result_path(out, key).read_text())
    result_path(out, key).unlink()  # killed after training finished, before the result file
    run_study(plan, data_root, out, stage="pretrain", train_fn=trainer, log=quiet)
    assert trainer.calls.count(key) == 1
    assert json.loads(result_path(out, key).read_text()) == before
    # with the trainer's resume state left, the run was interrupted: it trains again
    result_path(out, key).unlink()
    (run_dir(out, key) / "backup").mkdir()
    run_study(plan, data_root, out, stage="pretrain", train_fn=trainer, log=quiet)
    assert trainer.calls.count(key) == 2


def test_runner_refuses_results_of_another_plan(tmp_path, data_root):
    out = tmp_path / "study"
    run_study(tiny_plan(models=["lstm"], size_sweep=None), data_root, out, stage="pretrain",
              train_fn=FakeTrainer(), log=quiet)
    with pytest.raises(ValueError, match="other settings.*epochs 3 -> 5"):
        run_study(tiny_plan(models=["lstm"], epochs=5), data_root, out, train_fn=FakeTrainer(),
                  log=quiet)


def test_runner_needs_built_datasets(tmp_path, data_root):
    with pytest.raises(ValueError, match="not built.*ptb/manifest.json"):
        run_study(tiny_plan(downstream=["ptb"], size_sweep=None), data_root, tmp_path / "s",
                  train_fn=FakeTrainer(), log=quiet)


def test_shards_wait_for_pretrains_of_other_shards(tmp_path, data_root):
    plan, out = tiny_plan(), tmp_path / "study"
    trainer = FakeTrainer()
    waiting = []
    for index in (2, 1, 0):  # shard 2 comes first: its fine-tunes need shard 0's pre-train
        waiting += run_study(plan, data_root, out, shard=(index, 3), train_fn=trainer,
                             log=quiet).waiting
    assert waiting and all(key.startswith("finetune__") for key in waiting)
    for index in range(3):
        run_study(plan, data_root, out, shard=(index, 3), train_fn=trainer, log=quiet)
    assert sorted(trainer.calls) == sorted(c.key for c in expand_cells(plan))


def test_fine_tune_waits_for_a_pretrain_finishing_elsewhere(tmp_path, data_root):
    plan, out = tiny_plan(size_sweep=None, models=["lstm"]), tmp_path / "study"
    other_machine = threading.Thread(target=lambda: (time.sleep(0.5), run_study(
        plan, data_root, out, stage="pretrain", train_fn=FakeTrainer(), log=quiet)))
    other_machine.start()
    trainer = FakeTrainer()
    summary = run_study(plan, data_root, out, stage="finetune", train_fn=trainer, log=quiet,
                        wait_s=60, poll_s=0.1)
    other_machine.join()
    assert summary.waiting == [] and trainer.calls == ["finetune__georgia-to-ptbxl__lstm__seed0"]


def test_dry_run_lists_cells_and_estimates_compute(tmp_path, data_root, capsys):
    code = cli.run(cli_args(["run", "--plan", "paper", "--out", str(tmp_path / "s"),
                             "--data-root", str(data_root), "--dry-run", "--shard", "1/4"]))
    output = capsys.readouterr().out
    assert code == 0
    cells = shard_cells(expand_cells(load_plan("paper")), 1, 4)
    assert f"{len(cells)} cells (shard 1/4)" in output
    assert all(cell.key in output for cell in cells)
    # records from the manifests when built, else published size x the builder's train share
    assert "ptbxl 200 (manifest)" in output
    assert f"cpsc2018 {round(6877 * 0.67)} (published size)" in output
    assert not (tmp_path / "s" / "results").exists()
    # The paper's single seed: the dry run says what it can and cannot show.
    assert "note: 1 seed per cell" in output and "needs 5 seeds" in output
    assert cli.run(cli_args(["run", "--plan", "paper", "--out", str(tmp_path / "s"),
                             "--seeds", "3", "--dry-run", "--shard", "1/4"])) == 0
    assert "seed per cell" not in capsys.readouterr().out


def test_dry_run_estimate_is_epochs_times_records_over_speed(tmp_path, data_root, capsys):
    plan_file = tmp_path / "one.toml"
    plan_file.write_text('upstream = ["ptbxl"]\ndownstream = ["ptbxl"]\nmodels = ["resnet1d50"]\n'
                         'seeds = 1\nepochs = 30\nfinetune = "full"\nselect_on = "val"\n'
                         'batch_size = 256\nlr = 0.01\n')
    assert cli.run(cli_args(["run", "--plan", str(plan_file), "--out", str(tmp_path / "s"),
                             "--data-root", str(data_root), "--dry-run"])) == 0
    output = capsys.readouterr().out
    hours = float(output.split("cells not done: ")[1].split()[0])
    speed = get_backbone_spec("resnet1d50").cpu_samples_per_s
    assert hours == pytest.approx(30 * 200 / speed / 3600, abs=0.05)


def test_plans_take_any_dataset_built_under_the_data_root(tmp_path, data_root, capsys):
    (data_root / "mydata").mkdir()
    (data_root / "mydata" / "manifest.json").write_text(json.dumps(
        {"dataset": "mydata", "labels": LABELS, **SIGNALS, "splits": {"train": {"records": 90},
                                                           "test": {"records": 10}}}))
    plan_file = tmp_path / "mine.toml"
    plan_file.write_text('upstream = ["ptbxl"]\ndownstream = ["mydata"]\nmodels = ["lstm"]\n'
                         'seeds = 1\nepochs = 7\nfinetune = "full"\nselect_on = "val"\n'
                         'batch_size = 8\nlr = 0.01\n')
    assert load_plan(plan_file, data_root=data_root).downstream == ("mydata",)
    assert cli.run(cli_args(["run", "--plan", str(plan_file), "--out", str(tmp_path / "s"),
                             "--data-root", str(data_root), "--dry-run"])) == 0
    output = capsys.readouterr().out
    assert "mydata 90 (manifest)" in output and "ptbxl 200 (manifest)" in output
    hours = float(output.split("cells not done: ")[1].split()[0])
    rate = get_backbone_spec("lstm").cpu_samples_per_s
    assert hours == pytest.approx(7 * (200 + 90 + 90) / rate / 3600, abs=0.05)

    with pytest.raises(ValueError, match="unknown dataset.*mydata.*no --data-root"):
        load_plan(plan_file)
    with pytest.raises(ValueError, match=r"unknown dataset.*mydata.*other/mydata/manifest.json"):
        load_plan(plan_file, data_root=tmp_path / "other")
    code = run_command(cli.run, cli_args(["run", "--plan", str(plan_file), "--out",
                                          str(tmp_path / "s"), "--dry-run"]))
    assert code == 2 and "mydata" in capsys.readouterr().err


def test_dry_run_of_a_backbone_without_a_measured_rate(tmp_path, data_root, capsys):
    from ecg_tl_keras.models import register_backbone, unregister_backbone

    register_backbone("unmeasured_cnn", family="cnn")(get_backbone_spec("resnet1d18").builder)
    try:
        plan_file = tmp_path / "mine.toml"
        plan_file.write_text('upstream = ["ptbxl"]\ndownstream = ["georgia"]\n'
                             'models = ["unmeasured_cnn", "gru"]\nseeds = 1\nepochs = 2\n'
                             'finetune = "full"\nselect_on = "val"\nbatch_size = 8\nlr = 0.01\n')
        assert cli.run(cli_args(["run", "--plan", str(plan_file), "--out", str(tmp_path / "s"),
                                 "--data-root", str(data_root), "--dry-run"])) == 0
    finally:
        unregister_backbone("unmeasured_cnn")
    output = capsys.readouterr().out
    rows = [line for line in output.splitlines() if "__unmeasured_cnn__" in line]
    assert len(rows) == 3 and all(row.rstrip().endswith("?") for row in rows)
    assert "not counted (?): cells of unmeasured_cnn" in output
    hours = float(output.split("cells not done: ")[1].split()[0])
    rate = cpu_samples_per_s("gru")  # the measured rate when the package ships one
    assert hours == pytest.approx(2 * (200 + 8 + 8) / rate / 3600, abs=0.05)


def cli_args(argv):
    import argparse

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv, message", [
    (["run", "--plan", "nope", "--out", "o", "--data-root", "d"], "plan 'nope' not found"),
    (["run", "--plan", "smoke", "--out", "o", "--data-root", "d", "--shard", "4/4"], "bad shard"),
    (["run", "--plan", "smoke", "--out", "o"], "--data-root is required"),
    (["report", "nowhere", "--out", "r"], "no result files"),
])
def test_cli_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_command(cli.run, cli_args(argv)) == 2  # the one policy of ecg_tl_keras.cli
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and error.count("\n") == 1


# ---------------------------------------------------------------- report


@pytest.fixture
def fake_study(tmp_path, data_root):
    out = tmp_path / "study"
    run_study(tiny_plan(seeds=[0, 1]), data_root, out, train_fn=FakeTrainer(), log=quiet)
    run_study(tiny_plan(upstream=["ptbxl"], downstream=["georgia"], size_sweep=None),
              data_root, out, train_fn=FakeTrainer(), log=quiet)
    return out


def test_report_tables_hold_the_result_numbers(fake_study, tmp_path):
    paths = report_module.make_report(fake_study, tmp_path / "report", log=quiet)
    results = {r["cell"]["key"]: r for r in load_results(fake_study)}
    check_report_matches_results(tmp_path / "report", fake_study, results)
    gains = pd.read_csv(paths["tables"] / "transfer_gain.csv")
    assert sorted(gains.seeds.unique()) == [1, 2]
    assert sorted(gains[gains.train_size.notna()].train_size) == [10, 20]
    for name in ("cells", "baselines", "per_label_f1", "transfer_gain", "convergence"):
        assert (paths["tables"] / f"{name}.md").read_text().startswith("| ")


def test_report_figures_and_findings(fake_study, tmp_path):
    paths = report_module.make_report(fake_study, tmp_path / "report", log=quiet)
    for stem in ("fig2_finetune_vs_scratch_by_upstream", "fig3_finetune_vs_scratch_scatter",
                 "fig4_gain_vs_train_size", "fig5_f1_per_epoch"):
        for suffix in (".png", ".svg"):
            assert (paths["figures"] / f"{stem}{suffix}").stat().st_size > 1000
    text = paths["report"].read_text()
    for heading in ("Fine-tuning vs training from scratch", "train size", "Convergence",
                    "CNNs vs RNNs", "No-skill baselines", "Holm"):
        assert heading in text
    # Fig 5 is drawn for ResNet1d18 only, unless asked; the caption says how many seeds.
    assert not list(paths["figures"].glob("fig5_*_lstm.png"))
    assert "Fig 5. Test weighted F1 per epoch of resnet1d18" in text
    assert "mean over 2 seeds" in text
    assert "fig2_finetune_vs_scratch_by_upstream.png" in text


def test_report_draws_fig5_for_other_models_on_request(fake_study, tmp_path):
    paths = report_module.make_report(fake_study, tmp_path / "report", log=quiet,
                                      fig5_models=["lstm", "resnet1d18"])
    assert (paths["figures"] / "fig5_f1_per_epoch.png").is_file()
    assert (paths["figures"] / "fig5_f1_per_epoch_resnet1d18.png").is_file()
    with pytest.raises(ValueError, match="no fine-tune cells of model 'gru'"):
        report_module.make_report(fake_study, tmp_path / "other", log=quiet, fig5_models=["gru"])
    assert run_command(cli.run, cli_args(["report", str(fake_study), "--out",
                                          str(tmp_path / "cli"), "--fig5-model", "lstm",
                                          "--fig5-model", "gru"])) == 2


def test_two_seeds_of_a_clear_gain_are_a_finding_and_one_seed_never_is(fake_study, tmp_path):
    paths = report_module.make_report(fake_study, tmp_path / "report", log=quiet,
                                      two_level=True)
    gains = pd.read_csv(paths["tables"] / "transfer_gain.csv")
    single = gains[gains.seeds == 1]
    assert (single.verdict == "single seed: no verdict").all()
    assert single.ci_method.str.startswith("test-sample uncertainty only (1 seed)").all()
    two = gains[gains.seeds == 2]
    assert two.ci_method.eq("t-interval over 2 seeds").all()
    assert set(two.verdict) <= {"fine-tune better", "scratch better", "no clear difference"}
    assert (gains.ci2_low <= gains.gain).all() and (gains.gain <= gains.ci2_high).all()
    text = paths["report"].read_text()
    findings = text.split("## Findings")[1].split("## Figures")[0]
    # georgia -> ptbxl has 2 seeds per model; the ptbxl upstream only 1: no verdict from it.
    assert "**ptbxl** (upstream): 1 seed: no verdict" in findings.split("Per upstream")[1]


def single_seed_constant_study(tmp_path, data_root):
    """A one-seed study whose fine-tunes predict what their scratch partner predicts, and
    whose scratch runs output every label on every record (a constant predictor)."""
    out, plan = tmp_path / "study", tiny_plan(size_sweep=None)
    run_study(plan, data_root, out, train_fn=FakeTrainer(), log=quiet)
    for cell in expand_cells(plan):
        runs = run_dir(out, cell.key)
        with np.load(runs / "predictions_test.npz") as stored:
            content = dict(stored)
        content["y_prob"] = np.ones_like(content["y_prob"])
        np.savez(runs / "predictions_test.npz", **content)
        result = json.loads(result_path(out, cell.key).read_text())
        score = weighted_f1(content["y_true"], content["y_prob"])
        result["metrics"]["test_weighted_f1"] = score
        # The same constant output on the selection split: no skill there either.
        result["history"] = [dict(row, test_weighted_f1=score, selection_val_weighted_f1=score)
                             for row in result["history"]]
        result["selection"] = dict(result["selection"], weighted_f1=score, macro_auc=0.5,
                                   constant_weighted_f1=score)
        result_path(out, cell.key).write_text(json.dumps(result))
    return out


def test_every_model_gets_one_marker_from_its_spec_or_a_spare_one():
    from ecg_tl_keras.models import register_backbone, unregister_backbone
    from ecg_tl_keras.study.cells import CellLabel
    from ecg_tl_keras.study.figures import model_markers
    from ecg_tl_keras.study.report import marker_of

    builder = get_backbone_spec("gru").builder
    register_backbone("tinycnn", family="cnn")(builder)
    register_backbone("dotcnn", family="cnn", marker=".")(builder)
    try:
        labels = [CellLabel("tinycnn"), CellLabel("dotcnn"), CellLabel("gru"),
                  CellLabel("gru", ("flatten",)), CellLabel("transformer1d"),
                  CellLabel("resnet1d18"), CellLabel("unregistered")]
        markers = model_markers(labels, marker_of)
        assert markers == model_markers(reversed(labels), marker_of)  # deterministic
        assert (markers["gru"], markers["resnet1d18"], markers["dotcnn"]) == ("P", "o", ".")
        assert markers["transformer1d"] == get_backbone_spec("transformer1d").marker
        assert len(set(markers.values())) == len(labels)  # variants and spares apart
        assert list(markers) == ["resnet1d18", "gru", "gru[flatten]", "transformer1d",
                                 "tinycnn", "dotcnn", "unregistered"]  # registration order
    finally:
        unregister_backbone("tinycnn")
        unregister_backbone("dotcnn")


def test_convergence_reads_a_monitored_loss_as_lower_is_better():
    """Fine-tuned [0.9, 0.7, 0.5] vs scratch [0.8, 0.6] val_loss: the fine-tuned run reaches the
    scratch run's best (0.6) at epoch 3; scratch never reaches 0.5."""
    def result(losses):
        return {"metrics": {"selection_metric": "val_loss"},
                "history": [{"val_loss": loss, "val_weighted_f1": 0.5} for loss in losses]}

    finetune = report_module.oriented_selection_curve(result([0.9, 0.7, 0.5]))
    scratch = report_module.oriented_selection_curve(result([0.8, 0.6]))
    assert report_module.first_epoch_reaching(finetune, max(scratch)) == 3
    assert report_module.first_epoch_reaching(scratch, max(finetune)) == report_module.NEVER
    by_f1 = {"metrics": {"selection_metric": "val_weighted_f1"},
             "history": [{"val_loss": 0.9, "val_weighted_f1": 0.4}]}
    assert report_module.oriented_selection_curve(by_f1) == [0.4]


def test_single_seed_report_never_says_better_and_flags_constant_models(tmp_path, data_root):
    out = single_seed_constant_study(tmp_path, data_root)
    paths = report_module.make_report(out, tmp_path / "report", log=quiet)
    text = paths["report"].read_text()
    findings = text.split("## Findings")[1].split("## Figures")[0]
    # No winner anywhere: neither in the findings nor in any table (the rule of "did not
    # learn", quoted in the text, says "beats the best constant predictor").
    for word in ("better", "beats", "worse"):
        assert word not in findings and word not in text.split("## Figures")[1]
    assert "1 seed: no verdict" in findings
    assert "1 seed per cell" in text and "seeds (--seeds N)" in text
    cells = pd.read_csv(paths["tables"] / "cells.csv")
    assert (cells.learned == "did not learn").all()
    assert "Did not learn" in findings
    convergence = pd.read_csv(paths["tables"] / "convergence.csv")
    assert (convergence.did_not_learn == "both").all()
    assert "no pair where both runs learned" in findings
    gains = pd.read_csv(paths["tables"] / "transfer_gain.csv")
    # Both runs of every pair did not learn: no verdict, and the reason says why.
    assert (gains.verdict == "no verdict").all()
    assert "both runs did not learn in 1 of 1 seeds" in json.dumps(
        json.loads((tmp_path / "report" / "findings.json").read_text()))


def test_pooled_interval_counts_a_shared_scratch_run_once():
    # Two upstreams fine-tuned onto one downstream share its scratch runs: per model and seed
    # one cluster. Four clusters (2 models x 2 seeds), not eight gains.
    from ecg_tl_keras.study.cells import CellLabel
    from ecg_tl_keras.study.inference import pooled_test

    def row(kind, model, seed, f1, upstream=None):
        return dict(kind=kind, dataset="d", model=model, label=CellLabel(model), seed=seed,
                    train_size=None, upstream=upstream, weighted_f1=f1, learned=True)

    rows = [row("scratch", m, s, 0.5) for m in ("a", "b") for s in (0, 1)]
    rows += [row("finetune", m, s, 0.5 + gain, up) for (m, s), gain in
             {("a", 0): 0.1, ("a", 1): 0.2, ("b", 0): 0.3, ("b", 1): 0.0}.items()
             for up in ("u1", "u2")]
    groups = report_module.comparisons(rows)
    pooled = pooled_test("downstream:d", "d", groups).interval
    assert pooled.method == "t-interval over 4 model x seed clusters"
    assert pooled.estimate == pytest.approx(0.15)
    expected = scipy_stats.ttest_1samp([0.1, 0.2, 0.3, 0.0], 0.0).confidence_interval()
    assert (pooled.low, pooled.high) == pytest.approx((expected.low, expected.high))
