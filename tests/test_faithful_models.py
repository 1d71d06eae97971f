"""The study's own model settings (issue 9): the flatten readout and per-record min-max scaling.

Each option is checked against an independent computation: the study's PyTorch parameter
formulas and scikit-learn's MinMaxScaler.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

from ecg_tl_keras.models import build_model, get_backbone, replace_head  # noqa: E402

SHAPE = (40, 12)
UNITS = 100


def _torch_lstm_params(n_in, hidden):
    """``nn.LSTM(n_in, hidden)``: 4 gates, input and recurrent kernels, two bias vectors."""
    return 4 * hidden * (n_in + hidden) + 8 * hidden


def _torch_gru_params(n_in, hidden):
    """``nn.GRU(n_in, hidden)``: 3 gates, two bias vectors (as Keras' reset_after=True)."""
    return 3 * hidden * (n_in + hidden) + 6 * hidden


# Keras' LSTM has one bias vector per gate set where PyTorch has two: 4 * hidden fewer.
RECURRENT_PARAMS = {
    "lstm": (lambda n, h: _torch_lstm_params(n, h) - 4 * h, 1),
    "bilstm": (lambda n, h: 2 * (_torch_lstm_params(n, h) - 4 * h), 2),
    "gru": (_torch_gru_params, 1),
}


@pytest.mark.parametrize("name", sorted(RECURRENT_PARAMS))
def test_flatten_readout_parameters_are_the_studys_linear_classifier(name):
    recurrent, directions = RECURRENT_PARAMS[name]
    n_labels = 5
    model = build_model(name, n_labels, input_shape=SHAPE, readout="flatten")
    seq_len, n_leads = SHAPE
    classifier = seq_len * directions * UNITS * n_labels + n_labels  # Linear(seq_len*hidden, n)
    assert model.get_layer("head").count_params() == classifier
    assert model.get_layer("backbone").count_params() == recurrent(n_leads, UNITS)
    # The normalization statistics are constants, not weights: backbone + head, nothing else.
    assert model.count_params() == classifier + recurrent(n_leads, UNITS)


def test_flatten_readout_matches_the_studys_lstm_at_full_size():
    # The figures: LSTM, 1000 steps, 5 labels -> 500,005 classifier weights of
    # 545,605 in PyTorch (545,205 in Keras: 400 fewer bias weights).
    model = build_model("lstm", 5, readout="flatten", input_scaling="minmax")
    assert model.get_layer("head").count_params() == 500_005
    assert model.count_params() == 545_605 - 400


@pytest.mark.parametrize("name", sorted(RECURRENT_PARAMS))
def test_flatten_features_are_every_step_of_the_sequence_output(name):
    backbone = get_backbone(name, input_shape=SHAPE, readout="flatten", dropout=0.0)
    sequence = keras.Model(backbone.input, backbone.get_layer("rnn").output)
    x = np.random.default_rng(0).normal(size=(3, *SHAPE)).astype("float32")
    steps = np.asarray(sequence(x))
    assert steps.shape == (3, SHAPE[0], backbone.output_shape[1] // SHAPE[0])
    np.testing.assert_array_equal(np.asarray(backbone(x)), steps.reshape(3, -1))


def test_last_readout_is_the_default():
    model = build_model("gru", 3, input_shape=SHAPE)
    assert model.get_layer("backbone").output_shape == (None, UNITS)
    assert get_backbone("gru", input_shape=SHAPE, readout="last").output_shape == (None, UNITS)


def test_replace_head_reinitialises_the_flattened_classifier_and_keeps_the_rnn():
    source = build_model("lstm", 5, input_shape=SHAPE, readout="flatten")
    target = replace_head(source, 3)
    np.testing.assert_array_equal(
        source.get_layer("backbone").get_layer("rnn").get_weights()[0],
        target.get_layer("backbone").get_layer("rnn").get_weights()[0])
    kernel = target.get_layer("head").get_weights()[0]
    assert kernel.shape == (SHAPE[0] * UNITS, 3)
    assert not np.array_equal(kernel, source.get_layer("head").get_weights()[0][:, :3])


@pytest.mark.parametrize("kwargs, match", [
    ({"readout": "mean"}, "readout must be one of last, flatten"),
    ({"readout": "flatten", "dropout": 1.0}, "dropout"),
])
def test_bad_recurrent_readout_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_backbone("lstm", input_shape=SHAPE, **kwargs)


def test_readout_on_a_backbone_without_one_is_refused():
    with pytest.raises(ValueError, match="resnet1d18.*takes no argument.*readout"):
        build_model("resnet1d18", 2, input_shape=SHAPE, readout="flatten")


# --------------------------------------------------------------------------- min-max scaling


def test_minmax_scaling_equals_sklearn_per_record():
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 0.4, size=(4, *SHAPE)).astype("float32")
    x[1, :, 5] = 0.7  # a constant lead: sklearn divides by 1 and maps it to -1
    model = build_model("gru", 2, input_shape=SHAPE, input_scaling="minmax")
    scaled = np.asarray(keras.Model(model.input, model.get_layer("normalization").output)(x))
    for record, ours in zip(x, scaled):
        expected = MinMaxScaler(feature_range=(-1, 1)).fit_transform(record.astype(np.float64))
        np.testing.assert_allclose(ours, expected, atol=2e-6)


def test_minmax_ignores_dataset_statistics_and_zscore_uses_them():
    x = np.random.default_rng(4).normal(size=(2, *SHAPE)).astype("float32")
    stats = ([1.0] * SHAPE[1], [2.0] * SHAPE[1])
    outputs = {}
    for scaling in ("zscore", "minmax"):
        model = build_model("gru", 2, input_shape=SHAPE, input_scaling=scaling,
                            normalization=stats)
        outputs[scaling] = np.asarray(
            keras.Model(model.input, model.get_layer("normalization").output)(x))
    np.testing.assert_allclose(outputs["zscore"], (x - 1.0) / 2.0, atol=1e-6)
    assert outputs["minmax"].min() == pytest.approx(-1.0) and outputs["minmax"].max() == 1.0


def test_unknown_input_scaling():
    with pytest.raises(ValueError, match="input_scaling must be one of zscore, minmax"):
        build_model("gru", 2, input_shape=SHAPE, input_scaling="robust")


def test_faithful_model_round_trips_with_safe_mode(tmp_path):
    model = build_model("bilstm", 4, input_shape=SHAPE, readout="flatten", input_scaling="minmax")
    x = np.random.default_rng(5).normal(size=(2, *SHAPE)).astype("float32")
    path = tmp_path / "faithful.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    assert type(loaded.get_layer("normalization")).__name__ == "MinMaxScaling"
    again = keras.Model.from_config(model.get_config())
    assert again.get_layer("backbone").output_shape == model.get_layer("backbone").output_shape
