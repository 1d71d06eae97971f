"""The checkpoints ``advise`` compares: given ``.keras`` files, preset folders and study
folders, each loaded and checked against the target dataset (rate, length, leads).

A preset folder (:func:`ecg_tl_keras.models.presets.is_preset`: ``config.json``,
``model.weights.h5``, ``metadata.json``) is one candidate, read by
:func:`~ecg_tl_keras.models.presets.load_pretrained` as ``--finetune-from`` reads it. Any
other folder is a study folder (``ecg-tl-keras study run --out STUDY``), which contributes
every pre-train in it: each finished from-scratch cell whose model other cells fine-tune
from, i.e. ``STUDY/runs/<cell>/best.keras`` of cells with role ``pretrain``.

Each is checked with :func:`ecg_tl_keras.training.checkpoints.input_mismatch`, the one check
of a checkpoint against data; a candidate that does not fit is named with its input and the
data's, and the builder flags that would make data it reads
(:func:`tfrecords_builder.options.input_flags`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ecg_tl_keras.models.heads import HEAD_NAME
from ecg_tl_keras.models.presets import is_preset, load_pretrained
from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.training.rundir import RunDir
from tfrecords_builder.options import input_flags

#: The kinds of candidate: one of our checkpoints, a preset folder, a random-encoder baseline.
KINDS = ("checkpoint", "preset", "baseline")


@dataclasses.dataclass
class Candidate:
    """A checkpoint to start from.

    Attributes:
        name: a short name (the file, the preset folder, or the study cell).
        path: the ``.keras`` file or preset folder (a baseline: its architecture's source).
        model: the backbone name stored in the checkpoint (None when unknown).
        upstream: the dataset it was trained on (None when unknown).
        reason: why it cannot be used on the target data, or None when it can.
        kind: one of :data:`KINDS`.
    """

    name: str
    path: Path
    model: str | None = None
    upstream: str | None = None
    reason: str | None = None
    kind: str = "checkpoint"

    @property
    def compatible(self) -> bool:
        return self.reason is None


def study_pretrains(study: Path) -> list[Candidate]:
    """Every finished pre-train of a study folder, as a candidate.

    Raises:
        ValueError: the folder has no result files or no pre-train among them.
    """
    found = []
    for result in load_results(study):
        cell = result["cell"]
        if "pretrain" not in cell.get("roles", ()) or cell.get("train_size") is not None:
            continue
        found.append(Candidate(
            name=f"{cell['dataset']}-{cell['model']}-seed{cell['seed']}",
            path=RunDir(study / result["run_dir"]).best, model=cell["model"],
            upstream=cell["dataset"]))
    if not found:
        raise ValueError(f"{study}: no finished pre-train in this study folder")
    return found


def gather(sources: list[str | Path]) -> list[Candidate]:
    """Candidates from ``.keras`` paths, preset folders and study folders, in the order given,
    without repeats.

    Raises:
        ValueError: a path that is neither a file nor a folder (one line naming it).
    """
    candidates: dict[Path, Candidate] = {}
    for source in map(Path, sources):
        if is_preset(source):
            found = [Candidate(name=source.resolve().name, path=source, kind="preset")]
        elif source.is_dir():
            found = study_pretrains(source)
        elif source.is_file():
            found = [Candidate(name=source.parent.name if source.name == RunDir.BEST
                               else source.stem, path=source)]
        else:
            raise ValueError(f"--checkpoint {source}: not found; expected a .keras file, a "
                             f"preset folder or a study folder")
        for candidate in found:
            candidates.setdefault(candidate.path.resolve(), candidate)
    names: dict[str, int] = {}
    for candidate in candidates.values():  # two files called best.keras in folders of one name
        count = names[candidate.name] = names.get(candidate.name, 0) + 1
        if count > 1:
            candidate.name = f"{candidate.name}-{count}"
    return list(candidates.values())


def misfit_reason(name: str, metadata: dict, input_shape, manifest) -> str | None:
    """Why a loaded candidate cannot read the data, in one line naming both inputs and the
    build that fits; None when it fits.

    Example:
        >>> manifest = {"fs": 500, "samples": 5000, "leads": ["I", "II"]}
        >>> print(misfit_reason("old", {"fs": 100, "leads": ["I", "II"]}, (1000, 2), manifest))
        ... # doctest: +NORMALIZE_WHITESPACE
        old takes 100 Hz x 1000 samples, the data is 500 Hz x 5000 samples (sampling rate
        100 Hz, data 500 Hz; input length 1000 samples, data 5000); build data it reads:
        python -m tfrecords_builder DATASET --source DIR --out OUT2 --rate 100 --seconds 10
    """
    from ecg_tl_keras.training.checkpoints import input_mismatch

    problem = input_mismatch(metadata, input_shape, manifest)
    if problem is None:
        return None
    samples, fs = int(input_shape[0]), metadata.get("fs")
    text = (f"{name} takes {_input_text(fs, samples)}, the data is "
            f"{_input_text(manifest.get('fs'), manifest['samples'])} ({problem})")
    if fs is None:
        return text + "; the checkpoint does not record its rate"
    pad_to = (metadata.get("preset") or {}).get("input", {}).get("pad_to")
    flags = input_flags(fs, samples, pad_to)
    leads = metadata.get("leads")
    if leads is not None and list(leads) != list(manifest["leads"]):
        flags += f" --leads {','.join(leads)}"
    return f"{text}; build data it reads: {rebuild_command(manifest, flags)}"


def rebuild_command(manifest, flags: str) -> str:
    """The builder command that rebuilds the data's source with other ``flags``, into a new
    output folder.

    Example:
        >>> rebuild_command({"dataset": "georgia", "source": "data/georgia"}, "--rate 500")
        'python -m tfrecords_builder georgia --source data/georgia --out OUT2 --rate 500'
        >>> rebuild_command({"dataset": "mine", "release_format": "folder"}, "--rate 400")[:79]
        'python -m tfrecords_builder folder --source DIR --labels LABELS.csv --name mine'
    """
    source = manifest.get("source") or "DIR"
    if manifest.get("release_format") == "folder":
        reader = (f"folder --source {source} --labels LABELS.csv --name "
                  f"{manifest.get('dataset') or 'NAME'}")
    else:
        reader = f"{manifest.get('dataset') or 'DATASET'} --source {source}"
    return f"python -m tfrecords_builder {reader} --out OUT2 {flags}"


def _input_text(fs, samples) -> str:
    return f"{fs:g} Hz x {samples} samples" if fs is not None else f"{samples} samples"


def load(candidate: Candidate, manifest) -> tuple:
    """The candidate's model and metadata (a preset or a ``.keras`` file, as
    ``--finetune-from`` reads them), with ``candidate.reason`` set when it is unusable."""
    try:
        model, metadata = load_pretrained(candidate.path)
    except (OSError, ValueError) as error:
        candidate.reason = f"could not be loaded: {error}"
        return None, {}
    candidate.model = candidate.model or metadata.get("model")
    candidate.upstream = candidate.upstream or metadata.get("dataset")
    candidate.reason = misfit_reason(candidate.name, metadata, model.input_shape[1:], manifest)
    if candidate.reason is None and HEAD_NAME not in {layer.name for layer in model.layers}:
        candidate.reason = f"no {HEAD_NAME!r} layer: not a model built by ecg_tl_keras"
    return model, metadata
