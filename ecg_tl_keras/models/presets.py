"""Presets: self-describing pre-trained models, in the folder layout of keras-hub.

A preset is a folder of three files:

- `config.json`: the architecture (`keras.saving.serialize_keras_object` of the
  whole model: input convention layer, backbone, head), loaded with safe_mode on;
- `model.weights.h5`: the weights (`Model.save_weights`);
- `metadata.json`: what a user needs to feed and read the model (`PRESET_FORMAT`):
  `model` (backbone name), `input` (`fs` in Hz, `samples`, `leads` in order,
  `units` of the signals the model takes, `normalization`: the input convention
  its first layer applies, `pad_to`: zero-padding to that many samples or null),
  `labels` (`[{"name", "code"}]` in output order: our name and the source's code),
  `license`, `citation`, `source` (where the weights came from) and
  `architecture` (the backbone's configuration, e.g. ECGFounder's `use_bn=False`).

`from_preset(path, num_classes=None)` returns the model with its own head or a
new one; `save_to_preset(model, path)` writes one from a model or any of our
`.keras` checkpoints; `load_pretrained(path)` reads a preset or a checkpoint as
`(model, checkpoint metadata)`, the form fine-tuning and `advise` compare to data.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras

from ecg_tl_keras.models.finetune import replace_head
from ecg_tl_keras.models.heads import apply_head
from ecg_tl_keras.models.validation import check_n_labels

PRESET_FORMAT = "ecg_tl_keras.preset/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
_INPUT_KEYS = ("fs", "samples", "leads", "units", "normalization", "pad_to")
_METADATA_KEYS = ("format", "model", "input", "labels", "license", "citation", "source",
                  "architecture")


def preset_model(backbone, n_labels, normalization_layer, name):
    """A classifier in our layout around a built backbone: `ecg` -> `normalization` ->
    `backbone` -> `head` (`Dense(n_labels, sigmoid)`).

    Args:
        backbone: A functional backbone model named `"backbone"`.
        n_labels: Outputs of the head.
        normalization_layer: The input-convention layer, named `"normalization"`.
        name: The model's name (the registered backbone name).

    Example:
        >>> from ecg_tl_keras.models import get_backbone
        >>> from ecg_tl_keras.models.conventions import convention_layer
        >>> model = preset_model(get_backbone("gru", (50, 12), units=4), 2,
        ...                      convention_layer({"type": "scale", "factor": 10.0}), "gru")
        >>> [layer.name for layer in model.layers]
        ['ecg', 'normalization', 'backbone', 'head']
    """
    inputs = keras.Input(shape=backbone.input_shape[1:], name="ecg")
    outputs = apply_head(backbone(normalization_layer(inputs)), check_n_labels(n_labels))
    return keras.Model(inputs, outputs, name=name)


def is_preset(path) -> bool:
    """Whether `path` is a folder holding a preset's three files.

    Example:
        >>> is_preset("no/such/folder")
        False
    """
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in PRESET_FILES)


def check_metadata(metadata, where="metadata"):
    """Validates a preset's metadata and returns it.

    Raises:
        ValueError: Naming the first missing or malformed entry.

    Example:
        >>> check_metadata({"format": PRESET_FORMAT})
        Traceback (most recent call last):
            ...
        ValueError: metadata: missing model, input, labels, license, citation, source, architecture
    """
    if not isinstance(metadata, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(metadata).__name__}")
    missing = [key for key in _METADATA_KEYS if key not in metadata]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    if metadata["format"] != PRESET_FORMAT:
        raise ValueError(f"{where}: format {metadata['format']!r} is not {PRESET_FORMAT!r}")
    given = metadata["input"]
    missing = [key for key in _INPUT_KEYS if key not in (given if isinstance(given, dict) else {})]
    if missing:
        raise ValueError(f"{where}: input lacks {', '.join(missing)}")
    labels = metadata["labels"]
    if not isinstance(labels, list) or not labels or not all(
            isinstance(label, dict) and {"name", "code"} <= set(label) for label in labels):
        raise ValueError(f"{where}: labels must be a non-empty list of {{name, code}} objects")
    if not (_positive_number(given["fs"]) and _positive_number(given["samples"])
            and isinstance(given["leads"], list) and given["leads"]):
        raise ValueError(f"{where}: input needs fs (Hz) > 0, samples >= 1 and a list of leads; "
                         f"got fs {given['fs']!r}, samples {given['samples']!r}, "
                         f"leads {given['leads']!r}")
    if not isinstance(metadata["source"], dict):
        raise ValueError(f"{where}: source must be an object (name, where the weights came from)")
    return metadata


def _positive_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


def load_preset_metadata(path) -> dict:
    """The validated `metadata.json` of the preset at `path`.

    Raises:
        FileNotFoundError: `path` is not a folder with the preset's files.
        ValueError: Metadata that is not valid JSON or lacks an entry.
    """
    path = _check_preset_path(path)
    try:
        metadata = json.loads((path / METADATA_FILE).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path / METADATA_FILE}: not valid JSON: {error}") from None
    return check_metadata(metadata, str(path / METADATA_FILE))


def from_preset(path, num_classes=None):
    """Loads a preset's model, with its own head or a new one.

    Args:
        path: A preset folder.
        num_classes: `None` keeps the original head (and its labels); an
            integer puts a fresh `Dense(num_classes, sigmoid)` head on the
            backbone, for fine-tuning on other labels.

    Returns:
        An uncompiled `keras.Model` taking `(batch, samples, leads)` in the
        preset's units (its first layer applies the preset's normalization).

    Raises:
        FileNotFoundError: Not a preset folder.
        ValueError: A preset whose files do not load or do not agree.

    Example:
        >>> model = from_preset("presets/ecgfounder", num_classes=5)  # doctest: +SKIP
    """
    model, _ = load_preset(path)
    return model if num_classes is None else replace_head(model, num_classes)


def load_preset(path):
    """A preset's model and its metadata in the form of a checkpoint's.

    Returns:
        `(model, metadata)`: `metadata` holds `labels` (names, output order),
        `model`, `head`, `input_shape`, `fs`, `unit`, `leads`, `dataset` and
        `preset` (the full preset metadata), as `load_checkpoint` returns them.

    Raises:
        FileNotFoundError: Not a preset folder.
        ValueError: Files that do not load or disagree with each other.
    """
    import ecg_tl_keras.models  # noqa: F401  (registers the package's serializable objects)

    metadata = load_preset_metadata(path)
    path = Path(path)
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
        model.load_weights(path / WEIGHTS_FILE)
    except Exception as error:  # Keras raises many types for a bad file
        lines = str(error).strip().splitlines()
        raise ValueError(f"preset {path} could not be loaded: "
                         f"{lines[0] if lines else type(error).__name__}") from None
    return model, _checkpoint_metadata(model, metadata, path)


def _checkpoint_metadata(model, metadata, path):
    given = metadata["input"]
    shape = tuple(int(dim) for dim in model.input_shape[1:])
    if shape != (int(given["samples"]), len(given["leads"])):
        raise ValueError(f"preset {path}: the model takes {shape}, its metadata says "
                         f"{given['samples']} samples of {len(given['leads'])} leads")
    if int(model.output_shape[-1]) != len(metadata["labels"]):
        raise ValueError(f"preset {path}: {len(metadata['labels'])} labels for "
                         f"{model.output_shape[-1]} model outputs")
    return {"labels": [label["name"] for label in metadata["labels"]],
            "model": metadata["model"], "head": "linear", "input_shape": list(shape),
            "fs": given["fs"], "unit": given["units"], "leads": list(given["leads"]),
            "dataset": metadata["source"].get("name"), "preset": metadata}


def load_pretrained(path):
    """A preset folder or a `.keras` checkpoint, as `(model, checkpoint metadata)`.

    What `--finetune-from` and `advise` read: a folder is a preset
    (`load_preset`), anything else a checkpoint (`load_checkpoint`).

    Raises:
        FileNotFoundError: Neither exists.
        ValueError: It does not load.
    """
    if Path(path).is_dir():
        return load_preset(path)
    from ecg_tl_keras.training.checkpoints import load_checkpoint

    return load_checkpoint(path)


def checkpoint_preset_metadata(model, checkpoint_metadata, *, license=None, citation=None,
                               source=None):
    """Preset metadata for one of our models from its checkpoint metadata.

    Labels keep their names as codes; the input is in mV with the model's own
    normalization layer; unknown entries are null.

    Example:
        >>> from ecg_tl_keras.models import build_model
        >>> model = build_model("gru", 2, input_shape=(100, 12), units=4)
        >>> meta = checkpoint_preset_metadata(model, {"labels": ["NORM", "MI"], "fs": 100})
        >>> meta["input"]["samples"], meta["labels"][1]
        (100, {'name': 'MI', 'code': 'MI'})
    """
    from ecg_tl_keras.models.normalization import layer_input_scaling

    samples, n_leads = (int(dim) for dim in model.input_shape[1:])
    n_outputs = int(model.output_shape[-1])
    names = checkpoint_metadata.get("labels") or [f"label_{i}" for i in range(n_outputs)]
    leads = checkpoint_metadata.get("leads") or [f"lead_{i}" for i in range(n_leads)]
    scaling = layer_input_scaling(model.get_layer("normalization"))
    return {
        "format": PRESET_FORMAT,
        "model": checkpoint_metadata.get("model", model.name),
        "input": {"fs": checkpoint_metadata.get("fs"), "samples": samples, "leads": list(leads),
                  "units": checkpoint_metadata.get("unit") or "mV",
                  "normalization": {"type": scaling, "note": "applied by the model's "
                                    "normalization layer"},
                  "pad_to": None},
        "labels": [{"name": name, "code": name} for name in names],
        "license": license, "citation": citation,
        "source": source or {"name": checkpoint_metadata.get("dataset"),
                             "kind": "ecg-tl-keras checkpoint"},
        "architecture": {"backbone": checkpoint_metadata.get("model", model.name),
                         "head": checkpoint_metadata.get("head", "linear")},
    }


def save_to_preset(model, path, metadata=None, *, overwrite=False):
    """Writes a preset folder from a model or one of our `.keras` checkpoints.

    Args:
        model: A `keras.Model` in our layout (`normalization`, `backbone`,
            `head` layers) or the path of a `.keras` checkpoint (its stored
            metadata then describes the preset).
        path: The preset folder to create.
        metadata: The full preset metadata (`check_metadata`), or `None` to
            derive it from the checkpoint (`checkpoint_preset_metadata`).
        overwrite: Replace an existing folder at `path`.

    Returns:
        `path` as a `Path`.

    Raises:
        ValueError: `path` exists (without `overwrite`), or metadata that does
            not validate or disagrees with the model.

    Example:
        >>> save_to_preset("runs/ptbxl/best.keras", "presets/ptbxl")  # doctest: +SKIP
    """
    path = Path(path)
    checkpoint = {}
    if not isinstance(model, keras.Model):
        from ecg_tl_keras.training.checkpoints import load_checkpoint

        model, checkpoint = load_checkpoint(model)
    if metadata is None:
        metadata = checkpoint_preset_metadata(model, checkpoint)
    check_metadata(metadata)
    _checkpoint_metadata(model, metadata, path)
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    partial = path.with_name(f".{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / CONFIG_FILE).write_text(
        json.dumps(keras.saving.serialize_keras_object(model), indent=1))
    model.save_weights(partial / WEIGHTS_FILE)
    (partial / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    if path.exists():
        shutil.rmtree(path)
    os.replace(partial, path)
    return path


def _check_preset_path(path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"preset {path} not found (a preset is a folder)")
    missing = [name for name in PRESET_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"preset {path} lacks {', '.join(missing)}")
    return path
