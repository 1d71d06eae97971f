"""Tests of ecg_tl_keras.models: backbones, build_model, heads and fine-tuning helpers."""

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ecg_tl_keras.models import (  # noqa: E402
    available_backbones,
    backbone_stages,
    build_model,
    freeze_backbone,
    get_backbone,
    get_backbone_spec,
    register_backbone,
    replace_head,
    unfreeze_backbone,
    unfreeze_stages,
    unregister_backbone,
)
from ecg_tl_keras.testing import (  # noqa: E402
    BackboneTestCase,
    SMALL_ARCHITECTURES,
    check_backbone,
    predict_batch,
    same_weights,
    train_step,
)

SHORT_SHAPE = (64, 12)
N_LABELS = 5
RNN_BACKBONES = ("lstm", "bilstm", "gru")
RESNET_SPECS = {
    "resnet1d18": ("basic", (2, 2, 2, 2)),
    "resnet1d50": ("bottleneck", (3, 4, 6, 3)),
    "resnet1d101": ("bottleneck", (3, 4, 23, 3)),
}
# Parameter counts torchvision publishes for its 2-D ImageNet models
# (3 input channels, 1000-class fc layer), used to validate the formula below.
TORCHVISION_2D_PARAMS = {
    "resnet1d18": 11_689_512,
    "resnet1d50": 25_557_032,
    "resnet1d101": 44_549_160,
}


def _batch(shape, batch_size=4, n_labels=N_LABELS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.1, 0.5, size=(batch_size, *shape)).astype("float32")
    y = (rng.random((batch_size, n_labels)) > 0.5).astype("float32")
    return x, y


def _stats(n_leads, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.05, n_leads), rng.uniform(0.1, 0.3, n_leads)


def _snapshot(model):
    return [np.array(w) for w in model.get_weights()]


def _layer_weights(model, name):
    return [np.array(w) for w in model.get_layer(name).get_weights()]


@functools.cache
def _classifier(name):
    """``build_model(name, N_LABELS, input_shape=SHORT_SHAPE)`` (the foundation models at
    their ``SMALL_ARCHITECTURES`` sizes), built once for the tests that only read it."""
    return build_model(name, N_LABELS, input_shape=SHORT_SHAPE,
                       **SMALL_ARCHITECTURES.get(name, {}))


# --------------------------------------------------------------------------- contract


class TestBuiltinBackbones(BackboneTestCase):
    """Every built-in backbone passes the test case a user's backbone runs (one test each;
    the ResNets and the foundation models at the small sizes of ``SMALL_ARCHITECTURES``:
    the ResNets with every layer, 8 filters wide; their published sizes are checked below).

    The JAX leg runs in ``tests/test_extensions.py`` (a user's backbone, in a child process)
    and ``tests/test_backends.py`` (``check_backbone`` of every backbone under JAX and
    PyTorch, one process per backend), not once per backbone here.
    """

    def check(self, name):
        small = SMALL_ARCHITECTURES.get(name, {})
        summary = self.run_backbone_test(name, input_shape=SHORT_SHAPE, n_labels=N_LABELS,
                                         batch_size=2, init_kwargs=small, backends=())
        self.assertEqual(summary["family"], get_backbone_spec(name).family)
        self.assertEqual(summary["params"], _classifier(name).count_params())
        self.assertEqual(set(summary["policies"]), {"float32", "mixed_float16"})


for _name in available_backbones():
    setattr(TestBuiltinBackbones, f"test_{_name}",
            lambda self, name=_name: self.check(name))


def test_resnet_width_scales_every_stage_and_keeps_every_layer():
    published, narrow = get_backbone("resnet1d50"), get_backbone("resnet1d50", width=8)
    assert [layer.name for layer in narrow.layers] == [layer.name for layer in published.layers]
    assert narrow.output_shape == (None, 2048 // 8)
    assert narrow.get_layer("stem_conv").filters == 8
    assert narrow.get_layer("stage3_block1_2_conv").filters == 32
    for width in (0, 8.0, True):
        with pytest.raises(ValueError, match="width"):
            get_backbone("resnet1d18", width=width)


def test_available_backbones_are_the_studys_six_transformer1d_and_the_foundation_models():
    assert available_backbones() == [
        "resnet1d18", "resnet1d50", "resnet1d101", "lstm", "bilstm", "gru", "transformer1d",
        "net1d", "ribeiro_resnet"]


def test_contract_harness_catches_a_broken_backbone(registered):
    class Unregistered(keras.layers.Layer):  # not registered serializable: safe_mode fails
        def call(self, x):
            return x * 2.0

    def broken(input_shape=(1000, 12)):
        inputs = keras.Input(shape=input_shape)
        x = keras.layers.Conv1D(4, 3, name="conv")(Unregistered(name="double")(inputs))
        return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(x), name="backbone")

    registered("broken_cnn", builder=broken, family="cnn")
    with pytest.raises((AssertionError, TypeError, ValueError), match="(?i)unregistered|round"):
        check_backbone("broken_cnn", input_shape=SHORT_SHAPE)


def test_default_input_is_ten_seconds_of_twelve_leads():
    assert build_model("gru", 3).input_shape == (None, 1000, 12)


def test_mlp_head_round_trips(tmp_path):
    x, y = _batch(SHORT_SHAPE)
    model = build_model("gru", N_LABELS, input_shape=SHORT_SHAPE, head="mlp")
    assert [layer.name for layer in model.layers][-2:] == ["head_hidden", "head"]
    assert model.get_layer("head_hidden").units == 512
    train_step(model, x, y)
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(predict_batch(loaded, x), predict_batch(model, x))


# --------------------------------------------------------------------------- validation


def test_unknown_backbone_lists_available_names():
    with pytest.raises(ValueError, match="resnet1d18.*gru"):
        get_backbone("resnet1d34")
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model("transformer", N_LABELS)


@pytest.mark.parametrize("n_labels", [0, -1, 2.5, True, "5", None])
def test_bad_n_labels(n_labels):
    with pytest.raises(ValueError, match="n_labels"):
        build_model("gru", n_labels, input_shape=SHORT_SHAPE)


@pytest.mark.parametrize("input_shape", [(1000,), (1000, 12, 1), (0, 12), (1000, -12),
                                         (1000.5, 12), (None, 12), "ab", 1000])
def test_bad_input_shape(input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        build_model("lstm", N_LABELS, input_shape=input_shape)


def test_unknown_head():
    with pytest.raises(ValueError, match="head must be one of linear, mlp; got 'conv'"):
        build_model("gru", N_LABELS, input_shape=SHORT_SHAPE, head="conv")


@pytest.mark.parametrize("normalization", [
    ([0.0] * 11, [1.0] * 11),
    ([0.0] * 12, [1.0] * 11 + [0.0]),
    ([0.0] * 11 + [np.nan], [1.0] * 12),
    {"mean": [0.0] * 12},
    ([0.0] * 12,),
    "mean,std",
])
def test_bad_normalization(normalization):
    with pytest.raises(ValueError, match="normalization"):
        build_model("gru", N_LABELS, input_shape=SHORT_SHAPE, normalization=normalization)


@pytest.mark.parametrize("kwargs", [{"units": 0}, {"units": 2.0}, {"dropout": 1.0},
                                    {"dropout": -0.1}])
def test_bad_recurrent_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        get_backbone("lstm", input_shape=SHORT_SHAPE, **kwargs)


# --------------------------------------------------------------------------- normalization


@pytest.mark.parametrize("as_mapping", [False, True])
def test_normalization_layer_standardizes_each_lead(as_mapping):
    mean, std = _stats(12)
    normalization = {"mean": mean.tolist(), "std": std.tolist()} if as_mapping else (mean, std)
    model = build_model("gru", N_LABELS, input_shape=SHORT_SHAPE, normalization=normalization)
    standardize = keras.Model(model.input, model.get_layer("normalization").output)
    at_mean = np.broadcast_to(mean, (2, *SHORT_SHAPE)).astype("float32")
    one_std_up = (at_mean + std).astype("float32")
    np.testing.assert_allclose(standardize.predict(at_mean, verbose=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardize.predict(one_std_up, verbose=0), 1.0, atol=1e-5)


def test_no_normalization_is_identity():
    x, _ = _batch(SHORT_SHAPE)
    model = build_model("gru", N_LABELS, input_shape=SHORT_SHAPE)
    standardize = keras.Model(model.input, model.get_layer("normalization").output)
    np.testing.assert_array_equal(predict_batch(standardize, x), x)


# --------------------------------------------------------------------------- replace_head


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_replace_head_copies_backbone_and_isolates_models(head):
    x, y = _batch(SHORT_SHAPE)
    source = build_model("resnet1d18", N_LABELS, input_shape=SHORT_SHAPE, head=head,
                         normalization=_stats(SHORT_SHAPE[1]))
    train_step(source, x, y)  # non-trivial BatchNorm statistics
    source_weights = _snapshot(source)

    target = replace_head(source, 3)
    assert target.output_shape == (None, 3)
    assert target.get_layer("head").get_weights()[0].shape[1] == 3
    assert [layer.name for layer in target.layers] == [layer.name for layer in source.layers]
    for layer in source.layers:
        if layer.name != "head":
            assert same_weights(_layer_weights(source, layer.name),
                              _layer_weights(target, layer.name)), layer.name
    assert not {id(v) for v in source.weights} & {id(v) for v in target.weights}

    backbone_before = _layer_weights(target, "backbone")
    train_step(target, x, _batch(SHORT_SHAPE, n_labels=3)[1])
    assert not same_weights(backbone_before, _layer_weights(target, "backbone"))
    assert same_weights(source_weights, _snapshot(source))


def test_replace_head_loaded_checkpoint(tmp_path):
    x, _ = _batch(SHORT_SHAPE)
    source = build_model("bilstm", N_LABELS, input_shape=SHORT_SHAPE)
    source.save(tmp_path / "source.keras")
    loaded = keras.saving.load_model(tmp_path / "source.keras", safe_mode=True)
    target = replace_head(loaded, 2)
    features = keras.Model(target.input, target.get_layer("head").input)
    reference = keras.Model(source.input, source.get_layer("head").input)
    np.testing.assert_array_equal(predict_batch(features, x), predict_batch(reference, x))


def test_replace_head_needs_a_head():
    with pytest.raises(ValueError, match="no 'head' layer"):
        replace_head(get_backbone("gru", input_shape=SHORT_SHAPE), 3)
    with pytest.raises(ValueError, match="n_labels"):
        replace_head(build_model("gru", N_LABELS, input_shape=SHORT_SHAPE), 0)


# --------------------------------------------------------------------------- freezing


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_freeze_trains_only_the_head_and_keeps_batchnorm_statistics():
    x, y = _batch(SHORT_SHAPE)
    model = build_model("resnet1d18", N_LABELS, input_shape=SHORT_SHAPE, head="mlp")
    all_trainable = _trainable_count(model)
    head_params = sum(model.get_layer(name).count_params() for name in ("head_hidden", "head"))

    freeze_backbone(model)
    assert _trainable_count(model) == head_params
    backbone_before = _layer_weights(model, "backbone")  # includes BN moving mean/variance
    head_before = _layer_weights(model, "head")
    train_step(model, x, y)
    assert same_weights(backbone_before, _layer_weights(model, "backbone"))
    assert not same_weights(head_before, _layer_weights(model, "head"))

    unfreeze_backbone(model)
    assert _trainable_count(model) == all_trainable
    train_step(model, x, y)
    assert not same_weights(backbone_before, _layer_weights(model, "backbone"))


def test_frozen_state_survives_replace_head():
    model = build_model("gru", N_LABELS, input_shape=SHORT_SHAPE)
    freeze_backbone(model)
    target = replace_head(model, 2)
    assert [w.path for w in target.trainable_weights] == ["head/kernel", "head/bias"]


def test_resnet_stages_and_gradual_unfreezing():
    model = build_model("resnet1d18", N_LABELS, input_shape=SHORT_SHAPE)
    stages = backbone_stages(model)
    assert [stage[0].name.split("_")[0] for stage in stages] == [
        "stem", "stage1", "stage2", "stage3", "stage4"]
    in_stages = [layer for stage in stages for layer in stage]
    weighted = [layer for layer in model.get_layer("backbone").layers if layer.weights]
    assert sorted(layer.name for layer in in_stages) == sorted(layer.name for layer in weighted)

    head_params = model.get_layer("head").count_params()
    for count in range(len(stages) + 1):
        unfreeze_stages(model, count)
        expected = sum(_trainable_count(layer) for stage in stages[len(stages) - count:]
                       for layer in stage)
        assert _trainable_count(model) == head_params + expected
    with pytest.raises(ValueError, match="count"):
        unfreeze_stages(model, len(stages) + 1)


@pytest.mark.parametrize("name", RNN_BACKBONES)
def test_recurrent_backbone_is_one_stage(name):
    model = build_model(name, N_LABELS, input_shape=SHORT_SHAPE)
    assert [[layer.name for layer in stage] for stage in backbone_stages(model)] == [["rnn"]]


# --------------------------------------------------------------------------- specs


def _two_block_cnn(input_shape=(1000, 12), filters=4, kernel=3):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv1D(filters, kernel, name="low_conv")(inputs)
    x = keras.layers.Conv1D(filters, kernel, name="high_conv")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, x, name="backbone")


@pytest.fixture
def registered():
    """Registers builders under temporary names and removes them afterwards."""
    names = []

    def register(name, builder=_two_block_cnn, **spec):
        register_backbone(name, **spec)(builder)
        names.append(name)
        return get_backbone_spec(name)

    yield register
    for name in names:
        unregister_backbone(name)


@pytest.mark.parametrize("name,family,n_stages", [
    ("resnet1d18", "cnn", 5), ("resnet1d50", "cnn", 5), ("resnet1d101", "cnn", 5),
    ("lstm", "rnn", 1), ("bilstm", "rnn", 1), ("gru", "rnn", 1),
    ("transformer1d", "transformer", 5)])
def test_builtin_specs(name, family, n_stages):
    spec = get_backbone_spec(name)
    assert (spec.name, spec.family) == (name, family)
    assert len(backbone_stages(_classifier(name))) == n_stages
    assert spec.cpu_samples_per_s > 0


def test_builtin_specs_name_distinct_figure_markers():
    markers = [get_backbone_spec(name).marker for name in available_backbones()]
    assert None not in markers and len(set(markers)) == len(markers)


def test_spec_default_kwargs_are_used_and_overridable(registered):
    spec = registered("two_block", default_kwargs={"filters": 6})
    assert dict(spec.default_kwargs) == {"filters": 6, "kernel": 3}
    assert get_backbone("two_block", input_shape=SHORT_SHAPE).output_shape == (None, 6)
    model = build_model("two_block", N_LABELS, input_shape=SHORT_SHAPE, filters=2)
    assert model.get_layer("backbone").output_shape == (None, 2)
    with pytest.raises(TypeError):
        spec.default_kwargs["filters"] = 1  # read-only


def test_unknown_backbone_arguments_are_named():
    with pytest.raises(ValueError, match="'gru' takes no argument.*width.*units, dropout"):
        build_model("gru", N_LABELS, input_shape=SHORT_SHAPE, width=3)
    with pytest.raises(ValueError, match="named backbone"):
        build_model(_two_block_cnn(SHORT_SHAPE), N_LABELS, units=3)


@pytest.mark.parametrize("spec,match", [
    ({"family": "CNN"}, "family"), ({"family": ""}, "family"), ({"stages": "low"}, "stages"),
    ({"stages": ["low", "low"]}, "twice"), ({"stages": ["low", ""]}, "stage"),
    ({"cpu_samples_per_s": 0}, "cpu_samples_per_s"), ({"marker": ""}, "marker"),
    ({"default_kwargs": {"depth": 2}}, "takes no argument.*depth")])
def test_bad_registrations(spec, match):
    with pytest.raises(ValueError, match=match):
        register_backbone("bad_spec", **spec)(_two_block_cnn)
    assert "bad_spec" not in available_backbones()


def test_duplicate_and_unknown_names(registered):
    registered("two_block")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("two_block")(_two_block_cnn)
    with pytest.raises(ValueError, match="unknown backbone 'nope'.*--import"):
        get_backbone_spec("nope")


def test_stages_come_from_the_spec(registered):
    registered("two_block", stages=("low", "high"))
    model = build_model("two_block", N_LABELS, input_shape=SHORT_SHAPE)
    assert [[layer.name for layer in stage] for stage in backbone_stages(model)] == [
        ["low_conv"], ["high_conv"]]
    unfreeze_stages(model, 1)
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"high_conv", "head"}
    with pytest.raises(ValueError, match="'low_conv' .*none of the stages high"):
        backbone_stages(model, stages=("high",))
    with pytest.raises(ValueError, match="middle.*no layer with weights"):
        backbone_stages(model, stages=("low", "middle", "high"))


def test_stages_default_to_name_prefixes(registered):
    registered("two_block")
    model = build_model("two_block", N_LABELS, input_shape=SHORT_SHAPE)
    assert [[layer.name for layer in stage] for stage in backbone_stages(model)] == [
        ["low_conv"], ["high_conv"]]
    assert get_backbone_spec("two_block").family == "other"


# --------------------------------------------------------------------------- recurrent


@pytest.mark.parametrize("name", RNN_BACKBONES)
def test_recurrent_dropout_acts_in_training_only(name):
    backbone = get_backbone(name, input_shape=(20, 12))
    x, _ = _batch((20, 12), batch_size=8)
    inference = np.asarray(backbone(x, training=False))
    np.testing.assert_array_equal(inference, np.asarray(backbone(x, training=False)))
    first = np.asarray(backbone(x, training=True))
    second = np.asarray(backbone(x, training=True))
    assert not np.array_equal(first, second)
    dropped = first == 0
    assert 0.1 < dropped.mean() < 0.5  # rate 0.3
    np.testing.assert_allclose(first[~dropped], inference[~dropped] / (1 - 0.3), rtol=1e-5)


def _returning_sequences(rnn):
    """A copy of a recurrent layer that outputs every step."""
    if isinstance(rnn, keras.layers.Bidirectional):
        return keras.layers.Bidirectional(_returning_sequences(rnn.forward_layer))
    return rnn.__class__.from_config({**rnn.get_config(), "return_sequences": True})


@pytest.mark.parametrize("name, features", [("lstm", 100), ("bilstm", 200), ("gru", 100)])
def test_recurrent_features_are_the_final_state(name, features):
    backbone = get_backbone(name, input_shape=(20, 12))
    assert backbone.output_shape == (None, features)
    rnn = backbone.get_layer("rnn")
    x, _ = _batch((20, 12))
    sequences = _returning_sequences(rnn)
    sequences.build(x.shape)
    sequences.set_weights(rnn.get_weights())
    all_steps = np.asarray(sequences(x))
    final = np.asarray(backbone(x, training=False))
    if name == "bilstm":  # forward direction ends at the last sample, backward at the first
        expected = np.concatenate([all_steps[:, -1, :100], all_steps[:, 0, 100:]], axis=-1)
    else:
        expected = all_steps[:, -1]
    np.testing.assert_allclose(final, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", RNN_BACKBONES)
def test_recurrent_layers_stay_cudnn_eligible(name):
    rnn = get_backbone(name, input_shape=SHORT_SHAPE).get_layer("rnn")
    cells = [rnn.forward_layer, rnn.backward_layer] if name == "bilstm" else [rnn]
    for layer in cells:
        config = layer.get_config()
        assert config["activation"] == "tanh"
        assert config["recurrent_activation"] == "sigmoid"
        assert config["recurrent_dropout"] == 0
        assert config["unroll"] is False
        assert config["use_bias"] is True
        assert config.get("reset_after", True) is True
        assert layer.use_cudnn == "auto"


# --------------------------------------------------------------------------- resnet


def _torchvision_resnet(block, depths, in_channels, kernel_params):
    """(parameter count, BatchNorm channels) of a torchvision ResNet without fc.

    `kernel_params(k)` is the number of taps of a k-wide kernel: k*k in 2-D, k in 1-D.
    """
    counts = {"params": 0, "bn": 0}

    def conv_bn(k, c_in, c_out):
        counts["params"] += kernel_params(k) * c_in * c_out + 2 * c_out
        counts["bn"] += c_out

    conv_bn(7, in_channels, 64)
    inplanes = 64
    for planes, depth, stride in zip((64, 128, 256, 512), depths, (1, 2, 2, 2)):
        for index in range(depth):
            block_stride = stride if index == 0 else 1
            if block == "basic":
                out = planes
                conv_bn(3, inplanes, planes)
                conv_bn(3, planes, planes)
            else:
                out = planes * 4
                conv_bn(1, inplanes, planes)
                conv_bn(3, planes, planes)
                conv_bn(1, planes, out)
            if block_stride != 1 or inplanes != out:
                conv_bn(1, inplanes, out)
            inplanes = out
    return counts["params"], counts["bn"], inplanes


@pytest.mark.parametrize("name", sorted(RESNET_SPECS))
def test_resnet_parameter_counts_follow_torchvision(name):
    block, depths = RESNET_SPECS[name]
    params_2d, _, features = _torchvision_resnet(block, depths, 3, lambda k: k * k)
    assert params_2d + features * 1000 + 1000 == TORCHVISION_2D_PARAMS[name]

    params_1d, bn_channels, features = _torchvision_resnet(block, depths, 12, lambda k: k)
    model = build_model(name, N_LABELS)
    backbone = model.get_layer("backbone")  # what get_backbone(name) returns
    trainable = sum(int(np.prod(w.shape)) for w in backbone.trainable_weights)
    assert trainable == params_1d
    assert backbone.count_params() == params_1d + 2 * bn_channels  # + moving mean/variance
    assert backbone.output_shape == (None, features)
    assert model.count_params() == backbone.count_params() + (features + 1) * N_LABELS


def _torch_length(length, kernel, stride, padding):
    return (length + 2 * padding - kernel) // stride + 1


@pytest.mark.parametrize("name", ["resnet1d18", "resnet1d50"])
@pytest.mark.parametrize("length", [1000, 997])
def test_resnet_feature_lengths_follow_torchvision(name, length):
    _, depths = RESNET_SPECS[name]
    backbone = get_backbone(name, input_shape=(length, 12))
    expected = _torch_length(_torch_length(length, 7, 2, 3), 3, 2, 1)
    assert backbone.get_layer("stem_pool").output.shape[1] == expected
    for stage, depth in enumerate(depths, start=1):
        if stage > 1:
            expected = _torch_length(expected, 3, 2, 1)
        assert backbone.get_layer(f"stage{stage}_block{depth}_out").output.shape[1] == expected


def _torch_conv1d(x, kernel, stride, padding):
    """Cross-correlation as torch.nn.functional.conv1d, channels last, no bias."""
    padded = np.pad(x, ((0, 0), (padding, padding), (0, 0)))
    k = kernel.shape[0]
    out_length = _torch_length(x.shape[1], k, stride, padding)
    windows = np.stack([padded[:, t * stride:t * stride + k] for t in range(out_length)], axis=1)
    return np.einsum("btkc,kco->bto", windows, kernel)


def test_resnet_strided_layers_align_like_torchvision():
    backbone = get_backbone("resnet1d18", input_shape=(101, 12))
    x, _ = _batch((101, 12), batch_size=2)

    def outputs(*names):
        probe = keras.Model(backbone.input, [backbone.get_layer(n).output for n in names])
        return [np.asarray(t, dtype=np.float64) for t in probe(x, training=False)]

    stem, relu, pool, block_in, conv = outputs(
        "stem_conv", "stem_relu", "stem_pool", "stage1_block2_out", "stage2_block1_1_conv")
    kernel = backbone.get_layer("stem_conv").get_weights()[0]
    np.testing.assert_allclose(stem, _torch_conv1d(x, kernel, 2, 3), rtol=1e-4, atol=1e-4)

    padded = np.pad(relu, ((0, 0), (1, 1), (0, 0)), constant_values=-np.inf)
    expected_pool = np.stack([padded[:, 2 * t:2 * t + 3].max(axis=1)
                              for t in range(pool.shape[1])], axis=1)
    np.testing.assert_allclose(pool, expected_pool, rtol=1e-6)

    kernel = backbone.get_layer("stage2_block1_1_conv").get_weights()[0]
    np.testing.assert_allclose(conv, _torch_conv1d(block_in, kernel, 2, 1), rtol=1e-4, atol=1e-4)


def test_batchnorm_moving_mean_uses_pytorch_momentum():
    backbone = get_backbone("resnet1d18", input_shape=SHORT_SHAPE)
    bn = backbone.get_layer("stem_bn")
    assert bn.epsilon == pytest.approx(1e-5)
    x, _ = _batch(SHORT_SHAPE)
    conv = keras.Model(backbone.input, backbone.get_layer("stem_conv").output)
    batch_mean = np.asarray(conv(x)).mean(axis=(0, 1))
    before = np.array(bn.moving_mean)
    backbone(x, training=True)
    # PyTorch momentum 0.1: running = 0.9 * running + 0.1 * batch statistic.
    np.testing.assert_allclose(np.array(bn.moving_mean), 0.9 * before + 0.1 * batch_mean,
                               rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- custom backbones


def _custom_backbone(input_shape=SHORT_SHAPE, name="tiny"):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv1D(8, 5, name="conv_a")(inputs)
    x = keras.layers.GlobalMaxPooling1D(name="pool")(x)
    return keras.Model(inputs, x, name=name)


def test_build_model_accepts_a_keras_backbone(tmp_path):
    backbone = _custom_backbone()
    model = build_model(backbone, 2)
    assert model.input_shape == (None, *SHORT_SHAPE)
    assert model.get_layer("backbone").get_layer("conv_a") is backbone.get_layer("conv_a")
    x, _ = _batch(SHORT_SHAPE)
    model.save(tmp_path / "custom.keras")
    loaded = keras.saving.load_model(tmp_path / "custom.keras", safe_mode=True)
    np.testing.assert_array_equal(predict_batch(loaded, x), predict_batch(model, x))


def test_build_model_rejects_unfit_backbones():
    with pytest.raises(ValueError, match="differs"):
        build_model(_custom_backbone(), 2, input_shape=(1000, 12))
    inputs = keras.Input(shape=SHORT_SHAPE)
    sequence_out = keras.Model(inputs, keras.layers.Conv1D(4, 3)(inputs))
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        build_model(sequence_out, 2)
    with pytest.raises(ValueError, match="keras.Model"):
        build_model(42, 2)
