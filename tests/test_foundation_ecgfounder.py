"""`ecg-tl-keras import ecgfounder` against a PyTorch forward pass of the same tensors.

The reference below is this test's own functional PyTorch forward pass of
ECGFounder's Net1D as its authors configure it (use_bn=False, use_do=False),
written from the architecture: same-padded convolutions (left pad = total // 2),
Swish, grouped k-tap convolutions, squeeze-excitation, a shortcut max-pooled over
zero padding and widened with zero channels, mean pooling and a linear head. The
random state dict has every key of the published layout, batch-norm tensors included.
"""

import json

import numpy as np
import pytest

from ecg_tl_keras.cli import main
from ecg_tl_keras.importers.ecgfounder import reference_layout
from ecg_tl_keras.models import from_preset
from ecg_tl_keras.models.net1d import ECGFOUNDER_CONFIG

torch = pytest.importorskip("torch", reason="PyTorch is the optional extra ecg-tl-keras[torch]")
F = torch.nn.functional


def random_state_dict(seed=0):
    """Every tensor of the published layout, drawn like PyTorch's default initialisation."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in reference_layout().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7, dtype=torch.long)
            continue
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        bound = 1.0 / np.sqrt(fan_in)
        state[key] = (torch.rand(shape, generator=generator) * 2 - 1) * bound
    return state


def _swish(x):
    return x * torch.sigmoid(x)


def _conv_same(state, prefix, x, stride=1, groups=1):
    weight, bias = state[f"{prefix}.conv.weight"], state[f"{prefix}.conv.bias"]
    length, kernel = x.shape[-1], weight.shape[-1]
    total = max(0, (-(-length // stride) - 1) * stride + kernel - length)
    x = F.pad(x, (total // 2, total - total // 2))
    return F.conv1d(x, weight, bias, stride=stride, groups=groups)


def reference_logits(state, x, config=ECGFOUNDER_CONFIG):
    """Net1D's forward pass without batch normalization or dropout, input (batch, leads, time)."""
    out = _swish(_conv_same(state, "first_conv", x, stride=2))
    for stage, (filters, blocks) in enumerate(zip(config["filter_list"],
                                                  config["m_blocks_list"])):
        for block in range(blocks):
            prefix = f"stage_list.{stage}.block_list.{block}"
            stride = config["stride"] if block == 0 else 1
            h = out if stage == 0 and block == 0 else _swish(out)
            h = _conv_same(state, f"{prefix}.conv1", h)
            h = _conv_same(state, f"{prefix}.conv2", _swish(h), stride=stride,
                           groups=filters // config["groups_width"])
            h = _conv_same(state, f"{prefix}.conv3", _swish(h))
            se = _swish(F.linear(h.mean(-1), state[f"{prefix}.se_fc1.weight"],
                                 state[f"{prefix}.se_fc1.bias"]))
            se = torch.sigmoid(F.linear(se, state[f"{prefix}.se_fc2.weight"],
                                        state[f"{prefix}.se_fc2.bias"]))
            h = h * se[:, :, None]
            shortcut = out
            if block == 0 and stride > 1:
                pad = stride - 1
                shortcut = F.max_pool1d(F.pad(shortcut, (pad // 2, pad - pad // 2)), stride)
            extra = filters - shortcut.shape[1]
            if extra:
                shortcut = F.pad(shortcut.transpose(1, 2), (extra // 2, extra - extra // 2))
                shortcut = shortcut.transpose(1, 2)
            out = h + shortcut
    return F.linear(out.mean(-1), state["dense.weight"], state["dense.bias"])


def _keras_logits(model, signals):
    """The head's logits (the backbone features times the head kernel, plus its bias) and the
    model's probabilities, from one forward pass (one trace of the 30 M-parameter network)."""
    import keras

    both = keras.Model(model.input, [model.get_layer("head").input, model.output])
    features, probabilities = both.predict(signals, verbose=0)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("head").get_weights())
    return np.asarray(features, np.float64) @ kernel + bias, np.asarray(probabilities)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ecgfounder")
    state = random_state_dict()
    weights = folder / "12_lead_ECGFounder.pth"
    torch.save({"state_dict": state, "epoch": 3}, weights)
    labels = folder / "tasks.txt"
    labels.write_text("".join(f"LABEL {i}\n" for i in range(150)))
    assert main(["import", "ecgfounder", "--weights", str(weights), "--out",
                 str(folder / "preset"), "--labels", str(labels)]) == 0
    return state, folder


@pytest.fixture(scope="module")
def imported(converted):
    """The converted preset, loaded once for the tests that only read it."""
    return from_preset(converted[1] / "preset")


@pytest.mark.slow
def test_imported_logits_match_the_pytorch_forward_pass(converted, imported):
    state, folder = converted
    rng = np.random.default_rng(1)
    raw = rng.normal(0.0, 0.4, (2, 5000, 12)).astype("float32")  # mV, (batch, time, leads)
    standardized = (raw - raw.mean(axis=(1, 2), keepdims=True)) / (
        raw.std(axis=(1, 2), keepdims=True) + 1e-8)
    with torch.no_grad():
        expected = reference_logits(state, torch.from_numpy(
            standardized.transpose(0, 2, 1).copy())).numpy()
    logits, probabilities = _keras_logits(imported, raw)
    assert logits.shape == (2, 150)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-expected)), atol=1e-5)
    assert np.ptp(expected) > 0.1, "a degenerate reference would compare nothing"


@pytest.mark.slow
def test_preset_metadata_records_the_authors_configuration(converted):
    _, folder = converted
    metadata = json.loads((folder / "preset" / "metadata.json").read_text())
    assert metadata["input"]["fs"] == 500 and metadata["input"]["samples"] == 5000
    assert metadata["input"]["normalization"]["type"] == "record_zscore"
    assert metadata["architecture"]["use_bn"] is False
    assert metadata["architecture"]["use_do"] is False
    assert [label["name"] for label in metadata["labels"]][:2] == ["LABEL 0", "LABEL 1"]
    assert len(metadata["source"]["sha256"]) == 64


@pytest.mark.slow
def test_a_new_head_keeps_the_backbone(converted, imported):
    _, folder = converted
    original = imported
    adapted = from_preset(folder / "preset", num_classes=4)
    assert adapted.output_shape == (None, 4)
    kept = original.get_layer("backbone").get_layer("stage7_block4_conv3").get_weights()[0]
    np.testing.assert_array_equal(
        adapted.get_layer("backbone").get_layer("stage7_block4_conv3").get_weights()[0], kept)


def _import(tmp_path, state, capsys):
    weights = tmp_path / "bad.pth"
    torch.save({"state_dict": state}, weights)
    status = main(["import", "ecgfounder", "--weights", str(weights), "--out",
                   str(tmp_path / "preset")])
    return status, capsys.readouterr().err


@pytest.fixture(scope="module")
def small_state():
    return {key: torch.zeros(shape) for key, shape in reference_layout().items()}


def test_a_misshapen_tensor_is_refused_by_name(tmp_path, capsys, small_state):
    state = dict(small_state)
    state["stage_list.3.block_list.1.conv2.conv.weight"] = torch.zeros(400, 16, 15)
    status, error = _import(tmp_path, state, capsys)
    assert status == 2
    assert "stage_list.3.block_list.1.conv2.conv.weight has shape (400, 16, 15)" in error
    assert not (tmp_path / "preset").exists()


def test_a_missing_and_an_unknown_tensor_are_refused(tmp_path, capsys, small_state):
    state = {key: value for key, value in small_state.items() if key != "dense.bias"}
    assert "lacks dense.bias" in _import(tmp_path, state, capsys)[1]
    state = {**small_state, "stage_list.7.block_list.0.conv1.conv.weight": torch.zeros(1)}
    assert "stage_list.7.block_list.0.conv1.conv.weight is not a tensor" in _import(
        tmp_path, state, capsys)[1]
