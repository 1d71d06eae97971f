"""The checkpoints ``advise`` compares: given ``.keras`` files and study folders, each checked
against the target dataset (rate, length, leads).

A study folder (``ecg-tl-keras study run --out STUDY``) contributes every
pre-train in it: each finished from-scratch cell whose model other cells
fine-tune from, i.e. ``STUDY/runs/<cell>/best.keras`` of cells with role
``pretrain``.

Each is checked with :func:`ecg_tl_keras.training.checkpoints.input_mismatch`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.training.rundir import RunDir


@dataclasses.dataclass
class Candidate:
    """A checkpoint to start from.

    Attributes:
        name: a short name (the file, or the study cell).
        path: the ``.keras`` file.
        model: the backbone name stored in the checkpoint (None when unknown).
        upstream: the dataset it was trained on (None when unknown).
        reason: why it cannot be used on the target data, or None when it can.
    """

    name: str
    path: Path
    model: str | None = None
    upstream: str | None = None
    reason: str | None = None

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
    """Candidates from ``.keras`` paths and study folders, in the order given, without repeats.

    Raises:
        ValueError: a path that is neither a file nor a study folder (one line naming it).
    """
    candidates: dict[Path, Candidate] = {}
    for source in map(Path, sources):
        if source.is_dir():
            found = study_pretrains(source)
        elif source.is_file():
            found = [Candidate(name=source.parent.name if source.name == RunDir.BEST
                               else source.stem, path=source)]
        else:
            raise ValueError(f"--checkpoint {source}: not found; expected a .keras file or a "
                             f"study folder")
        for candidate in found:
            candidates.setdefault(candidate.path.resolve(), candidate)
    names: dict[str, int] = {}
    for candidate in candidates.values():  # two files called best.keras in folders of one name
        count = names[candidate.name] = names.get(candidate.name, 0) + 1
        if count > 1:
            candidate.name = f"{candidate.name}-{count}"
    return list(candidates.values())
