"""A study plan names checkpoints pre-trained elsewhere: `pretrained = {NAME = "PRESET"}`."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.models.presets import load_preset
from ecg_tl_keras.study.cells import expand_cells
from ecg_tl_keras.study.findings import analyse, findings
from ecg_tl_keras.study.plan import load_plan, plan_from_dict
from ecg_tl_keras.study.pretrained import read_pretrained, untrained_model
from ecg_tl_keras.study.report import make_report
from ecg_tl_keras.study import runner
from ecg_tl_keras.study.results import load_results, result_path
from ecg_tl_keras.training.rundir import write_json_atomic
from ecg_tl_keras.study.stats import seed_gain_interval
from ecg_tl_keras.training import TrainConfig
from ecg_tl_keras.training.checkpoints import save_checkpoint
from fast_backbone import NAME as FAST_BACKBONE
from preset_fixtures import small_net1d_preset
from study_simulation import result_files, simulate
from tfrecords_builder.files import sha256_file

PLAN = dict(upstream=["georgia"], downstream=["ptbxl"], models=["lstm"], seeds=2, epochs=1,
            finetune="full", select_on="val", batch_size=32, lr=0.01,
            train={"val_fold": 0, "head": {"cnn": "mlp"}})


def _manifest(built):
    return json.loads((built / "manifest.json").read_text())


@pytest.fixture(scope="module")
def preset(tmp_path_factory, ptbxl_built):
    folder, _ = small_net1d_preset(tmp_path_factory.mktemp("presets") / "tiny",
                                   _manifest(ptbxl_built))
    return folder


def _plan(preset_path, data_root=None, **changes):
    return plan_from_dict({**PLAN, "pretrained": {"tiny": str(preset_path)}, **changes},
                          name="mini", data_root=data_root)


def test_a_preset_adds_finetune_and_scratch_cells_and_leaves_the_plans_own(preset):
    plan = _plan(preset)
    own = [cell.spec() for cell in expand_cells(plan_from_dict(PLAN, name="mini"))]
    cells = expand_cells(plan)
    added = [cell for cell in cells if cell.preset is not None]
    assert [cell.spec() for cell in cells if cell.preset is None] == own
    assert [cell.key for cell in added] == [
        "scratch__ptbxl__net1d-tiny__seed0", "scratch__ptbxl__net1d-tiny__seed1",
        "finetune__tiny-to-ptbxl__net1d-tiny__seed0", "finetune__tiny-to-ptbxl__net1d-tiny__seed1"]
    assert all(cell.depends_on is None for cell in added)  # no pre-train cell: it is given
    assert not any(cell.dataset == "tiny" for cell in cells)
    spec = added[-1].spec()
    assert spec["preset"] == {"name": "tiny", "path": str(preset), "model": "net1d",
                              "sha256": sha256_file(preset / "model.weights.h5")}
    assert spec["label"] == "net1d[tiny]" and spec["upstream"] == "tiny"
    assert "head" not in spec["train"]  # the checkpoint keeps its own head
    assert "preset" not in own[0]


def test_a_preset_of_another_rate_is_refused_at_plan_load(tmp_path, ptbxl_built, data_root):
    wrong, _ = small_net1d_preset(tmp_path / "wrong", _manifest(ptbxl_built), fs=500)
    with pytest.raises(ValueError) as error:
        _plan(wrong, data_root)
    message = str(error.value)
    for part in ("pretrained.tiny", str(wrong), "sampling rate 500 Hz, data 100 Hz",
                 "takes 500 Hz, 1000 samples", "has 100 Hz, 1000 samples", "ptbxl",
                 "--rate 500 --seconds 2 --overwrite"):
        assert part in message
    assert _plan(wrong).pretrained["tiny"].fs == 500  # nothing built to check against yet


def test_the_dry_run_lists_the_preset_cells_and_refuses_a_mismatch(tmp_path, preset, data_root,
                                                                    ptbxl_built, capsys):
    plan_file = tmp_path / "mini.toml"
    plan_file.write_text(_toml(preset))
    assert cli.main(["study", "run", "--plan", str(plan_file), "--data-root", str(data_root),
                     "--out", str(tmp_path / "study"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "finetune__tiny-to-ptbxl__net1d-tiny__seed1" in out
    assert "scratch__ptbxl__net1d-tiny__seed0" in out
    assert f"tiny: {preset} (net1d, sha256 {sha256_file(preset / 'model.weights.h5')[:12]}" in out
    wrong, _ = small_net1d_preset(tmp_path / "wrong", _manifest(ptbxl_built), fs=250)
    plan_file.write_text(_toml(wrong))
    assert cli.main(["study", "run", "--plan", str(plan_file), "--data-root", str(data_root),
                     "--out", str(tmp_path / "study"), "--dry-run"]) == 2
    assert "pretrained.tiny" in capsys.readouterr().err


def _toml(preset_path, model="lstm") -> str:
    return (f'upstream = ["georgia"]\ndownstream = ["ptbxl"]\nmodels = ["{model}"]\nseeds = 2\n'
            'epochs = 1\nfinetune = "full"\nselect_on = "val"\nbatch_size = 32\nlr = 0.01\n'
            f'pretrained = {{tiny = "{preset_path}"}}\n[train]\nval_fold = 0\n')


@pytest.mark.parametrize("value, expected", [
    ({"tiny": "no/such/preset"}, "pretrained.tiny = 'no/such/preset': not found"),
    ({"georgia": "no/such/preset"}, "pretrained.georgia: the name must differ"),
    ({"a__b": "x"}, "pretrained.a__b: the name must differ"),
    ({"tiny": 3}, "pretrained.tiny must be a path"),
    ("presets/x", "pretrained must be a table"),
    ({}, "pretrained must be a table"),
])
def test_a_bad_pretrained_entry_is_named(value, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        plan_from_dict({**PLAN, "pretrained": value}, name="mini")


def test_a_folder_that_is_not_a_preset_is_named(tmp_path, preset):
    broken = tmp_path / "broken"
    shutil.copytree(preset, broken)
    (broken / "config.json").unlink()
    with pytest.raises(ValueError, match=r"pretrained.tiny = .*broken.*lacks config.json"):
        read_pretrained("tiny", str(broken))


def test_a_plan_file_round_trips_its_preset(tmp_path, preset):
    plan_file = tmp_path / "mini.toml"
    plan_file.write_text(_toml(preset))
    plan = load_plan(plan_file, overrides=["seeds=3"])
    assert plan.pretrained["tiny"] == read_pretrained("tiny", str(preset))
    assert plan.with_seeds(1).pretrained == plan.pretrained
    assert len([c for c in expand_cells(plan) if c.preset is not None]) == 6


def test_the_scratch_side_is_the_presets_architecture_untrained_and_seeded(preset, ptbxl_built):
    pretrained = read_pretrained("tiny", str(preset))
    first, again = (untrained_model(pretrained, _config(ptbxl_built, 3)) for _ in range(2))
    other = untrained_model(pretrained, _config(ptbxl_built, 4))
    source, _ = load_preset(preset)
    assert first.output_shape[-1] == len(_manifest(ptbxl_built)["labels"])
    assert ([layer.name for layer in first.get_layer("backbone").layers]
            == [layer.name for layer in source.get_layer("backbone").layers])
    weights = [w for w in first.get_layer("backbone").get_weights() if w.std() > 0]
    assert weights
    for mine, same in zip(first.get_layer("backbone").get_weights(),
                          again.get_layer("backbone").get_weights()):
        np.testing.assert_array_equal(mine, same)
    assert not all(np.array_equal(a, b) for a, b in zip(
        first.get_layer("backbone").get_weights(), source.get_layer("backbone").get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(
        first.get_layer("backbone").get_weights(), other.get_layer("backbone").get_weights()))


def test_a_keras_checkpoint_is_an_upstream_too(tmp_path, ptbxl_built):
    manifest = _manifest(ptbxl_built)
    _, model = small_net1d_preset(tmp_path / "preset", manifest)
    given = {"model": "net1d", "labels": ["X", "Y", "Z"], "samples": manifest["samples"],
             "leads": manifest["leads"]}
    save_checkpoint(model, tmp_path / "bare.keras", given)
    with pytest.raises(ValueError, match=r"pretrained.ck = .*bare.keras.*metadata lacks fs"):
        read_pretrained("ck", str(tmp_path / "bare.keras"))
    save_checkpoint(model, tmp_path / "ck.keras", {**given, "fs": manifest["fs"]})
    pretrained = read_pretrained("ck", str(tmp_path / "ck.keras"))
    assert pretrained.sha256 == sha256_file(tmp_path / "ck.keras")
    assert (pretrained.fs, pretrained.samples) == (manifest["fs"], manifest["samples"])


def test_a_grid_over_what_the_checkpoint_fixes_adds_no_preset_variants(preset):
    plan = _plan(preset, models=["gru"], grid={"readout": ["last", "flatten"],
                                                    "optimizer": ["adam", "adamw"]})
    added = [cell for cell in expand_cells(plan) if cell.preset is not None]
    assert len(added) == 2 * 2 * 2  # scratch and fine-tune x optimizer x seeds; readout: preset's
    assert {cell.label for cell in added} == {"net1d[adam,tiny]", "net1d[adamw,tiny]"}
    assert all("readout" not in cell.settings for cell in added)


def _given_results(gains):
    """Simulated result files of the paper's grid (one seed per gain) plus a checkpoint's cells
    on ptb: scratch 0.6 + 0.01 x seed, fine-tune that plus the seed's gain."""
    seeds = len(gains)
    rng = np.random.default_rng(0)
    results = result_files(*simulate(rng, 1, seeds))
    record = {"name": "ecgfounder", "path": "presets/ecgfounder", "sha256": "ab" * 32,
              "model": "net1d"}
    for seed, gain in enumerate(gains):
        for kind, score in (("scratch", 0.6 + 0.01 * seed),
                            ("finetune", 0.6 + 0.01 * seed + gain)):
            result = copy.deepcopy(results[0])
            upstream = "ecgfounder" if kind == "finetune" else None
            result["cell"].update(
                key=f"{kind}__{'ecgfounder-to-' if upstream else ''}ptb__net1d-ecgfounder__seed"
                    f"{seed}", kind=kind, roles=[kind], upstream=upstream, dataset="ptb",
                model="net1d", variant={"preset": "ecgfounder"}, seed=seed, preset=record)
            result["metrics"]["test_weighted_f1"] = score
            results.append(result)
    return results


def test_the_report_tests_a_given_checkpoint_in_the_one_family():
    gains = [0.100, 0.101, 0.1005]
    analysis = analyse(_given_results(gains))
    found = analysis.by_key()
    comparison = found["comparison:ecgfounder>ptb:net1d[ecgfounder]"]
    expected = seed_gain_interval(gains)
    assert comparison.method == expected.method == "t-interval over 3 seeds"
    np.testing.assert_allclose([comparison.estimate, comparison.low, comparison.high],
                               [expected.estimate, expected.low, expected.high])
    assert comparison.verdict.value == "positive"  # after Holm over the whole family
    assert comparison.text.startswith("net1d[ecgfounder], ecgfounder -> ptb: fine-tuning beats")
    assert np.isfinite(found["upstream:ecgfounder"].p_adjusted)
    assert "`presets/ecgfounder`" in found["pretrained:ecgfounder"].text
    assert "ab" * 32 in found["pretrained:ecgfounder"].text
    cost = found["cost:ecgfounder>ptb:net1d[ecgfounder]"].text
    assert "pre-trained elsewhere (not timed here)" in cost and "paid elsewhere" in cost
    assert "pre-train 10 s" in found["cost:ptbxl>ptb:gru"].text  # the study's own: as before
    without = analyse(_given_results(gains)[:-2 * len(gains)])
    assert analysis.family_size > without.family_size  # the checkpoint's tests join the family


def test_a_done_cell_stays_done_when_its_checkpoint_moves_not_when_it_changes(tmp_path, preset,
                                                                             ptbxl_built):
    def cell_of(path):
        return next(c for c in expand_cells(_plan(path)) if c.kind == "finetune" and c.preset)

    cell = cell_of(preset)
    write_json_atomic(result_path(tmp_path, cell.key), {"format": 1, "cell": cell.spec()})
    assert runner.is_done(cell_of(shutil.copytree(preset, tmp_path / "moved")), tmp_path)
    changed, _ = small_net1d_preset(tmp_path / "changed", _manifest(ptbxl_built))  # new weights
    with pytest.raises(ValueError, match="made with other settings .*sha256"):
        runner.is_done(cell_of(changed), tmp_path)


def test_a_linear_probe_of_a_preset_is_compared_with_its_architecture_trained_in_full(preset):
    cells = [cell for cell in expand_cells(_plan(preset, finetune="linear")) if cell.preset]
    configs = {cell.kind: runner.make_config(cell, "data", "study") for cell in cells}
    assert configs["finetune"].finetune == "linear"
    assert configs["finetune"].finetune_from == str(preset.absolute())
    assert (configs["scratch"].finetune, configs["scratch"].finetune_from) == ("full", None)


def _config(data, seed):
    return TrainConfig(data=str(data), model="net1d", out="-", seed=seed, precision="float32")


@pytest.mark.slow
def test_a_study_with_a_preset_runs_and_reports_its_comparison(tmp_path, preset, data_root,
                                                               fast_backbone):
    """The plan's own cells train the fast test backbone (what is checked is the preset's)."""
    plan_file = tmp_path / "mini.toml"
    plan_file.write_text(_toml(preset, model=FAST_BACKBONE))
    study = tmp_path / "study"
    assert cli.main(["study", "run", "--plan", str(plan_file), "--data-root", str(data_root),
                     "--out", str(study)]) == 0
    results = {r["cell"]["key"]: r for r in load_results(study)}
    assert len(results) == 10  # 3 own cells and 2 preset cells, per seed
    tuned = results["finetune__tiny-to-ptbxl__net1d-tiny__seed1"]
    assert tuned["cell"]["preset"]["sha256"] == sha256_file(preset / "model.weights.h5")
    assert (study / tuned["metrics"]["finetune_from"]).resolve() == preset.resolve()
    scratch = results["scratch__ptbxl__net1d-tiny__seed1"]
    assert scratch["metrics"]["finetune_from"] is None
    found = {f.key: f for f in findings(list(results.values()), study=study)}
    comparison = found["comparison:tiny>ptbxl:net1d[tiny]"]
    group = next(g for g in analyse(list(results.values()), study).groups
                 if g.key == "tiny>ptbxl:net1d[tiny]")
    assert [r["key"] for r in group.finetune + group.scratch] == [
        "finetune__tiny-to-ptbxl__net1d-tiny__seed0", "finetune__tiny-to-ptbxl__net1d-tiny__seed1",
        "scratch__ptbxl__net1d-tiny__seed0", "scratch__ptbxl__net1d-tiny__seed1"]
    assert group.pretrain == [None, None]  # no pre-train cell of this study
    if group.gains():  # the report's seed interval, as for the study's own pre-trains
        expected = seed_gain_interval(group.gains())
        assert comparison.method == expected.method and comparison.method.endswith("2 seeds")
        np.testing.assert_allclose([comparison.estimate, comparison.low, comparison.high],
                                   [expected.estimate, expected.low, expected.high])
    precisions = [json.loads((study / r["run_dir"] / "config.json").read_text())["precision"]
                  for r in (tuned, scratch)]
    assert precisions[0] == precisions[1]  # both sides compute alike
    assert comparison.text.startswith("net1d[tiny], tiny -> ptbxl: ")
    assert "upstream:tiny" in found and "upstream:georgia" in found
    assert str(preset) in found["pretrained:tiny"].text
    assert "pre-trained elsewhere" in found["cost:tiny>ptbxl:net1d[tiny]"].text
    report = make_report(study, tmp_path / "report", log=lambda line: None)["report"].read_text()
    assert "**tiny** was pre-trained elsewhere" in report
    assert "net1d[tiny], tiny -> ptbxl" in report
