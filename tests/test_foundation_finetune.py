"""`train --finetune-from PRESET`: a preset folder fine-tunes like a `.keras` checkpoint,
keeping its input convention, and is refused when its input differs from the data's."""

import json

import numpy as np
import pytest

from ecg_tl_keras.models.conventions import RecordStandardization
from ecg_tl_keras.training import TrainConfig, train
from ecg_tl_keras.training.checkpoints import load_checkpoint
from preset_fixtures import small_net1d_preset


def _config(data, out, preset, **overrides):
    return TrainConfig(data=str(data), out=str(out), model="net1d", finetune_from=str(preset),
                       epochs=1, batch_size=64, verbose=0, **overrides)


@pytest.mark.slow
def test_finetune_from_a_preset_folder_keeps_its_convention(ptbxl_built, tmp_path):
    manifest = json.loads((ptbxl_built / "manifest.json").read_text())
    preset, source = small_net1d_preset(tmp_path / "preset", manifest)
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
    preset, _ = small_net1d_preset(tmp_path / "preset", manifest, fs=500)
    with pytest.raises(ValueError, match="sampling rate 500 Hz, data 100 Hz"):
        train(_config(ptbxl_built, tmp_path / "run", preset))
