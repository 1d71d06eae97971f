"""``.keras`` checkpoints that carry their label names.

A checkpoint is a standard Keras 3 ``.keras`` archive with one extra member,
``ecg_tl_keras.json``, holding the label names (in output order) with their source
codes, the backbone name, the head type, the input the model expects (rate, length,
leads, unit, resampling, and the build's lead map and assumed unit when it had them),
the dataset it was trained on and the per-label decision thresholds chosen on the
selection split (:mod:`ecg_tl_keras.training.thresholds`).
Keras ignores the extra member, so the file still loads with
``keras.saving.load_model``; :func:`load_checkpoint` returns the metadata too.

Example:
    >>> save_checkpoint(model, "runs/a/best.keras", {"labels": ["NORM", "MI"]})  # doctest: +SKIP
    >>> model, metadata = load_checkpoint("runs/a/best.keras")  # doctest: +SKIP
    >>> metadata["labels"]  # doctest: +SKIP
    ['NORM', 'MI']
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Mapping

import keras

from ecg_tl_keras.built import input_shape as input_shape_of
from tfrecords_builder.files import write_atomic
from tfrecords_builder.signal import DEFAULT_RESAMPLE

METADATA_MEMBER = "ecg_tl_keras.json"
#: The code system of each built-in dataset's ``label_codes`` (the manifest lists the codes).
LABEL_CODE_SYSTEMS = {
    "ptbxl": "SCP-ECG statements (PTB-XL scp_codes)",
    "georgia": "SNOMED CT",
    "cpsc2018": "SNOMED CT",
    "ptb": "PTB 'Reason for admission' text",
    "ribeiro": "CODE-test gold_standard.csv columns",
}
#: The manifest entries that say how a record becomes the model's input (``lead_map`` and
#: ``assume_units`` only in builds that had them; ``lead_map`` stored as ``{channel: lead}``).
INPUT_KEYS = ("fs", "seconds", "pad_to", "samples", "leads", "unit", "resample", "nan_policy",
              "lead_map", "assume_units")


def save_checkpoint(model: keras.Model, path: str | os.PathLike, metadata: dict) -> None:
    """Saves ``model`` to a ``.keras`` file with ``metadata`` stored inside it.

    The file is written next to its destination and renamed, so an existing
    checkpoint is never left half-written.

    Args:
        model: the model to save.
        path: destination, ending in ``.keras``.
        metadata: JSON-serializable dict; should hold ``"labels"``.

    Raises:
        ValueError: ``path`` does not end in ``.keras``.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"checkpoint path must end in .keras, got {path}")
    write_atomic(path, lambda partial: _save_with_metadata(model, partial, metadata))


def _save_with_metadata(model: keras.Model, path: Path, metadata: dict) -> None:
    model.save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(metadata, indent=2))


def data_metadata(manifest: dict) -> dict:
    """What a checkpoint records of its training data: label codes and the input it expects.

    Example:
        >>> manifest = {"dataset": "georgia", "labels": ["AF"],
        ...             "label_codes": {"AF": ["164889003"]}, "fs": 100, "samples": 1000,
        ...             "leads": ["II"], "unit": "mV"}
        >>> data_metadata(manifest)["label_code_system"], data_metadata(manifest)["leads"]
        ('SNOMED CT', ['II'])
    """
    from tfrecords_builder.leads import parse_lead_map

    system = LABEL_CODE_SYSTEMS.get(manifest.get("dataset"))
    if system is None and manifest.get("release_format") == "folder":
        system = "label names of labels.csv"
    settings = {key: manifest.get(key) for key in INPUT_KEYS}
    settings["resample"] = settings["resample"] or DEFAULT_RESAMPLE
    settings["lead_map"] = parse_lead_map(settings["lead_map"]) or None
    return {
        "label_codes": {label: list(codes)
                        for label, codes in (manifest.get("label_codes") or {}).items()},
        "label_code_system": system,
        **{key: value for key, value in settings.items() if value is not None},
    }


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``ecg_tl_keras.json`` metadata of a checkpoint ({} if it has none).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a ``.keras`` archive.
    """
    path = _check_checkpoint_path(path)
    with zipfile.ZipFile(path) as archive:
        if METADATA_MEMBER not in archive.namelist():
            return {}
        return json.loads(archive.read(METADATA_MEMBER))


def _check_checkpoint_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a Keras checkpoint: expected a .keras file saved by "
            f"ecg-tl-keras train (or keras Model.save)"
        )
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[keras.Model, dict]:
    """Loads a checkpoint (``safe_mode=True``, uncompiled) and its metadata.

    Args:
        path: a ``.keras`` file.

    Returns:
        ``(model, metadata)``; ``metadata`` is {} for a plain Keras archive.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a ``.keras`` archive, or Keras cannot load it.

    Example:
        >>> model, metadata = load_checkpoint("runs/a/best.keras")  # doctest: +SKIP
    """
    import ecg_tl_keras.models  # noqa: F401  (registers the package's serializable objects)

    path = _check_checkpoint_path(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise ValueError(f"{path} could not be loaded as a Keras model: {first_line}") from None
    return model, read_metadata(path)


def label_names(model: keras.Model, metadata: dict) -> list[str]:
    """The checkpoint's label names, or ``label_0 ...`` when it stores none.

    Raises:
        ValueError: the stored names do not match the model's output size.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> label_names(model, {})
        ['label_0', 'label_1']
    """
    outputs = int(model.output_shape[-1])
    names = metadata.get("labels")
    if names is None:
        return [f"label_{i}" for i in range(outputs)]
    if len(names) != outputs:
        raise ValueError(f"checkpoint stores {len(names)} label names for {outputs} model outputs")
    return list(names)


def input_mismatch(metadata: dict, input_shape, manifest: Mapping) -> str | None:
    """Why a checkpoint cannot read a dataset's signals (rate, length, leads by name), or None.

    The one check of a checkpoint against data, for fine-tuning, ``evaluate`` and ``advise``:
    equal shapes are not enough when the leads differ (a model of I, II, V1 fed I, II, V2).

    Args:
        metadata: the checkpoint's stored metadata (``fs``, ``leads`` when known).
        input_shape: the model's ``(samples, leads)``.
        manifest: the dataset's :class:`~tfrecords_builder.manifest.Manifest` (or a
            mapping with its ``fs``, ``samples`` and ``leads``).

    Example:
        >>> manifest = {"fs": 100, "samples": 1000, "leads": ["I", "II"]}
        >>> input_mismatch({"fs": 500, "leads": ["I", "II"]}, (1000, 2), manifest)
        'sampling rate 500 Hz, data 100 Hz'
        >>> input_mismatch({"leads": ["I", "V1"]}, (1000, 2), manifest)
        'leads I,V1, data I,II'
        >>> input_mismatch({"fs": 100, "leads": ["I", "II"]}, (1000, 2), manifest) is None
        True
    """
    reasons = []
    fs, data_fs = metadata.get("fs"), manifest.get("fs")
    if fs is not None and data_fs is not None and float(fs) != float(data_fs):
        reasons.append(f"sampling rate {fs:g} Hz, data {data_fs:g} Hz")
    samples, n_leads = (int(value) for value in input_shape)
    data_samples, data_leads = input_shape_of(manifest)
    if samples != data_samples:
        reasons.append(f"input length {samples} samples, data {data_samples}")
    leads = metadata.get("leads")
    if leads is not None and list(leads) != list(manifest["leads"]):
        reasons.append(f"leads {','.join(leads)}, data {','.join(manifest['leads'])}")
    elif n_leads != data_leads:
        reasons.append(f"{n_leads} leads, data {data_leads}")
    return "; ".join(reasons) or None
