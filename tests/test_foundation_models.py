"""The foundation models' Keras backbones (`net1d`, `ribeiro_resnet`), their input
conventions, and presets (`save_to_preset`, `from_preset`, `load_pretrained`)."""

import json
import sys

import keras
import numpy as np
import pytest

from ecg_tl_keras.importers.ecgfounder import TORCH_HINT, import_ecgfounder
from ecg_tl_keras.models import (
    backbone_stages,
    build_model,
    from_preset,
    get_backbone,
    save_to_preset,
)
from ecg_tl_keras.models.conventions import RecordStandardization, convention_layer
from ecg_tl_keras.models.net1d import ChannelZeroPadding
from ecg_tl_keras.models.presets import load_pretrained, load_preset, preset_model
from ecg_tl_keras.testing import SMALL_ARCHITECTURES
from ecg_tl_keras.training.checkpoints import input_mismatch, save_checkpoint

SMALL_NET1D = SMALL_ARCHITECTURES["net1d"]
SMALL_RIBEIRO = SMALL_ARCHITECTURES["ribeiro_resnet"]


def _round_trip(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    return keras.saving.load_model(path, safe_mode=True)


def test_net1d_lengths_follow_same_padding_with_ceil_division():
    backbone = get_backbone("net1d", (625, 12), **SMALL_NET1D)
    assert backbone.get_layer("stem_conv").output.shape == (None, 313, 8)
    assert backbone.get_layer("stage1_block1_add").output.shape == (None, 157, 16)
    assert backbone.get_layer("stage2_block1_add").output.shape == (None, 79, 32)
    assert backbone.output_shape == (None, 32)


def test_net1d_grouped_convolution_has_filters_over_groups_width_groups():
    backbone = get_backbone("net1d", (64, 12), **SMALL_NET1D)
    conv = backbone.get_layer("stage2_block1_conv2")
    assert conv.groups == 32 // 8 and conv.kernel.shape == (16, 32 // 4, 32)


def test_net1d_batch_norm_and_dropout_only_when_asked():
    plain = get_backbone("net1d", (64, 12), **SMALL_NET1D)
    assert not any(isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout))
                   for layer in plain.layers)
    full = get_backbone("net1d", (64, 12), use_bn=True, dropout=0.5, **SMALL_NET1D)
    names = {layer.name for layer in full.layers}
    assert {"stem_bn", "stage1_block1_2_bn", "stage2_block1_1_bn"} <= names
    assert "stage1_block1_1_bn" not in names  # the first block has no pre-activation
    assert "stage2_block1_3_dropout" in names


def test_net1d_rejects_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="groups"):
        get_backbone("net1d", (64, 12), base_filters=8, filter_list=(25,), m_blocks_list=(1,),
                     groups_width=10)
    with pytest.raises(ValueError, match="never narrower"):
        get_backbone("net1d", (64, 12), base_filters=32, filter_list=(16,), m_blocks_list=(1,),
                     groups_width=8)


def test_channel_padding_centres_the_identity():
    out = ChannelZeroPadding(1, 2)(np.arange(6, dtype="float32").reshape(1, 3, 2)).numpy()
    assert out.shape == (1, 3, 5)
    np.testing.assert_array_equal(out[0, :, 1:3], np.arange(6).reshape(3, 2))
    assert not out[0, :, [0, 3, 4]].any()


@pytest.mark.parametrize("name,small", [("net1d", SMALL_NET1D), ("ribeiro_resnet", SMALL_RIBEIRO)])
def test_foundation_backbones_round_trip_through_keras_files(tmp_path, name, small):
    model = build_model(name, 3, input_shape=(128, 12), **small)
    loaded = _round_trip(model, tmp_path)
    x = np.random.default_rng(0).normal(0, 0.5, (2, 128, 12)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    assert [stage[0].name.split("_")[0] for stage in backbone_stages(model)][0] == "stem"


def test_ribeiro_resnet_published_shapes():
    backbone = get_backbone("ribeiro_resnet", (4096, 12))
    assert backbone.get_layer("unit1_add").output.shape == (None, 1024, 128)
    assert backbone.get_layer("unit4_add").output.shape == (None, 16, 320)
    assert backbone.output_shape == (None, 5120)
    assert backbone.get_layer("stem_bn").epsilon == pytest.approx(1e-3)


def test_record_standardization_uses_every_lead_and_sample():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (2, 50, 4)).astype("float32")
    expected = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True)
                                                          + 1e-8)
    np.testing.assert_allclose(RecordStandardization()(x).numpy(), expected, atol=1e-5)
    assert RecordStandardization.from_config(RecordStandardization(epsilon=0.5).get_config()
                                             ).epsilon == 0.5


def test_convention_layer_refuses_an_unknown_type():
    with pytest.raises(ValueError, match="record_zscore, scale"):
        convention_layer({"type": "bandpass"})
    with pytest.raises(ValueError, match="positive factor"):
        convention_layer({"type": "scale", "factor": 0})


def _small_preset_model():
    backbone = get_backbone("net1d", (100, 12), **SMALL_NET1D)
    return preset_model(backbone, 3, convention_layer({"type": "record_zscore"}), "net1d")


def _metadata(model):
    from ecg_tl_keras.models.presets import checkpoint_preset_metadata

    return checkpoint_preset_metadata(model, {"labels": ["A", "B", "C"], "fs": 10,
                                              "leads": [f"L{i}" for i in range(12)],
                                              "model": "net1d"})


def test_preset_round_trip_keeps_outputs_and_convention(tmp_path):
    model = _small_preset_model()
    save_to_preset(model, tmp_path / "p", _metadata(model))
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "config.json", "metadata.json", "model.weights.h5"]
    loaded = from_preset(tmp_path / "p")
    x = np.random.default_rng(0).normal(0, 1, (2, 100, 12)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    assert isinstance(loaded.get_layer("normalization"), RecordStandardization)
    assert from_preset(tmp_path / "p", num_classes=7).output_shape == (None, 7)


def test_preset_metadata_reads_as_checkpoint_metadata(tmp_path):
    model = _small_preset_model()
    save_to_preset(model, tmp_path / "p", _metadata(model))
    _, metadata = load_pretrained(tmp_path / "p")
    assert metadata["labels"] == ["A", "B", "C"] and metadata["model"] == "net1d"
    manifest = {"fs": 100, "samples": 100, "leads": [f"L{i}" for i in range(12)]}
    assert input_mismatch(metadata, (100, 12), manifest) == "sampling rate 10 Hz, data 100 Hz"


def test_save_to_preset_from_a_checkpoint_file(tmp_path):
    model = build_model("gru", 2, input_shape=(40, 12), units=4)
    save_checkpoint(model, tmp_path / "best.keras",
                    {"labels": ["NORM", "MI"], "fs": 100, "model": "gru",
                     "leads": ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4",
                               "V5", "V6"]})
    save_to_preset(tmp_path / "best.keras", tmp_path / "preset")
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["input"]["fs"] == 100 and metadata["input"]["samples"] == 40
    assert metadata["labels"] == [{"name": "NORM", "code": "NORM"}, {"name": "MI", "code": "MI"}]
    assert load_preset(tmp_path / "preset")[0].output_shape == (None, 2)


def test_save_to_preset_refuses_to_overwrite_and_disagreeing_metadata(tmp_path):
    model = _small_preset_model()
    save_to_preset(model, tmp_path / "p", _metadata(model))
    with pytest.raises(ValueError, match="exists"):
        save_to_preset(model, tmp_path / "p", _metadata(model))
    wrong = _metadata(model)
    wrong["input"]["samples"] = 5000
    with pytest.raises(ValueError, match="metadata says 5000 samples"):
        save_to_preset(model, tmp_path / "q", wrong)
    assert not (tmp_path / "q").exists()


def test_a_folder_without_the_preset_files_is_named(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="lacks model.weights.h5, metadata.json"):
        from_preset(tmp_path / "p")


def test_without_pytorch_the_ecgfounder_import_says_how_to_install_it(tmp_path, monkeypatch):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(ValueError, match="ecg-tl-keras\\[torch\\]") as caught:
        import_ecgfounder(weights, tmp_path / "preset")
    assert str(caught.value) == TORCH_HINT
    assert not (tmp_path / "preset").exists()


def test_a_model_without_a_known_rate_needs_metadata(tmp_path):
    model = build_model("gru", 2, input_shape=(40, 12), units=4)
    with pytest.raises(ValueError, match="input needs fs \\(Hz\\) > 0.*got fs None"):
        save_to_preset(model, tmp_path / "p")
    assert not (tmp_path / "p").exists()
