"""`train --finetune-from PRESET`: a preset folder fine-tunes like a `.keras` checkpoint,
keeping its input convention, and is refused when its input differs from the data's."""

import json

import numpy as np
import pytest

from ecg_tl_keras.models import get_backbone, save_to_preset
from ecg_tl_keras.models.conventions import RecordStandardization, convention_layer
from ecg_tl_keras.models.presets import checkpoint_preset_metadata, preset_model
from ecg_tl_keras.testing import SMALL_ARCHITECTURES
from ecg_tl_keras.training import TrainConfig, train
from ecg_tl_keras.training.checkpoints import load_checkpoint


def _preset(folder, manifest, fs=None):
    """A small random-weight net1d preset for the built data's input (or another rate)."""
    shape = (manifest["samples"], len(manifest["leads"]))
    model = preset_model(get_backbone("net1d", shape, **SMALL_ARCHITECTURES["net1d"]), 3,
                         convention_layer({"type": "record_zscore", "epsilon": 1e-8}), "net1d")
    metadata = checkpoint_preset_metadata(model, {
        "labels": ["X", "Y", "Z"], "leads": manifest["leads"], "model": "net1d",
        "fs": manifest["fs"] if fs is None else fs})
    metadata["input"]["normalization"] = {"type": "record_zscore", "epsilon": 1e-8}
    return save_to_preset(model, folder, metadata), model


def _config(data, out, preset, **overrides):
    return TrainConfig(data=str(data), out=str(out), model="net1d", finetune_from=str(preset),
                       epochs=1, batch_size=64, verbose=0, **overrides)


@pytest.mark.slow
def test_finetune_from_a_preset_folder_keeps_its_convention(ptbxl_built, tmp_path):
    manifest = json.loads((ptbxl_built / "manifest.json").read_text())
    preset, source = _preset(tmp_path / "preset", manifest)
    metrics = train(_config(ptbxl_built, tmp_path / "run", preset, finetune="linear"))
    tuned, metadata = load_checkpoint(tmp_path / "run" / "best.keras")
    assert isinstance(tuned.get_layer("normalization"), RecordStandardization)
    assert tuned.output_shape == (None, len(metadata["labels"]))
    for before, after in zip(source.get_layer("backbone").get_weights(),
                             tuned.get_layer("backbone").get_weights()):
        np.testing.assert_array_equal(before, after)  # linear probing leaves the backbone
    assert metrics["finetune"] == "linear"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["finetuned_from"]["labels"] == ["X", "Y", "Z"]


def test_a_preset_of_another_rate_is_refused_with_the_rates(ptbxl_built, tmp_path):
    manifest = json.loads((ptbxl_built / "manifest.json").read_text())
    preset, _ = _preset(tmp_path / "preset", manifest, fs=500)
    with pytest.raises(ValueError, match="sampling rate 500 Hz, data 100 Hz"):
        train(_config(ptbxl_built, tmp_path / "run", preset))
