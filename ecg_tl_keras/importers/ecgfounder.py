"""`ecg-tl-keras import ecgfounder`: ECGFounder's `.pth` into a `net1d` preset.

The published checkpoint is a `torch.save` dictionary whose `"state_dict"` holds
the tensors of the authors' `Net1D` (a bare `state_dict`, or one saved from
`DataParallel` with every key under `module.`, is accepted too). Its key layout,
for stage `i` and block `j` (0-based):

- `first_conv.conv.{weight,bias}`, `first_bn.*`;
- `stage_list.{i}.block_list.{j}.{bn1,bn2,bn3}.*` and `...conv{1,2,3}.conv.{weight,bias}`,
  `...se_fc{1,2}.{weight,bias}`;
- `dense.{weight,bias}` (the 150-label head);

where `bn*` are `BatchNorm1d` tensors (`weight`, `bias`, `running_mean`,
`running_var`, `num_batches_tracked`). The authors' fine-tuning and evaluation
scripts build `Net1D(use_bn=False, use_do=False)`, so their forward pass applies
no batch normalization: the preset follows that configuration, the BN tensors
are checked for shape (when present) and not used, and `metadata.json` records
`use_bn: false, use_do: false`.

Conversion: a convolution weight `(out, in / groups, k)` becomes the Keras kernel
`(k, in / groups, out)`; a linear weight `(out, in)` becomes `(in, out)`.

The file is read with `torch.load(weights_only=True)` (tensors only, no code
run from the file); PyTorch is the optional extra `ecg-tl-keras[torch]`.
"""

from __future__ import annotations

import numpy as np

from ecg_tl_keras.importers.common import (
    assign,
    check_shape,
    check_weights_file,
    file_sha256,
    read_labels_file,
)
from ecg_tl_keras.models.conventions import convention_layer
from ecg_tl_keras.models.net1d import ECGFOUNDER_CONFIG, net1d
from ecg_tl_keras.models.presets import PRESET_FORMAT, preset_model, save_to_preset

FS = 500
SAMPLES = 5000
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
N_LABELS = 150
BN_TENSORS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
TORCH_HINT = ("reading a .pth file needs PyTorch: pip install 'ecg-tl-keras[torch]' "
              "(or pip install torch; a CPU build is enough)")
NORMALIZATION = {"type": "record_zscore", "epsilon": 1e-8,
                 "note": "each record minus its mean over all leads and samples, divided by "
                         "its standard deviation + 1e-8, as the authors' datasets do"}
HOMEPAGE = "https://huggingface.co/PKUDigitalHealth/ECGFounder"
CODE = "https://github.com/PKUDigitalHealth/ECGFounder"
CITATION = ("Li J, Aguirre AD, Moura J Jr, Jin J, Liu C, Zhong L, Sun C, Clifford G, Westover MB, "
            "Hong S. An Electrocardiogram Foundation Model Built on over 10 Million Recordings. "
            "NEJM AI 2025;2(7):AIoa2401033.")
LICENSE = ("The authors' code (PKUDigitalHealth/ECGFounder) is MIT-licensed; check the "
           "Hugging Face model card for the terms of the weights.")


def _conv(prefix, out_channels, in_channels, kernel_size):
    return {f"{prefix}.conv.weight": (out_channels, in_channels, kernel_size),
            f"{prefix}.conv.bias": (out_channels,)}


def _batch_norm(prefix, channels):
    return {f"{prefix}.{name}": (() if name == "num_batches_tracked" else (channels,))
            for name in BN_TENSORS}


def reference_layout(config=ECGFOUNDER_CONFIG, in_channels=12, n_classes=N_LABELS):
    """Every tensor of the reference `Net1D`'s `state_dict`: key -> shape, in its order.

    Example:
        >>> layout = reference_layout()
        >>> layout["stage_list.1.block_list.0.conv2.conv.weight"], layout["dense.weight"]
        ((160, 16, 16), (150, 1024))
        >>> sum(int(np.prod(shape)) for key, shape in layout.items() if ".bn" not in key
        ...     and not key.startswith("first_bn"))
        30752646
    """
    base, kernel = config["base_filters"], config["kernel_size"]
    layout = {**_conv("first_conv", base, in_channels, kernel), **_batch_norm("first_bn", base)}
    channels = base
    for stage, (filters, blocks) in enumerate(zip(config["filter_list"],
                                                  config["m_blocks_list"])):
        middle, groups = int(filters * config["ratio"]), filters // config["groups_width"]
        for block in range(blocks):
            prefix = f"stage_list.{stage}.block_list.{block}"
            layout.update({
                **_batch_norm(f"{prefix}.bn1", channels),
                **_conv(f"{prefix}.conv1", middle, channels, 1),
                **_batch_norm(f"{prefix}.bn2", middle),
                **_conv(f"{prefix}.conv2", middle, middle // groups, kernel),
                **_batch_norm(f"{prefix}.bn3", middle),
                **_conv(f"{prefix}.conv3", filters, middle, 1),
                f"{prefix}.se_fc1.weight": (filters // 2, filters),
                f"{prefix}.se_fc1.bias": (filters // 2,),
                f"{prefix}.se_fc2.weight": (filters, filters // 2),
                f"{prefix}.se_fc2.bias": (filters,),
            })
            channels = filters
    layout.update({"dense.weight": (n_classes, channels), "dense.bias": (n_classes,)})
    return layout


def keras_layer_of(key):
    """The Keras `net1d` layer (or `head`) a reference tensor belongs to, and its kind.

    Example:
        >>> keras_layer_of("stage_list.2.block_list.1.conv2.conv.weight")
        ('stage3_block2_conv2', 'conv')
        >>> keras_layer_of("stage_list.0.block_list.0.bn1.running_var")
        ('stage1_block1_1_bn', 'bn')
        >>> keras_layer_of("dense.bias")
        ('head', 'dense')
    """
    parts = key.split(".")
    if parts[0] == "dense":
        return "head", "dense"
    if parts[0] in ("first_conv", "first_bn"):
        return ("stem_conv", "conv") if parts[0] == "first_conv" else ("stem_bn", "bn")
    name = f"stage{int(parts[1]) + 1}_block{int(parts[3]) + 1}"
    module = parts[4]
    if module.startswith("bn"):
        return f"{name}_{module[2:]}_bn", "bn"
    if module.startswith("se_fc"):
        return f"{name}_{module}", "dense"
    return f"{name}_{module}", "conv"


def read_state_dict(path):
    """The tensors of a `.pth` checkpoint's `state_dict`, as NumPy arrays.

    Raises:
        ValueError: PyTorch is not installed (the message says how to install
            it), or the file holds no state dict or objects other than tensors.
    """
    path = check_weights_file(path, (".pth", ".pt"))
    try:
        import torch
    except ImportError:
        raise ValueError(TORCH_HINT) from None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad or unsafe file
        lines = str(error).strip().splitlines()
        raise ValueError(f"{path} could not be read as a PyTorch checkpoint of tensors: "
                         f"{lines[0] if lines else type(error).__name__}") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path} holds no state_dict (expected checkpoint['state_dict'])")
    if all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    arrays = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: state_dict entry {key} is a {type(value).__name__}, "
                             f"not a tensor")
        arrays[key] = value.detach().cpu().numpy()
    return arrays


def check_state_dict(state, layout, where):
    """Refuses a state dict that is not the architecture's, naming the first mismatch.

    Tensors the forward pass uses must all be there with their shapes; BN
    tensors may be absent (the published forward pass does not use them) but
    must have their shapes when present; a key the architecture lacks is refused.

    Raises:
        ValueError: Naming the first missing, unexpected or misshapen tensor.
    """
    for key, shape in layout.items():
        if key in state:
            check_shape(where, key, state[key].shape, shape)
        elif keras_layer_of(key)[1] != "bn":
            raise ValueError(f"{where} does not match the architecture: it lacks {key} "
                             f"(shape {shape})")
    unexpected = next((key for key in state if key not in layout), None)
    if unexpected is not None:
        raise ValueError(f"{where} does not match the architecture: {unexpected} is not a "
                         f"tensor of ECGFounder's Net1D")


def _keras_arrays(kind, arrays):
    """Reference tensors of one layer, in Keras order and layout."""
    if kind == "conv":
        return [np.transpose(arrays["weight"], (2, 1, 0)), arrays["bias"]]
    if kind == "dense":
        return [np.transpose(arrays["weight"]), arrays["bias"]]
    return [arrays["weight"], arrays["bias"], arrays["running_mean"], arrays["running_var"]]


def load_state_dict(model, state, where):
    """Copies a checked reference state dict into a Keras `net1d` model (`head` included).

    Batch-norm tensors are copied only when the model has batch normalization.
    """
    backbone = model.get_layer("backbone")
    grouped = {}
    for key, array in state.items():
        layer, kind = keras_layer_of(key)
        grouped.setdefault((layer, kind), {})[key.rsplit(".", 1)[-1]] = array
    for (name, kind), arrays in grouped.items():
        owner = model if name == "head" else backbone
        if kind == "bn" and not any(layer.name == name for layer in owner.layers):
            continue
        assign(owner.get_layer(name), _keras_arrays(kind, arrays), where)


def ecgfounder_metadata(labels, weights_path, sha256):
    """The preset metadata of an imported ECGFounder checkpoint."""
    return {
        "format": PRESET_FORMAT,
        "model": "net1d",
        "input": {"fs": FS, "samples": SAMPLES, "leads": list(LEADS), "units": "mV",
                  "normalization": NORMALIZATION, "pad_to": None,
                  "note": "12 leads in the order of the authors' PTB-XL evaluation "
                          "(ptbxl_eval.py). Their fine-tuning datasets also band-pass filter "
                          "(50 Hz notch, 0.67-40 Hz Butterworth, median baseline removal); "
                          "this preset does not."},
        "labels": [{"name": name, "code": name} for name in labels],
        "license": LICENSE,
        "citation": CITATION,
        "source": {"name": "ECGFounder", "homepage": HOMEPAGE, "code": CODE,
                   "file": weights_path.name, "sha256": sha256,
                   "trained_on": "Harvard-Emory ECG Database (HEEDB)"},
        "architecture": {"backbone": "net1d",
                         **{key: (list(value) if isinstance(value, tuple) else value)
                            for key, value in ECGFOUNDER_CONFIG.items()},
                         "use_do": False,
                         "note": "as the authors' fine-tuning script builds Net1D: use_bn=False, "
                                 "use_do=False (the file's batch-norm tensors are not applied)"},
    }


def import_ecgfounder(weights, out, *, labels=None, overwrite=False, log=print):
    """Converts ECGFounder's published `.pth` into a preset folder.

    Args:
        weights: The `.pth` file (e.g. `12_lead_ECGFounder.pth`).
        out: The preset folder to write.
        labels: A text file of the 150 label names, one a line, in output order
            (the authors' `tasks.txt`); `None` names them `label_0` ...
        overwrite: Replace an existing preset folder.
        log: Prints progress lines.

    Returns:
        The preset path.

    Raises:
        ValueError: PyTorch missing, or a file that does not match the architecture.

    Example:
        >>> import_ecgfounder("12_lead_ECGFounder.pth", "presets/ecgfounder")  # doctest: +SKIP
    """
    weights = check_weights_file(weights, (".pth", ".pt"))
    state = read_state_dict(weights)
    check_state_dict(state, reference_layout(), str(weights))
    names = (read_labels_file(labels, N_LABELS) if labels is not None
             else [f"label_{index}" for index in range(N_LABELS)])
    model = preset_model(net1d((SAMPLES, len(LEADS)), **ECGFOUNDER_CONFIG), N_LABELS,
                         convention_layer(NORMALIZATION), "net1d")
    load_state_dict(model, state, str(weights))
    metadata = ecgfounder_metadata(names, weights, file_sha256(weights))
    path = save_to_preset(model, out, metadata, overwrite=overwrite)
    log(f"wrote preset {path}: ECGFounder Net1D ({model.count_params():,} parameters), "
        f"{N_LABELS} labels, 12 leads at {FS} Hz x {SAMPLES} samples, record z-score input")
    return path
