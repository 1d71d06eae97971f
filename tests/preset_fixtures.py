"""Small random-weight presets for the tests that fine-tune one (built by the tests)."""

from ecg_tl_keras.models import get_backbone, save_to_preset
from ecg_tl_keras.models.conventions import convention_layer
from ecg_tl_keras.models.presets import checkpoint_preset_metadata, preset_model
from ecg_tl_keras.testing import SMALL_ARCHITECTURES

RECORD_ZSCORE = {"type": "record_zscore", "epsilon": 1e-8}


#: The preset's net1d: one stage of one block (the contract's small net1d has two stages): the
#: tests that use it check how a preset is read, fine-tuned and compared, not its depth, and
#: each fine-tune of the two-stage one spent seconds more in its steps.
PRESET_NET1D = {**SMALL_ARCHITECTURES["net1d"], "filter_list": (16,), "m_blocks_list": (1,)}


def small_net1d_preset(folder, manifest, fs=None):
    """A small random-weight net1d preset (``PRESET_NET1D``) for a built dataset's input (or
    another rate).

    Returns:
        ``(preset folder, the model saved there)``.
    """
    shape = (manifest["samples"], len(manifest["leads"]))
    model = preset_model(get_backbone("net1d", shape, **PRESET_NET1D), 3,
                         convention_layer(RECORD_ZSCORE), "net1d")
    metadata = checkpoint_preset_metadata(model, {
        "labels": ["X", "Y", "Z"], "leads": manifest["leads"], "model": "net1d",
        "fs": manifest["fs"] if fs is None else fs})
    metadata["input"]["normalization"] = RECORD_ZSCORE
    return save_to_preset(model, folder, metadata), model
