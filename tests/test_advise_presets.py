"""``advise`` over presets: a folder dataset of the real Georgia records built at 500 Hz, advised
with a random-weight ECGFounder preset, our ResNet1d18 checkpoint and their random-encoder
baselines; a candidate of another rate refused with both rates named; features streamed in
batches through the preset's own input convention.

The ECGFounder preset is a reduced Net1D (``preset_fixtures.PRESET_NET1D``: 8 stem channels,
one stage of 16) with random weights, saved with ECGFounder's preset
metadata (500 Hz, 5,000 samples, its 12 leads, record z-score input): the importer converts
only the published 30 M-parameter configuration, too slow for a 2-core test. Its input
conventions and the way ``advise`` loads it are those of an imported preset.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from jax_processes import run_without_tensorflow

#: Georgia SNOMED codes of the two labels (sinus tachycardia, sinus bradycardia).
LABEL_CODES = {"STach": "427084000", "SB": "426177001"}
TEST_RECORDS = ("E07507", "E07508", "E07509")
#: Two records under one patient id, so that the validation fold holds two records.
VAL_RECORDS = ("E07502", "E07505")
SEEDS = 2


def _labels_csv(release: Path, georgia: Path) -> Path:
    import wfdb

    rows = ["record,patient,split," + ",".join(LABEL_CODES)]
    for header in sorted(georgia.glob("*.hea")):
        name = header.stem
        dx = " ".join(line for line in wfdb.rdheader(str(header.with_suffix(""))).comments
                      if line.startswith("Dx"))
        patient = "val-patient" if name in VAL_RECORDS else name
        split = "test" if name in TEST_RECORDS else "train"
        flags = ",".join(str(int(code in dx)) for code in LABEL_CODES.values())
        rows.append(f"georgia/{name},{patient},{split},{flags}")
        for suffix in (".hea", ".mat"):
            shutil.copy(header.with_suffix(suffix), release / "georgia" / (name + suffix))
    labels = release / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return labels


@pytest.fixture(scope="module")
def data_500(tmp_path_factory, sample_data) -> tuple[Path, int]:
    """``python -m tfrecords_builder folder --rate 500`` of the 10 real Georgia records; returns
    the dataset and the validation fold (the fold of the two-record patient)."""
    from ecg_tl_keras.shards import load_index
    from tfrecords_builder.cli import main as build_main

    root = tmp_path_factory.mktemp("mine500")
    (root / "release" / "georgia").mkdir(parents=True)
    labels = _labels_csv(root / "release", sample_data / "georgia")
    assert build_main(["folder", "--source", str(root / "release"), "--labels", str(labels),
                       "--name", "mine", "--out", str(root / "out"), "--rate", "500",
                       "--split", "given", "--no-progress", "--workers", "0"]) == 0
    data = root / "out" / "mine"
    index = load_index(data, "train")
    (val_fold,) = set(index["fold"][index["patient_id"] == "val-patient"].tolist())
    return data, int(val_fold)


def small_ecgfounder_preset(folder: Path) -> Path:
    """A random-weight, reduced-width Net1D preset with ECGFounder's metadata (see above)."""
    from ecg_tl_keras.importers.ecgfounder import (LEADS, N_LABELS, NORMALIZATION, SAMPLES,
                                                   ecgfounder_metadata)
    from ecg_tl_keras.models import get_backbone
    from ecg_tl_keras.models.conventions import convention_layer
    from ecg_tl_keras.models.presets import preset_model, save_to_preset
    from preset_fixtures import PRESET_NET1D

    import keras

    keras.utils.set_random_seed(7)
    small = PRESET_NET1D
    model = preset_model(get_backbone("net1d", (SAMPLES, len(LEADS)), **small), N_LABELS,
                         convention_layer(NORMALIZATION), "net1d")
    metadata = ecgfounder_metadata([f"label_{i}" for i in range(N_LABELS)],
                                   Path("random-small.pth"), "0" * 64)
    metadata["architecture"] = {"backbone": "net1d", **{k: list(v) if isinstance(v, tuple)
                                                        else v for k, v in small.items()},
                                "note": "reduced, random weights (a test fixture)"}
    return save_to_preset(model, folder, metadata)


@pytest.fixture(scope="module")
def ecgfounder(tmp_path_factory) -> Path:
    """:func:`small_ecgfounder_preset`, saved once for the tests that only read it."""
    return small_ecgfounder_preset(tmp_path_factory.mktemp("presets") / "ecgfounder")


def resnet1d18_checkpoint(path: Path, data: Path) -> Path:
    """Our ResNet1d18 checkpoint at 500 Hz with seeded weights, saved with our checkpoint
    metadata: the test checks the advice's mechanics (ranking, baselines, refusal), not a
    transfer between datasets (no other 500 Hz records ship with the package), so it is not
    trained (a training step would trace a training function for seconds, and no assertion
    depends on it), and it is ResNet1d18 at reduced width (``SMALL_ARCHITECTURES``: every
    layer, 8 filters wide), as the preset is a reduced Net1D: its random-encoder baseline
    rebuilds the same architecture, and each of the three runs through the 5,000-sample
    records in a fraction of the full width's time."""
    import keras

    from ecg_tl_keras.built import load_manifest
    from ecg_tl_keras.models import build_model
    from ecg_tl_keras.testing import SMALL_ARCHITECTURES
    from ecg_tl_keras.training.checkpoints import save_checkpoint

    manifest = load_manifest(data)
    keras.utils.set_random_seed(3)
    model = build_model("resnet1d18", len(manifest.labels), input_shape=(5000, 12),
                        normalization=manifest.normalization,
                        **SMALL_ARCHITECTURES["resnet1d18"])
    save_checkpoint(model, path, {"labels": list(manifest.labels), "model": "resnet1d18",
                                  "fs": 500, "leads": list(manifest.leads),
                                  "dataset": "mine"})
    return path


def old_100hz_checkpoint(path: Path) -> Path:
    from ecg_tl_keras.models import build_model
    from ecg_tl_keras.training.checkpoints import save_checkpoint

    model = build_model("gru", 2, input_shape=(1000, 12), units=4)
    save_checkpoint(model, path, {"labels": ["a", "b"], "model": "gru", "fs": 100,
                                  "leads": ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2",
                                            "V3", "V4", "V5", "V6"]})
    return path


@pytest.mark.slow
def test_a_preset_our_checkpoint_and_their_random_encoders_are_ranked(data_500, ecgfounder,
                                                                      tmp_path, capsys):
    from ecg_tl_keras import cli
    from ecg_tl_keras.advise.baselines import PREFIX, VERDICT_OPENING
    from ecg_tl_keras.advise.finetune import gain_interval
    from ecg_tl_keras.study.intervals import Verdict

    data, val_fold = data_500
    preset = ecgfounder
    ours = resnet1d18_checkpoint(tmp_path / "ptbxl-resnet1d18.keras", data)
    old = old_100hz_checkpoint(tmp_path / "old100.keras")
    out = tmp_path / "advice"
    assert cli.main(["advise", "--data", str(data), "--checkpoint", str(preset),
                     "--checkpoint", str(ours), "--checkpoint", str(old), "--out", str(out),
                     "--last-stage", "probe", "--seeds", str(SEEDS),
                     "--val-fold", str(val_fold)]) == 0, capsys.readouterr().err[-3000:]
    advice = json.loads((out / "advice.json").read_text())
    entries = {entry["name"]: entry for entry in advice["candidates"]}
    baselines = {f"{PREFIX}net1d": "ecgfounder", f"{PREFIX}resnet1d18": "ptbxl-resnet1d18"}
    assert set(entries) == {"ecgfounder", "ptbxl-resnet1d18", "old100", *baselines}
    assert (entries["ecgfounder"]["kind"], entries["ptbxl-resnet1d18"]["kind"]) == (
        "preset", "checkpoint")
    usable = [entry for entry in advice["candidates"] if entry["compatible"]]
    assert sorted(entry["rank"] for entry in usable) == [1, 2, 3, 4]
    by_rank = sorted(usable, key=lambda entry: entry["rank"])
    assert [e["scores"]["probe_val_f1"] for e in by_rank] == sorted(
        (e["scores"]["probe_val_f1"] for e in by_rank), reverse=True)

    text = (out / "advice.md").read_text()
    for name in entries:
        if entries[name]["compatible"]:
            assert f"| {entries[name]['rank']} | {name} |" in text
    assert "nothing: random weights (mean of seeds 0, 1)" in text
    for baseline, member in baselines.items():
        entry = entries[baseline]
        assert entry["kind"] == "baseline" and entry["seeds"] == [0, 1] and entry["of"] == [member]
        per_seed = entry["scores_by_seed"]["probe_val_f1"]
        assert len(per_seed) == SEEDS
        assert entry["scores"]["probe_val_f1"] == pytest.approx(np.mean(per_seed))
        # the finding follows the interval of the candidate minus each seed's baseline
        value = entries[member]["scores"]["probe_val_f1"]
        verdict = Verdict(gain_interval([value - base for base in per_seed])["verdict"])
        opening = VERDICT_OPENING[verdict].format(name=member).replace(
            "random-encoder baseline", f"random-encoder baseline ({baseline[len(PREFIX):]})", 1)
        assert f"- {opening}: probe val wF1 {value:.3f} vs {np.mean(per_seed):.3f}" in text

    refused = entries["old100"]
    assert not refused["compatible"]
    for needle in ("old100 takes 100 Hz x 1000 samples", "the data is 500 Hz x 5000 samples",
                   "--rate 100 --seconds 10"):
        assert needle in refused["reason"]
    assert "ecgfounder" in advice["recommendation"] or "resnet1d18" in advice["recommendation"]
    assert not advice["recommendation"].startswith(PREFIX)


def test_a_100_hz_candidate_on_500_hz_data_is_refused_naming_both_rates(data_500, tmp_path):
    from ecg_tl_keras.advise import candidates
    from ecg_tl_keras.built import load_manifest

    data, _ = data_500
    (found,) = candidates.gather([old_100hz_checkpoint(tmp_path / "old100.keras")])
    model, _ = candidates.load(found, load_manifest(data))
    assert model is not None and not found.compatible
    assert "sampling rate 100 Hz, data 500 Hz" in found.reason
    assert "; build data it reads: python -m tfrecords_builder folder --source " in found.reason
    assert found.reason.endswith(" --labels LABELS.csv --name mine --out OUT2 --rate 100 "
                                 "--seconds 10")


def test_a_preset_folder_is_a_candidate_and_its_misfit_names_the_build(data_500, ecgfounder,
                                                                        tmp_path):
    from ecg_tl_keras.advise import candidates
    from ecg_tl_keras.built import load_manifest
    from ecg_tl_keras.models.presets import METADATA_FILE

    preset = shutil.copytree(ecgfounder, tmp_path / "ecgfounder")  # its metadata is edited
    (found,) = candidates.gather([preset])
    assert (found.kind, found.name) == ("preset", "ecgfounder")
    model, metadata = candidates.load(found, load_manifest(data_500[0]))
    assert found.compatible and found.model == "net1d" and metadata["fs"] == 500
    stored = json.loads((preset / METADATA_FILE).read_text())
    stored["input"].update(fs=400, pad_to=5000)  # as if it were a 400 Hz, padded model
    (preset / METADATA_FILE).write_text(json.dumps(stored))
    candidates.load(found, load_manifest(data_500[0]))
    assert "sampling rate 400 Hz, data 500 Hz" in found.reason
    assert "--rate 400 --seconds 12 --pad-to 5000" in found.reason


def test_features_stream_through_the_presets_own_convention(data_500, ecgfounder, monkeypatch):
    import keras

    from ecg_tl_keras.advise import features
    from ecg_tl_keras.models.presets import load_pretrained

    data, val_fold = data_500
    model, _ = load_pretrained(ecgfounder)
    target = features.load_target(data, val_fold)
    monkeypatch.setattr(features, "BATCH_SIZE", 3)
    batches = list(target.train.batches(3))
    assert [len(batch) for batch in batches] == [3, 2]  # five records, never all at once
    streamed, probs = features.frozen_outputs(model, target.train)
    signals = np.concatenate(batches).astype(np.float64)
    mean = signals.mean(axis=(1, 2), keepdims=True)
    zscored = (signals - mean) / (signals.std(axis=(1, 2), keepdims=True) + 1e-8)
    by_hand = keras.ops.convert_to_numpy(model.get_layer("backbone")(zscored.astype("float32")))
    np.testing.assert_allclose(streamed, by_hand, rtol=1e-4, atol=1e-5)
    assert probs.shape == (5, 150) and len(target.val) == 2 and len(target.test) == 3


def test_a_random_encoder_is_the_architecture_with_seeded_fresh_weights(ecgfounder):
    from ecg_tl_keras.advise.baselines import architecture_key, random_encoder
    from ecg_tl_keras.models.conventions import RecordStandardization
    from ecg_tl_keras.models.presets import load_pretrained

    source, _ = load_pretrained(ecgfounder)
    first, again, other = (random_encoder(source, seed) for seed in (0, 0, 1))
    assert architecture_key(first) == architecture_key(source)
    assert isinstance(first.get_layer("normalization"), RecordStandardization)
    kernels = [model.get_layer("backbone").get_weights()[0] for model in
               (source, first, again, other)]
    np.testing.assert_array_equal(kernels[1], kernels[2])
    assert not np.array_equal(kernels[0], kernels[1]) and not np.array_equal(kernels[1],
                                                                             kernels[3])


@pytest.mark.slow
def test_finetuning_a_preset_is_compared_with_its_architecture_and_resnet1d18_from_scratch(
        data_500, ecgfounder, tmp_path, capsys):
    """One seed, one epoch: the three runs, their pairing and the report rows (a tiny budget
    on 5 records: whether a run learned is whatever the selection split says)."""
    from ecg_tl_keras import cli
    from ecg_tl_keras.advise.baselines import architecture_key
    from ecg_tl_keras.models.conventions import RecordStandardization
    from ecg_tl_keras.models.presets import load_pretrained
    from ecg_tl_keras.training.checkpoints import load_checkpoint

    data, val_fold = data_500
    preset = ecgfounder
    out = tmp_path / "advice"
    assert cli.main(["advise", "--data", str(data), "--checkpoint", str(preset), "--out",
                     str(out), "--seeds", "1", "--top", "1", "--epochs", "1", "--batch-size",
                     "4", "--val-fold", str(val_fold)]) == 0, capsys.readouterr().err[-3000:]
    advice = json.loads((out / "advice.json").read_text())
    assert list(advice["finetune"]) == ["ecgfounder"]  # the baseline is never fine-tuned
    result = advice["finetune"]["ecgfounder"]
    reference = result["reference"]
    assert (result["scratch_model"], reference["scratch_model"]) == ("ecgfounder's net1d",
                                                                    "resnet1d18")

    def metrics(name):
        return json.loads((out / "runs" / name / "seed0" / "metrics.json").read_text())

    tuned, own, ours = metrics("ecgfounder"), metrics("scratch-ecgfounder"), metrics(
        "scratch-resnet1d18")
    assert tuned["finetune_from"] == str(preset) and own["finetune_from"] is None
    precision = {name: json.loads((out / "runs" / name / "seed0" / "config.json").read_text())[
        "precision"] for name in ("ecgfounder", "scratch-ecgfounder")}
    assert len(set(precision.values())) == 1, precision  # the pair trains like for like
    assert result["gains"] == [pytest.approx(tuned["test_weighted_f1"] - own["test_weighted_f1"])]
    assert reference["gains"] == [pytest.approx(tuned["test_weighted_f1"]
                                                - ours["test_weighted_f1"])]
    scratch, _ = load_checkpoint(out / "runs" / "scratch-ecgfounder" / "seed0" / "best.keras")
    source, _ = load_pretrained(preset)
    assert isinstance(scratch.get_layer("normalization"), RecordStandardization)
    assert architecture_key(scratch) == architecture_key(source)
    resnet, _ = load_checkpoint(out / "runs" / "scratch-resnet1d18" / "seed0" / "best.keras")
    assert resnet.get_layer("backbone").count_params() > source.get_layer(
        "backbone").count_params()
    text = (out / "advice.md").read_text()
    assert "| ecgfounder | 1 |" in text and "| ecgfounder vs resnet1d18 from scratch | 1 |" in text
    assert advice["recommendation"] in text


def test_a_presets_second_comparison_is_worded_from_its_own_interval():
    from ecg_tl_keras.advise import decision
    from ecg_tl_keras.advise.finetune import gain_interval

    seeds = [0, 1, 2]

    def runs(role, val_f1, learned):
        return {f"{role}_val_f1": [val_f1] * 3, f"{role}_val_auc": [0.8] * 3,
                f"{role}_learned": learned, f"{role}_test_f1": [0.5] * 3}

    result = {"seeds": seeds, **runs("finetune", 0.6, [True] * 3),
              **runs("scratch", 0.5, [True] * 3), "scratch_model": "ecgfounder's net1d",
              "gains": [0.1, 0.12, 0.11], "compared_seeds": seeds,
              "interval": gain_interval([0.1, 0.12, 0.11])}
    result["reference"] = {"seeds": seeds, **runs("scratch", 0.55, [True, True, False]),
                           "scratch_model": "resnet1d18", "gains": [0.1, 0.05, 0.2],
                           "compared_seeds": [0, 1], "interval": gain_interval([0.1, 0.05])}
    advice = {"candidates": [{"name": "ecgfounder", "compatible": True, "rank": 1, "scores": {},
                              "kind": "preset", "model": "net1d", "path": "p"}],
              "finetune": {"ecgfounder": result}, "baselines": {"constant_val_f1": 0.3},
              "budget": {"train_records": 130, "batch_size": 16, "epochs": 5, "lr": 0.0025,
                         "given": ["epochs"]}, "data": {"path": "d", "val_records": 3}}
    text = decision.recommendation(advice)
    assert text.startswith("Start from ecgfounder: +0.110 weighted F1 [+0.085, +0.135]")
    assert text.endswith("Against resnet1d18 from scratch, fine-tuning ecgfounder measured "
                         "+0.075 weighted F1 [-0.243, +0.393] over it, 2 seeds "
                         "(no clear difference).")
    assert decision.not_learned(advice) == [
        "training resnet1d18 from scratch, seed 2: weighted F1 0.550, macro AUC 0.800"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_a_preset_is_scored_under_jax_without_tensorflow(data_500, ecgfounder, tmp_path):
    """A preset and its random encoder stream through the preset's own convention under
    ``KERAS_BACKEND=jax`` with TensorFlow unimportable (stage score; tests/test_jax_cli.py
    runs all three stages under JAX on a checkpoint of ours)."""
    data, val_fold = data_500
    preset = ecgfounder
    done = run_without_tensorflow("advise", "--data", data, "--checkpoint", preset, "--out",
                                  tmp_path / "advice", "--last-stage", "score", "--seeds", 1,
                                  "--val-fold", val_fold, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    advice = json.loads((tmp_path / "advice" / "advice.json").read_text())
    assert advice["stages_done"] == ["score"]
    assert advice["candidates"][0]["compatible"], advice["candidates"][0]["reason"]
    assert [entry["name"] for entry in advice["candidates"]] == [
        "ecgfounder", "random encoder (baseline): net1d"]
    assert all(np.isfinite(entry["scores"]["logme"]) for entry in advice["candidates"])


def test_a_record_zscore_preset_loads_in_a_fresh_process(ecgfounder):
    """Its input layer is registered by importing ``ecg_tl_keras.models`` alone (advise,
    evaluate and ``--finetune-from`` load presets in processes that never built one)."""
    preset = ecgfounder
    code = ("from ecg_tl_keras.models.presets import load_pretrained; "
            f"model, _ = load_pretrained({str(preset)!r}); "
            "print(type(model.get_layer('normalization')).__name__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "RecordStandardization"


def test_the_report_names_the_baseline_and_words_each_finding_from_its_interval(tmp_path):
    from ecg_tl_keras.advise import baselines, decision, report

    def entry(name, kind, value, **more):
        return {"name": name, "kind": kind, "compatible": True, "model": "net1d",
                "upstream": "ECGFounder", "path": name, "reason": None,
                "scores": {"probe_val_f1": value}, **more}

    per_seed = [0.60, 0.62, 0.61]
    advice = {"data": {"path": "OUT/mine", "train_records": 5}, "stage": "probe",
              "stages_done": ["score", "probe"], "ranked_by": "linear-probe weighted F1",
              "finetune": {}, "caveats": [],
              "candidates": [entry(f"{baselines.PREFIX}net1d", "baseline", 0.61, rank=2,
                                   seeds=[0, 1, 2], scores_by_seed={"probe_val_f1": per_seed}),
                             entry("ecgfounder", "preset", 0.70, rank=1,
                                   baseline=f"{baselines.PREFIX}net1d")]}
    comparison = {"candidate": "ecgfounder", "baseline": f"{baselines.PREFIX}net1d",
                  "score": "probe val wF1", **baselines.compare(0.70, per_seed, [0, 1, 2])}
    advice["baseline_comparisons"] = [comparison]
    advice["baseline_findings"] = [baselines.comparison_text(comparison)]
    advice["recommendation"] = decision.recommendation(advice)
    report.write(advice, tmp_path)
    text = (tmp_path / "advice.md").read_text()
    assert comparison["interval"]["verdict"] == "positive"
    assert ("| 2 | random encoder (baseline): net1d | net1d | nothing: random weights (mean of "
            "seeds 0, 1, 2) | 0.6100 |") in text
    assert "| 1 | ecgfounder | net1d | ECGFounder (preset) | 0.7000 |" in text
    assert ("- ecgfounder beats its random-encoder baseline (net1d): probe val wF1 0.700 vs "
            "0.610 (mean over random-encoder seeds 0, 1, 2); difference +0.090 [+0.065, "
            "+0.115] (t-interval over 3 seeds: random initialisation only") in text
    assert advice["recommendation"].startswith("ecgfounder ranks first among the pre-trained "
                                               "candidates")
    # one seed: no interval, so no claim either way
    single = baselines.comparison_text({**comparison, **baselines.compare(0.70, [0.6], [0])})
    assert "one baseline seed gives no interval, so no evidence either way" in single
    assert "beats" not in single
