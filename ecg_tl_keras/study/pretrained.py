"""Checkpoints pre-trained elsewhere as a plan's upstreams: ``pretrained = {NAME = "PATH"}``.

A plan may name presets (``ecg-tl-keras import ...`` or ``save_to_preset``) or ``.keras``
checkpoints as upstreams besides its own pre-training datasets::

    pretrained = {ecgfounder = "presets/ecgfounder"}

For every downstream dataset the grid then fine-tunes the checkpoint (its architecture, its
input convention) and trains the same architecture from random initialisation, seed by seed:
the paper's question, fine-tuned vs scratch, asked of a checkpoint nobody here pre-trained. No
pre-train cell runs for it. Its input (rate, samples, leads in order) must be the downstream
datasets' (the builder's ``--rate``, ``--seconds``, ``--pad-to``); relative paths are read from
the current folder. The result files record the path and the sha256 of its weights file
(a preset's ``model.weights.h5``, or the ``.keras`` file).

Example:
    >>> flags = Pretrained("ribeiro", "presets/ribeiro", "0" * 64, "ribeiro_resnet", 400.0,
    ...                    4096, ("I", "II"), 4096).build_flags()
    >>> flags
    '--rate 400 --seconds 10 --pad-to 4096'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

from tfrecords_builder.files import sha256_file
from tfrecords_builder.layout import MANIFEST
from tfrecords_builder.options import input_flags

#: TrainConfig fields a checkpoint fixes (fine-tuning keeps its head, readout, dropout and input
#: scaling): a plan's ``[train]`` and ``[grid]`` values for them do not apply to its cells.
KEPT_BY_CHECKPOINT = ("head", "readout", "dropout", "input_scaling")
#: The cell variant entry that names the checkpoint whose architecture a cell trains.
VARIANT_KEY = "preset"


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """One checkpoint a plan names under ``pretrained``.

    Attributes:
        name: the plan's key for it: the upstream in cell keys and in the report.
        path: its path as the plan gives it.
        sha256: the sha256 of its weights file (which checkpoint it was).
        model: the registered backbone it holds.
        fs: its input rate in Hz.
        samples: its input length in samples.
        leads: its leads, in input order.
        pad_to: the zero-padding its input convention adds (None: none).
    """

    name: str
    path: str
    sha256: str
    model: str
    fs: float
    samples: int
    leads: tuple[str, ...]
    pad_to: int | None = None

    def record(self) -> dict:
        """What a result file records of it (the cell spec's ``preset`` entry)."""
        return {"name": self.name, "path": self.path, "sha256": self.sha256,
                "model": self.model}

    def input_text(self) -> str:
        """Its input in words, e.g. ``500 Hz, 5000 samples, leads I,II``."""
        return f"{self.fs:g} Hz, {self.samples} samples, leads {','.join(self.leads)}"

    def build_flags(self) -> str:
        """The builder flags that make datasets this checkpoint reads."""
        return input_flags(self.fs, self.samples, self.pad_to)


def read_pretrained(name: str, path: str) -> Pretrained:
    """The facts a plan needs of one ``pretrained`` entry, read from its metadata.

    A preset folder's ``metadata.json``, or a ``.keras`` checkpoint's stored metadata (no
    model is loaded either way).

    Raises:
        ValueError: no preset folder or ``.keras`` file at ``path``, metadata that does not
            say the input, or a backbone that is not registered; the message names the entry.
    """
    where = f"pretrained.{name} = {path!r}"
    try:
        facts = _preset_facts(Path(path)) if Path(path).is_dir() else _checkpoint_facts(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from None
    from ecg_tl_keras.models.families import known_models

    if facts["model"] not in known_models():
        raise ValueError(f"{where}: holds a {facts['model']!r} model, which is not a registered "
                         "backbone (register it with ecg-tl-keras --import MODULE)")
    return Pretrained(name=name, path=path, **facts)


def _preset_facts(path: Path) -> dict:
    from ecg_tl_keras.models.presets import WEIGHTS_FILE, load_preset_metadata

    metadata = load_preset_metadata(path)
    given = metadata["input"]
    return dict(sha256=sha256_file(path / WEIGHTS_FILE), model=str(metadata["model"]),
                fs=float(given["fs"]), samples=int(given["samples"]),
                leads=tuple(given["leads"]), pad_to=given.get("pad_to"))


def _checkpoint_facts(path: str) -> dict:
    if not Path(path).exists():
        raise ValueError("not found: expected a preset folder (config.json, model.weights.h5, "
                         "metadata.json; from ecg-tl-keras import or save_to_preset) or a "
                         ".keras checkpoint")
    from ecg_tl_keras.training.checkpoints import read_metadata

    metadata = read_metadata(path)
    missing = [key for key in ("model", "fs", "samples", "leads") if not metadata.get(key)]
    if missing:
        raise ValueError(f"the checkpoint's metadata lacks {', '.join(missing)}: save it as a "
                         "preset (save_to_preset) with its input described")
    return dict(sha256=sha256_file(path), model=str(metadata["model"]),
                fs=float(metadata["fs"]),
                samples=int(metadata["samples"]), leads=tuple(metadata["leads"]),
                pad_to=metadata.get("pad_to"))


def input_problem(pretrained: Pretrained, manifest: Mapping) -> str | None:
    """Why ``pretrained`` cannot read a dataset's signals (rate, length, leads), or None."""
    from ecg_tl_keras.training.checkpoints import input_mismatch

    metadata = {"fs": pretrained.fs, "leads": list(pretrained.leads)}
    return input_mismatch(metadata, (pretrained.samples, len(pretrained.leads)), manifest)


def check_inputs(upstreams: Mapping[str, Pretrained], downstream, data_root) -> None:
    """Refuses a checkpoint whose input differs from a built downstream dataset's.

    Datasets not built under ``data_root`` yet are not checked (the dry-run says how to
    build them).

    Raises:
        ValueError: naming the checkpoint, both inputs and the builder flags that fix it.
    """
    if not upstreams or data_root is None:
        return
    from ecg_tl_keras.built import load_manifest

    for dataset in downstream:
        folder = Path(data_root) / dataset
        if not (folder / MANIFEST).is_file():
            continue
        manifest = load_manifest(folder)
        for pretrained in upstreams.values():
            problem = input_problem(pretrained, manifest)
            if problem:
                raise ValueError(
                    f"pretrained.{pretrained.name} ({pretrained.path}) cannot read dataset "
                    f"{dataset}: {problem} (the checkpoint takes {pretrained.input_text()}; "
                    f"{folder / MANIFEST} has {manifest['fs']:g} Hz, {manifest['samples']} "
                    f"samples, leads {','.join(manifest['leads'])}); rebuild {dataset} with "
                    f"`python -m tfrecords_builder {dataset} ... --out {data_root} "
                    f"{pretrained.build_flags()} --overwrite`")


def untrained_model(pretrained: Pretrained, config):
    """The checkpoint's architecture, randomly initialised (seeded by ``config.seed``), with a
    head for the labels of ``config.data``, under the precision its fine-tune trains with
    (``config.precision``): the from-scratch side of its comparison."""
    from ecg_tl_keras.built import BuiltDataset
    from ecg_tl_keras.models import get_backbone_spec
    from ecg_tl_keras.models.finetune import untrained_copy
    from ecg_tl_keras.models.presets import load_pretrained
    from ecg_tl_keras.precision import resolve_precision

    model, _ = load_pretrained(pretrained.path)
    labels = BuiltDataset.open(config.data).labels
    family = get_backbone_spec(pretrained.model).family
    return untrained_copy(model, config.seed, len(labels),
                          resolve_precision(config.precision, family))
