"""`ecg-tl-keras import ribeiro` on a Keras 2 `.hdf5` of the published architecture.

The test builds Ribeiro et al.'s network as their Keras code does, with unnamed
plain Keras layers (so Keras numbers them in creation order), writes its weights
in the HDF5 layout Keras 2 saved (`model_weights/<layer>/<layer>/<weight>:0`,
`layer_names` and `weight_names` attributes), imports it and compares outputs.
"""

import json

import h5py
import keras
import numpy as np
import pytest
from keras import layers

from ecg_tl_keras.cli import main
from ecg_tl_keras.importers.ribeiro import import_ribeiro
from ecg_tl_keras.models import from_preset


def _quiet(line):
    """Swallows the importer's progress line."""


def _unit(x, y, filters, factor):
    """A pre-activation residual unit, unnamed layers, skip path first."""
    if factor > 1:
        y = layers.MaxPooling1D(factor, strides=factor, padding="same")(y)
    if y.shape[-1] != filters:
        y = layers.Conv1D(filters, 1, padding="same", use_bias=False)(y)
    x = layers.Conv1D(filters, 16, padding="same", use_bias=False)(x)
    x = layers.Dropout(0.2)(layers.Activation("relu")(layers.BatchNormalization()(x)))
    x = layers.Conv1D(filters, 16, strides=factor, padding="same", use_bias=False)(x)
    x = y = layers.Add()([x, y])
    x = layers.Dropout(0.2)(layers.Activation("relu")(layers.BatchNormalization()(x)))
    return x, y


def published_architecture():
    """The network as the authors' Keras 2 code builds it, with random BN statistics."""
    signal = keras.Input((4096, 12))
    x = layers.Conv1D(64, 16, padding="same", use_bias=False)(signal)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    y = x
    for filters in (128, 196, 256, 320):
        x, y = _unit(x, y, filters, 4)
    outputs = layers.Dense(6, activation="sigmoid")(layers.Flatten()(x))
    model = keras.Model(signal, outputs)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2, variance.shape)])
    return model


def write_keras2_hdf5(model, path, reverse=False):
    """The weights in Keras 2's whole-model HDF5 layout (layer order reversed if asked)."""
    ordered = list(reversed(model.layers)) if reverse else model.layers
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = b"2.3.0-tf"
        group = handle.create_group("model_weights")
        group.attrs["layer_names"] = np.array([layer.name.encode() for layer in ordered])
        for layer in ordered:
            layer_group = group.create_group(layer.name)
            names = [f"{layer.name}/{weight.name}:0" for weight in layer.weights]
            layer_group.attrs["weight_names"] = np.array([name.encode() for name in names])
            for name, weight in zip(names, layer.weights):
                layer_group.create_dataset(name, data=np.asarray(weight))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ribeiro")
    model = published_architecture()
    write_keras2_hdf5(model, folder / "model.hdf5", reverse=True)
    signals = np.random.default_rng(1).normal(0, 0.5, (2, 4096, 12)).astype("float32")
    return model, folder, signals, model.predict(signals, verbose=0)


@pytest.mark.slow
def test_imported_model_gives_the_published_models_outputs(published):
    _, folder, signals, expected = published
    assert main(["import", "ribeiro", "--weights", str(folder / "model.hdf5"),
                 "--out", str(folder / "preset")]) == 0
    imported = from_preset(folder / "preset")
    np.testing.assert_allclose(imported.predict(signals, verbose=0), expected, atol=1e-5)
    assert np.ptp(expected) > 0.01, "a degenerate reference would compare nothing"
    metadata = json.loads((folder / "preset" / "metadata.json").read_text())
    assert [label["code"] for label in metadata["labels"]] == [
        "1dAVb", "RBBB", "LBBB", "SB", "AF", "ST"]
    assert metadata["input"]["pad_to"] == 4096 and metadata["input"]["fs"] == 400


@pytest.mark.slow
def test_input_scale_multiplies_before_the_network(published, tmp_path):
    _, folder, signals, expected = published
    import_ribeiro(folder / "model.hdf5", tmp_path / "preset", input_scale=10.0, log=_quiet)
    imported = from_preset(tmp_path / "preset")
    np.testing.assert_allclose(imported.predict(signals / 10, verbose=0), expected, atol=1e-5)


@pytest.mark.slow
def test_keras3_legacy_h5_files_import_too(published, tmp_path):
    model, _, signals, expected = published
    model.save(tmp_path / "keras3.h5")  # Keras 3's legacy writer: names without ':0'
    import_ribeiro(tmp_path / "keras3.h5", tmp_path / "preset", log=_quiet)
    np.testing.assert_allclose(from_preset(tmp_path / "preset").predict(signals, verbose=0),
                               expected, atol=1e-5)


def test_a_file_of_another_architecture_is_refused_by_name(tmp_path, capsys):
    inputs = keras.Input((4096, 12))
    x = layers.Conv1D(32, 16, padding="same", use_bias=False)(inputs)  # 32, not 64 filters
    model = keras.Model(inputs, layers.Dense(6)(layers.Flatten()(x)))
    write_keras2_hdf5(model, tmp_path / "other.hdf5")
    status = main(["import", "ribeiro", "--weights", str(tmp_path / "other.hdf5"),
                   "--out", str(tmp_path / "preset")])
    error = capsys.readouterr().err
    assert status == 2 and "does not match the architecture" in error
    assert "1 conv layers, the published model has 13" in error
    assert not (tmp_path / "preset").exists()


def test_a_misshapen_weight_is_named(tmp_path, published):
    model, _, _, _ = published
    path = tmp_path / "bad.hdf5"
    write_keras2_hdf5(model, path)
    dense = next(layer.name for layer in model.layers if isinstance(layer, layers.Dense))
    with h5py.File(path, "r+") as handle:
        group = handle["model_weights"][dense]
        del group[f"{dense}/bias:0"]
        group.create_dataset(f"{dense}/bias:0", data=np.zeros(5, "float32"))
    with pytest.raises(ValueError, match=f"layer {dense}.*bias has shape \\(5,\\), "
                                         "expected \\(6,\\)"):
        import_ribeiro(path, tmp_path / "preset", log=_quiet)
