"""`ecg-tl-keras import ribeiro`: Ribeiro et al.'s Keras 2 `.hdf5` into a preset.

The published `model.hdf5` is a whole model saved by Keras 2 (TensorFlow 2.2):
the weights are under `model_weights/<layer>/<layer>/<weight>:0`, the group's
`layer_names` attribute lists the layers and each layer group's `weight_names`
its weights in order (a file of `save_weights`, with the layers at the root, and
the names Keras 3's legacy writer uses, without `:0`, are read the same way).

Layers are matched by kind and creation order: the authors' code creates every
layer unnamed, so Keras numbers them (`conv1d`, `conv1d_1`, ...,
`batch_normalization_1`, ..., `dense`) in the order the network is built, which
is the order `ribeiro_resnet` creates its layers in. Every weight's shape is
checked; the first that differs (or a missing or extra layer) refuses the file.

The published model takes amplitudes "at the scale 1e-4 V" according to its
README, which also says to multiply signals in V by 1,000 (i.e. to give mV);
the authors' own test tracings hold values of about a millivolt, and their
maintainer answered users to "make sure your ECG is scaled as millivolts". The
preset's first layer multiplies our mV signals by `input_scale`: 1.0 by default
(mV, the reading consistent with their data; `tfrecords_builder`'s Ribeiro reader
takes the tracings as mV too), 10.0 for the literal 1e-4 V reading.
"""

from __future__ import annotations

import re

from ecg_tl_keras.importers.common import assign, check_weights_file, file_sha256
from ecg_tl_keras.models.conventions import convention_layer
from ecg_tl_keras.models.presets import PRESET_FORMAT, preset_model, save_to_preset
from ecg_tl_keras.models.ribeiro import ribeiro_resnet

FS = 400
SAMPLES = 4096
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Output order of the published model: (our label name, the authors' code).
LABELS = (("I-AVB", "1dAVb"), ("RBBB", "RBBB"), ("LBBB", "LBBB"), ("SB", "SB"), ("AF", "AF"),
          ("STach", "ST"))
HOMEPAGE = "https://doi.org/10.5281/zenodo.3625017"
CODE = "https://github.com/antonior92/automatic-ecg-diagnosis"
CITATION = ("Ribeiro AH, Ribeiro MH, Paixao GMM, et al. Automatic diagnosis of the 12-lead ECG "
            "using a deep neural network. Nat Commun 11, 1760 (2020). "
            "https://doi.org/10.1038/s41467-020-15432-4")
LICENSE = ("The authors' code (antonior92/automatic-ecg-diagnosis) is MIT-licensed; the weights "
           "are distributed on Zenodo (10.5281/zenodo.3625017): check the licence stated there.")
_AUTO_NAME = re.compile(r"^(?P<base>.+?)(?:_(?P<index>\d+))?$")


def _kind(weights):
    """`conv`, `bn` or `dense` from a layer's weight names and shapes."""
    names = set(weights)
    if "moving_mean" in names:
        return "bn"
    kernel = weights.get("kernel")
    if kernel is None:
        raise ValueError(f"a layer with weights {sorted(names)} is not a convolution, "
                         f"batch normalization or dense layer")
    return "conv" if kernel.ndim == 3 else "dense"


def _decode(values):
    return [value.decode("utf8") if isinstance(value, bytes) else str(value)
            for value in values]


def _attribute(group, name):
    """An attribute list as Keras writes it (split into `name0`, `name1` ... when long)."""
    if name in group.attrs:
        return _decode(group.attrs[name])
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values += _decode(group.attrs[f"{name}{chunk}"])
        chunk += 1
    return values


def read_legacy_h5(path):
    """The weighted layers of a Keras 2 `.hdf5`: `[(layer name, {weight: array})]`, in
    the file's layer order.

    Raises:
        ValueError: A file without Keras weights.
    """
    import h5py

    path = check_weights_file(path, (".hdf5", ".h5"))
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path} is not an HDF5 file: {error}") from None
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        names = _attribute(root, "layer_names")
        if not names:
            raise ValueError(f"{path} holds no Keras weights (no layer_names attribute)")
        layers = []
        for name in names:
            weight_names = _attribute(root[name], "weight_names")
            if weight_names:
                layers.append((name, {_short(weight): root[name][weight][()]
                                      for weight in weight_names}))
    return layers


def _short(weight_name):
    """`conv1d_3/kernel:0` -> `kernel`."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def _creation_order(layers):
    """The layers of each kind in creation order (Keras' automatic name numbers)."""
    by_kind = {}
    for name, weights in layers:
        by_kind.setdefault(_kind(weights), []).append((name, weights))

    def number(item):
        match = _AUTO_NAME.match(item[0])
        return int(match["index"] or 0)

    return {kind: sorted(items, key=number) for kind, items in by_kind.items()}


#: Within a unit, the order `residual_unit` creates its weighted layers in.
_UNIT_ORDER = ("skip_conv", "conv1", "1_bn", "conv2", "2_bn")


def _built_position(layer):
    """Sort key putting `ribeiro_resnet`'s layers in the order they are created.

    Example:
        >>> import types
        >>> names = ["unit1_conv1", "stem_bn", "unit1_skip_conv", "stem_conv"]
        >>> sorted(names, key=lambda n: _built_position(types.SimpleNamespace(name=n)))
        ['stem_conv', 'stem_bn', 'unit1_skip_conv', 'unit1_conv1']
    """
    prefix, _, rest = layer.name.partition("_")
    if prefix == "stem":
        return (0, ("conv", "bn").index(rest))
    return (int(prefix[len("unit"):]), _UNIT_ORDER.index(rest))


def _keras_arrays(kind, weights):
    order = {"conv": ("kernel", "bias"), "dense": ("kernel", "bias"),
             "bn": ("gamma", "beta", "moving_mean", "moving_variance")}[kind]
    return [weights[name] for name in order if name in weights]


def load_legacy_weights(model, layers, where):
    """Copies the file's layers into a `ribeiro_resnet` model (and its `head`), kind by kind.

    Raises:
        ValueError: Another number of layers of a kind, or the first shape that differs.
    """
    ours = {"conv": [], "bn": [], "dense": [model.get_layer("head")]}
    weighted = [layer for layer in model.get_layer("backbone").layers if layer.weights]
    for layer in sorted(weighted, key=_built_position):
        ours["bn" if "moving_mean" in {w.name for w in layer.weights} else "conv"].append(layer)
    theirs = _creation_order(layers)
    for kind, targets in ours.items():
        sources = theirs.get(kind, [])
        if len(sources) != len(targets):
            raise ValueError(f"{where} does not match the architecture: {len(sources)} {kind} "
                             f"layers, the published model has {len(targets)}")
        for (name, weights), target in zip(sources, targets):
            assign(target, _keras_arrays(kind, weights), f"{where} (layer {name})")


def ribeiro_metadata(weights_path, sha256, input_scale):
    """The preset metadata of an imported Ribeiro et al. model."""
    return {
        "format": PRESET_FORMAT,
        "model": "ribeiro_resnet",
        "input": {"fs": FS, "samples": SAMPLES, "leads": list(LEADS), "units": "mV",
                  "normalization": {"type": "scale", "factor": input_scale,
                                    "note": "mV multiplied by this factor (1: the authors' test "
                                            "tracings are in mV; 10 for the README's 1e-4 V)"},
                  "pad_to": SAMPLES,
                  "note": "10 s at 400 Hz (4,000 samples) zero-padded to 4,096, as the authors "
                          "padded shorter tracings"},
        "labels": [{"name": name, "code": code} for name, code in LABELS],
        "license": LICENSE,
        "citation": CITATION,
        "source": {"name": "CODE (Ribeiro et al. 2020)", "homepage": HOMEPAGE, "code": CODE,
                   "file": weights_path.name, "sha256": sha256},
        "architecture": {"backbone": "ribeiro_resnet", "kernel_size": 16,
                         "unit_filters": [128, 196, 256, 320], "unit_downsample": [4, 4, 4, 4],
                         "dropout": 0.2},
    }


def import_ribeiro(weights, out, *, input_scale=1.0, overwrite=False, log=print):
    """Converts Ribeiro et al.'s published `model.hdf5` into a preset folder.

    Args:
        weights: The Keras 2 `.hdf5` file.
        out: The preset folder to write.
        input_scale: What the preset multiplies mV signals by (see the module docstring).
        overwrite: Replace an existing preset folder.
        log: Prints progress lines.

    Returns:
        The preset path.

    Raises:
        ValueError: A file that does not match the architecture, or a bad scale.

    Example:
        >>> import_ribeiro("model/model.hdf5", "presets/ribeiro")  # doctest: +SKIP
    """
    weights = check_weights_file(weights, (".hdf5", ".h5"))
    if isinstance(input_scale, bool) or not float(input_scale) > 0:
        raise ValueError(f"input_scale must be a positive number, got {input_scale!r}")
    metadata = ribeiro_metadata(weights, file_sha256(weights), float(input_scale))
    model = preset_model(ribeiro_resnet((SAMPLES, len(LEADS))), len(LABELS),
                         convention_layer(metadata["input"]["normalization"]), "ribeiro_resnet")
    load_legacy_weights(model, read_legacy_h5(weights), str(weights))
    path = save_to_preset(model, out, metadata, overwrite=overwrite)
    log(f"wrote preset {path}: Ribeiro et al. ResNet ({model.count_params():,} parameters), "
        f"{len(LABELS)} labels, 12 leads at {FS} Hz x {SAMPLES} samples, mV x {input_scale:g}")
    return path
