"""End to end on real records: a folder dataset of Georgia (CinC) and PTB-XL records with a
labels.csv is built, a PTB-XL checkpoint is pre-trained, and ``ecg-tl-keras advise`` runs all
three stages (tiny: 1 epoch, 2 seeds; minutes on 2 CPU cores)."""

from __future__ import annotations

import json

import pytest

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
    usable, unusable = advice["candidates"]
    assert usable["compatible"] and usable["upstream"] == "ptbxl" and usable["rank"] == 1
    assert set(usable["scores"]) >= {"melep", "logme", "probe_val_f1", "probe_test_f1"}
    assert not unusable["compatible"] and "500 samples" in unusable["reason"]

    measured = advice["finetune"]["ptbxl-gru"]
    for seed, gain in zip(measured["seeds"], measured["gains"]):
        tuned = json.loads((advice_dir / "runs" / "ptbxl-gru" / f"seed{seed}" / "metrics.json")
                           .read_text())
        scratch = json.loads((advice_dir / "runs" / "scratch-gru" / f"seed{seed}" / "metrics.json")
                             .read_text())
        assert tuned["finetune_from"].endswith("best.keras") and scratch["finetune_from"] is None
        assert tuned["select_on"] == scratch["select_on"] == "val"
        assert gain == pytest.approx(tuned["test_weighted_f1"] - scratch["test_weighted_f1"])
    verdict = measured["interval"]["verdict"]
    opening = {"positive": "Start from ptbxl-gru", "unclear": "No evidence",
               "negative": "Pre-training hurts"}[verdict]
    assert advice["recommendation"].startswith(opening)
    text = (advice_dir / "advice.md").read_text()
    assert advice["recommendation"] in text and "short (" in text and "Caveats" in text
    assert (advice_dir / "advice.png").stat().st_size > 1000
