"""A plan expanded into cells: one training run each, with its dependencies.

Two kinds of cell:

* ``scratch``: a model trained from random initialisation on a dataset (optionally on a
  train subset) and tested on that dataset's test split. A scratch cell on the full train
  split of an upstream dataset *is* the pre-training run for that dataset: the paper uses
  the same run both as the scratch baseline and as the pre-trained model, so it is trained
  once (``Cell.roles`` says ``("pretrain", "scratch")``).
* ``finetune``: a model initialised from the ``best.keras`` of the scratch cell on its
  upstream dataset (same model, same seed) and trained on a downstream dataset. It depends
  on that cell, so it runs in the second stage.

A checkpoint the plan names under ``pretrained`` (:mod:`ecg_tl_keras.study.pretrained`) adds,
per downstream dataset and seed, a fine-tune of it (upstream: its name; no pre-train cell) and
a scratch cell of its architecture; both carry it as ``preset`` and in their variant, so they
pair with each other: ``finetune__ecgfounder-to-ptbxl__net1d-ecgfounder__seed0`` and
``scratch__ptbxl__net1d-ecgfounder__seed0`` (label ``net1d[ecgfounder]``).

Cells are ordered (all scratch cells first, then the fine-tunes) and sharded by index:
shard ``I/N`` runs the cells whose index modulo N is I, so N shards partition the cells.

Example:
    >>> from ecg_tl_keras.study.plan import load_plan
    >>> cells = expand_cells(load_plan("smoke"))
    >>> cells[0].key
    'scratch__ptbxl__resnet1d18__seed0'
    >>> [c.key for c in cells if c.kind == "finetune"][0]
    'finetune__ptbxl-to-georgia__resnet1d18__seed0'
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any, Iterable, Sequence

from ecg_tl_keras.choices import check_choice
from ecg_tl_keras.study.plan import TRAIN_KEYS, Plan
from ecg_tl_keras.study.pretrained import KEPT_BY_CHECKPOINT, VARIANT_KEY, Pretrained

STAGES = ("pretrain", "finetune")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run of the study.

    Attributes:
        kind: ``"scratch"`` or ``"finetune"``.
        dataset: the dataset it trains on and is tested on.
        model: the backbone name.
        seed: the training seed.
        upstream: the pre-training dataset (fine-tune cells only).
        train_size: the number of train records used, or None for the whole train split.
        pretrain_for: downstream datasets whose fine-tune cells start from this cell.
        train: the cell's ``TrainConfig`` values as sorted ``(field, value)`` pairs: the
            plan's top-level training keys (``TRAIN_KEYS``), its ``[train]`` resolved for
            this model, and its variant. TrainConfig types and checks them; the other
            fields named like TrainConfig fields (``model``, ``seed``, ``train_size``) are
            the cell's own.
        variant: the ``[grid]`` values of this cell, and its readout when the plan sets one,
            as ``(field, value)`` pairs; they name the cell (``key``, ``label``). A cell of a
            ``pretrained`` checkpoint ends with ``("preset", NAME)``.
        preset: the ``pretrained`` checkpoint the cell fine-tunes, or whose architecture it
            trains from scratch (None: a cell of the plan's own models).
    """

    kind: str
    dataset: str
    model: str
    seed: int
    train: tuple[tuple[str, Any], ...] = ()
    upstream: str | None = None
    train_size: int | None = None
    pretrain_for: tuple[str, ...] = ()
    variant: tuple[tuple[str, Any], ...] = ()
    preset: Pretrained | None = None

    @property
    def key(self) -> str:
        """A unique, file-name-safe id, e.g. ``finetune__georgia-to-ptbxl-n500__lstm__seed0``.

        A variant adds its values to the model part: ``scratch__ptbxl__lstm-flatten__seed0``.
        """
        data = self.dataset if self.upstream is None else f"{self.upstream}-to-{self.dataset}"
        if self.train_size is not None:
            data += f"-n{self.train_size}"
        return f"{self.kind}__{data}__{self._model_part}__seed{self.seed}"

    @property
    def _model_part(self) -> str:
        return "-".join([self.model] + [re.sub(r"[^A-Za-z0-9.]+", "_", str(value))
                                        for _, value in self.variant])

    @property
    def label(self) -> str:
        """The model as tables and figures name it: ``lstm``, or ``lstm[flatten]`` for a variant.

        Example:
            >>> Cell("scratch", "ptbxl", "gru", 0, variant=(("readout", "flatten"),)).label
            'gru[flatten]'
        """
        return model_label(self.model, self.variant)

    @property
    def settings(self) -> dict[str, Any]:
        """``train`` as a dict, e.g. ``cell.settings["epochs"]``."""
        return dict(self.train)

    @property
    def stage(self) -> str:
        """``"pretrain"`` for cells trained from scratch, ``"finetune"`` for fine-tunes."""
        return "pretrain" if self.kind == "scratch" else "finetune"

    @property
    def roles(self) -> tuple[str, ...]:
        """What the run is used for: ``pretrain`` and/or ``scratch``, or ``finetune``."""
        if self.kind == "finetune":
            return ("finetune",)
        return ("pretrain", "scratch") if self.pretrain_for else ("scratch",)

    @property
    def depends_on(self) -> str | None:
        """The key of the pre-training cell a fine-tune cell starts from (None for scratch)."""
        if self.kind != "finetune" or self.preset is not None:
            return None
        return f"scratch__{self.upstream}__{self._model_part}__seed{self.seed}"

    @property
    def title(self) -> str:
        """A one-line human description."""
        size = "" if self.train_size is None else f", {self.train_size} train records"
        given = "" if self.preset is None else f" (checkpoint {self.preset.path})"
        if self.kind == "finetune":
            return (f"fine-tune {self.label} {self.upstream} -> {self.dataset}{size}, "
                    f"seed {self.seed}{given}")
        used = (f" (also the pre-train for fine-tunes onto {', '.join(self.pretrain_for)})"
                if self.pretrain_for else "")
        return f"scratch {self.label} on {self.dataset}{size}, seed {self.seed}{used}{given}"

    def spec(self) -> dict:
        """The cell as a JSON-ready dict (what the result file stores).

        The plan's top-level training keys are entries of their own, as in the plan file;
        ``train`` holds the other settings.

        Example:
            >>> from ecg_tl_keras.study.plan import load_plan
            >>> spec = expand_cells(load_plan("smoke"))[0].spec()
            >>> spec["epochs"], spec["train"]
            (2, {'val_fold': 0})
        """
        spec = dataclasses.asdict(self)
        spec.pop("preset")
        if self.preset is not None:
            spec["preset"] = self.preset.record()
        settings = self.settings
        spec.update({key: settings.pop(key) for key in TRAIN_KEYS if key in settings})
        spec["train"] = settings
        spec["pretrain_for"] = list(self.pretrain_for)
        spec["variant"] = dict(self.variant)
        spec.update(key=self.key, label=self.label, stage=self.stage, roles=list(self.roles),
                    depends_on=self.depends_on)
        return spec


def expand_cells(plan: Plan) -> list[Cell]:
    """All the cells of a plan, scratch cells first, each training run once.

    Args:
        plan: a validated plan.

    Returns:
        The cells, in a deterministic order: scratch cells (full train splits, then the
        size-sweep subsets), then fine-tune cells.

    Example:
        >>> from ecg_tl_keras.study.plan import load_plan
        >>> len(expand_cells(load_plan("paper")))
        162
    """
    sweep = plan.size_sweep
    # (upstream, downstream, models, train sizes): the grid, then the size sweep.
    transfers = [(up, down, plan.models, (None,)) for up in plan.upstream
                 for down in plan.downstream if up != down]
    if sweep is not None:
        transfers.append((sweep.upstream, sweep.downstream, sweep.models, sweep.train_sizes))

    scratch_models = {dataset: list(plan.models) for dataset in plan.upstream + plan.downstream}
    pretrain_for: dict[tuple[str, str], list[str]] = {}
    for up, down, models, _ in transfers:
        scratch_models[up] = _unique(scratch_models.get(up, []) + list(models))
        for model in models:
            pretrain_for[(up, model)] = _unique(pretrain_for.get((up, model), []) + [down])

    cells = [Cell("scratch", dataset, seed=seed, **run,
                  pretrain_for=tuple(pretrain_for.get((dataset, model), ())))
             for dataset, models in scratch_models.items() for model in models
             for run in _runs(plan, model) for seed in plan.seeds]
    if sweep is not None:
        cells += [Cell("scratch", sweep.downstream, seed=seed, **run, train_size=size)
                  for size in sweep.train_sizes for model in sweep.models
                  for run in _runs(plan, model) for seed in plan.seeds]
    given = [(pretrained, run) for pretrained in plan.pretrained.values()
             for run in _runs(plan, pretrained.model, pretrained)]
    cells += [Cell("scratch", down, seed=seed, **run, preset=pretrained)
              for pretrained, run in given for down in plan.downstream for seed in plan.seeds]
    cells += [Cell("finetune", down, seed=seed, **run, upstream=up, train_size=size)
              for up, down, models, sizes in transfers for size in sizes for model in models
              for run in _runs(plan, model) for seed in plan.seeds]
    cells += [Cell("finetune", down, seed=seed, **run, upstream=pretrained.name,
                   preset=pretrained)
              for pretrained, run in given for down in plan.downstream for seed in plan.seeds]
    return cells


def _runs(plan: Plan, model: str, pretrained: Pretrained | None = None):
    """One ``Cell`` settings dict per variant of ``model`` (the ``[grid]`` combinations).

    For a ``pretrained`` checkpoint's cells the settings the checkpoint fixes
    (``KEPT_BY_CHECKPOINT``) are left out and its name ends the variant.
    """
    left_out = KEPT_BY_CHECKPOINT if pretrained is not None else ()
    base = {name: value for name, value in {**plan.train_settings(),
                                            **plan.train_for(model)}.items()
            if name not in left_out}
    names = [name for name in plan.grid if name not in left_out]
    for values in itertools.product(*(plan.grid[name] for name in names)):
        train = {**base, **dict(zip(names, values))}
        variant = tuple(zip(names, values))
        if "readout" in train and "readout" not in plan.grid:
            variant += (("readout", train["readout"]),)
        if pretrained is not None:
            variant += ((VARIANT_KEY, pretrained.name),)
        yield dict(model=model, train=tuple(sorted(train.items())), variant=variant)


def parse_shard(spec: str) -> tuple[int, int]:
    """Parse ``"I/N"`` (0 <= I < N) into ``(I, N)``.

    Raises:
        ValueError: anything else.

    Example:
        >>> parse_shard("3/8")
        (3, 8)
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(spec))
    if not match or int(match[2]) < 1 or int(match[1]) >= int(match[2]):
        raise ValueError(f"bad shard {spec!r}: expected I/N with 0 <= I < N, e.g. 0/4 "
                         "(with a Slurm array --array=0-3: --shard $SLURM_ARRAY_TASK_ID/4)")
    return int(match[1]), int(match[2])


def shard_cells(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """The cells of shard ``index`` of ``count``: those at positions i with i % count == index.

    Every shard must expand the same plan (same file, same ``--seeds``) so that the shards
    partition the cells exactly.

    Example:
        >>> shard_cells(list("abcde"), 1, 2)
        ['b', 'd']
    """
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in [0, {count}), got {index}")
    return [cell for position, cell in enumerate(cells) if position % count == index]


def select_stage(cells: Iterable[Cell], stage: str) -> list[Cell]:
    """Only the cells of a stage (``"pretrain"``, ``"finetune"``) or all (``"all"``)."""
    check_choice("stage", stage, ("all",) + STAGES)
    return [cell for cell in cells if stage in ("all", cell.stage)]


@dataclasses.dataclass(frozen=True, order=True)
class CellLabel:
    """The model of a cell as tables and figures name it: the backbone and its variant.

    Attributes:
        model: the backbone name.
        variant: the values of the cell's ``[grid]`` variant (and readout), as strings.

    Example:
        >>> label = CellLabel.of_spec({"model": "gru", "variant": {"readout": "flatten"}})
        >>> str(label), label.model
        ('gru[flatten]', 'gru')
    """

    model: str
    variant: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.model}[{','.join(self.variant)}]" if self.variant else self.model

    @classmethod
    def of_spec(cls, spec: dict) -> "CellLabel":
        """The label of a cell spec as a result file stores it (``Cell.spec()``)."""
        return cls(spec["model"], tuple(str(v) for v in (spec.get("variant") or {}).values()))


def model_label(model: str, variant: Iterable[tuple[str, Any]] = ()) -> str:
    """``model``, or ``model[v1,v2]`` with the values of a cell's variant.

    Example:
        >>> model_label("lstm", {"readout": "flatten"}.items())
        'lstm[flatten]'
    """
    return str(CellLabel(model, tuple(str(value) for _, value in variant)))


def _unique(items: Iterable) -> list:
    return list(dict.fromkeys(items))
