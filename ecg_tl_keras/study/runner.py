"""Run a plan's cells through the trainer: resumable, shardable, with progress.

Each cell trains into ``OUT/runs/<key>/`` on ``DATA_ROOT/<dataset>/`` and, when training
has finished, its result file ``OUT/results/<key>.json`` is written atomically. Running a
study again skips the cells that have a result file and re-runs the others; an interrupted
cell resumes from its last finished epoch (the trainer's BackupAndRestore).

Example:
    >>> from ecg_tl_keras.study.plan import load_plan
    >>> summary = run_study(load_plan("smoke"), "data", "study", dry_run=True,
    ...                     log=lambda line: None)
    >>> summary.cells
    12
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Sequence

from ecg_tl_keras.built import BuiltDataset
from ecg_tl_keras.study.cells import Cell, expand_cells, select_stage, shard_cells
from ecg_tl_keras.study.plan import Plan
from ecg_tl_keras.study.progress import CellProgress
from ecg_tl_keras.study.results import read_result, result_path, run_dir, write_result
from ecg_tl_keras.training.rundir import RunDir
from tfrecords_builder.cli import command_flags
from tfrecords_builder.layout import MANIFEST
from tfrecords_builder.options import setting_defaults

#: Published record counts of the full releases, used when no manifest has been built yet.
PUBLISHED_RECORDS = {"ptbxl": 21799, "cpsc2018": 6877, "georgia": 10344, "ptb": 549,
                     "ribeiro": 827}


@dataclasses.dataclass
class Summary:
    """What a ``run_study`` call did.

    Attributes:
        cells: cells of this shard and stage.
        done: cells that already had a result file.
        trained: cells trained now.
        waiting: keys of fine-tune cells whose pre-train cell has no result yet.
        cpu_hours: estimated CPU hours of the cells not done (dry runs).
    """

    cells: int = 0
    done: int = 0
    trained: int = 0
    waiting: list[str] = dataclasses.field(default_factory=list)
    cpu_hours: float = 0.0


def default_train_fn(config):
    """``ecg_tl_keras.training.train``, imported when first needed (it imports TensorFlow)."""
    from ecg_tl_keras.training import train

    return train(config)


def make_config(cell: Cell, data_root: str | Path, out: str | Path):
    """The ``TrainConfig`` of a cell.

    Example:
        >>> from ecg_tl_keras.study.plan import load_plan
        >>> cell = expand_cells(load_plan("smoke"))[-1]
        >>> make_config(cell, "data", "study").finetune_from
        'study/runs/scratch__georgia__resnet1d18__seed0/best.keras'
    """
    from ecg_tl_keras.training.config import TrainConfig

    finetune_from = None
    if cell.depends_on is not None:
        finetune_from = str(RunDir(run_dir(out, cell.depends_on)).best)
    # The cell's fields named like TrainConfig fields (model, seed, epochs, lr, ...), then its
    # [train] settings; one log line per epoch unless the plan says otherwise.
    named = {field.name: getattr(cell, field.name) for field in dataclasses.fields(TrainConfig)
             if hasattr(cell, field.name)}
    return TrainConfig(**{"verbose": 2, **named, **dict(cell.train)},
                       data=str(Path(data_root).resolve() / cell.dataset),
                       out=str(run_dir(out, cell.key)), finetune_from=finetune_from)


def run_study(plan: Plan, data_root: str | Path, out: str | Path, *,
              shard: tuple[int, int] = (0, 1), stage: str = "all", dry_run: bool = False,
              wait_s: float = 0.0, poll_s: float = 30.0,
              train_fn: Callable | None = None,
              log: Callable[[str], None] = print) -> Summary:
    """Run (or, with ``dry_run``, list and estimate) one shard of a plan's cells.

    Args:
        plan: the validated plan.
        data_root: folder holding one built dataset per name (``DATA_ROOT/ptbxl/manifest.json``).
        out: the study folder (``runs/`` and ``results/`` are written there).
        shard: ``(I, N)``: run the cells at positions i with i % N == I of the full cell list.
        stage: ``"all"``, ``"pretrain"`` (cells trained from scratch) or ``"finetune"``.
        dry_run: only print the cells, their status and the estimated compute.
        wait_s: how long a fine-tune cell waits for its pre-train cell's result file
            (written by another shard); 0 skips it with a message instead.
        poll_s: seconds between checks while waiting.
        train_fn: the trainer, ``train(TrainConfig) -> metrics dict``
            (default ``ecg_tl_keras.training.train``).
        log: where progress lines go.

    Returns:
        A :class:`Summary`.

    Raises:
        ValueError: a dataset the cells need is not built under ``data_root``, or a result
            file in ``out`` was made with different settings.
    """
    cells = select_stage(shard_cells(expand_cells(plan), *shard), stage)
    summary = Summary(cells=len(cells))
    shard_text = "" if shard == (0, 1) else f" (shard {shard[0]}/{shard[1]})"
    log(f"plan {plan.name}: {len(cells)} cells{shard_text}, stage {stage}, "
        f"selection split {plan.select_on!r}")
    _log_differences(plan, log)
    if dry_run:
        _dry_run(cells, data_root, out, summary, log)
        _log_build(plan, cells, data_root, log)
        return summary
    _require_datasets(cells, data_root)
    _require_build(plan, cells, data_root)
    train_fn = train_fn or default_train_fn
    progress = CellProgress([estimate_cpu_hours(cell, train_records(cell.dataset, data_root)[0])
                             for cell in cells])
    for position, cell in enumerate(cells, start=1):
        prefix = f"[{position}/{len(cells)}] {cell.key}"
        if is_done(cell, out):
            summary.done += 1
            progress.finished(position - 1, trained=False)
            log(f"{prefix}: done, skipping")
            continue
        if not _dependency_ready(cell, out, wait_s, poll_s, log, prefix):
            summary.waiting.append(cell.key)
            log(f"{prefix}: waiting for {cell.depends_on} (not finished yet, maybe on another "
                "shard); skipped - run this shard again once it is done")
            continue
        _run_cell(cell, data_root, out, train_fn, lambda line: log(f"{prefix}: {line}"))
        summary.trained += 1
        progress.finished(position - 1, trained=True)
        log(progress.line())
    log(f"{summary.done + summary.trained}/{len(cells)} cells done"
        + (f", {len(summary.waiting)} waiting for their pre-train" if summary.waiting else ""))
    return summary


def _run_cell(cell: Cell, data_root, out, train_fn: Callable, log) -> None:
    """Train a cell (or pick up its finished training) and write its result file."""
    started = time.monotonic()
    metrics = finished_metrics(cell, out)
    if metrics is None:
        log(cell.title)
        metrics = train_fn(make_config(cell, data_root, out))
    else:
        log("training had finished; writing its result file")
    write_result(out, cell.spec(), metrics)
    log(f"finished in {time.monotonic() - started:.0f} s, "
        f"test weighted F1 {metrics.get('test_weighted_f1', float('nan')):.4f}")


def is_done(cell: Cell, out: str | Path) -> bool:
    """Whether the cell has a result file made with the same settings.

    Raises:
        ValueError: the result file was made with other settings (another plan in this folder).
    """
    path = result_path(out, cell.key)
    if not path.is_file():
        return False
    stored = _settings(read_result(path)["cell"])
    wanted = _settings(cell.spec())
    if stored != wanted:
        changed = ", ".join(f"{key} {stored.get(key)!r} -> {wanted.get(key)!r}"
                            for key in sorted(set(stored) | set(wanted))
                            if stored.get(key) != wanted.get(key))
        raise ValueError(f"{path} was made with other settings ({changed}); "
                         "use another --out folder for this plan")
    return True


def finished_metrics(cell: Cell, out: str | Path) -> dict | None:
    """The metrics of a run that finished training but has no result file yet, else None
    (:meth:`RunDir.is_finished` decides)."""
    return RunDir(run_dir(out, cell.key)).finished_metrics()


#: Cell spec entries derived from the others (not settings).
_DERIVED = ("key", "label", "stage", "roles", "depends_on", "pretrain_for")


def _settings(spec: dict) -> dict:
    """What decides a cell's computation: its spec without derived entries and without the
    ``TrainConfig`` fields that only change how a run is shown or spread."""
    from ecg_tl_keras.training.config import RESUME_NEUTRAL

    flat = {**{k: v for k, v in spec.items() if k != "train"}, **(spec.get("train") or {})}
    return {key: value for key, value in flat.items()
            if key not in _DERIVED and key not in RESUME_NEUTRAL}


def _dependency_ready(cell: Cell, out, wait_s: float, poll_s: float, log, prefix: str) -> bool:
    if cell.depends_on is None:
        return True
    dependency = result_path(out, cell.depends_on)
    deadline = time.monotonic() + wait_s
    if not dependency.is_file() and wait_s > 0:
        log(f"{prefix}: waiting up to {wait_s:.0f} s for {cell.depends_on}")
    while not dependency.is_file() and time.monotonic() < deadline:
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    return dependency.is_file()


def _require_datasets(cells: Sequence[Cell], data_root) -> None:
    missing = sorted({cell.dataset for cell in cells
                      if not (Path(data_root) / cell.dataset / MANIFEST).is_file()})
    if missing:
        raise ValueError(
            f"dataset(s) {', '.join(missing)} not built under {data_root}: expected "
            f"{Path(data_root) / missing[0] / MANIFEST}; build with `python -m tfrecords_builder "
            f"{missing[0]} --source DOWNLOADED_RELEASE --out {data_root}`")


def _log_differences(plan: Plan, log) -> None:
    if not plan.differs_from:
        return
    from ecg_tl_keras.study.plan import load_plan, plan_differences

    lines = plan_differences(plan, load_plan(plan.differs_from))
    log(f"differences from plan {plan.differs_from} ({plan.differs_from} -> {plan.name}):")
    for line in lines or ["none"]:
        log(f"  {line}")


def build_mismatches(plan: Plan, dataset: str, manifest: dict) -> list[str]:
    """The ``[build]`` options of ``plan`` that a dataset's manifest was not built with.

    Example:
        >>> from ecg_tl_keras.study.plan import load_plan
        >>> build_mismatches(load_plan("paper-faithful"), "ptb",
        ...                  {"build_options": {"resample": "poly", "keep_unlabeled": True}})
        ["resample: built with 'poly', the plan needs 'decimate'"]
    """
    recorded = dict(manifest.get("build_options", {}))
    reader_options = recorded.pop("reader_options", None) or {}
    # defaults first: builds made before an option existed, and the shape options a default
    # build leaves out of its manifest
    built = {**setting_defaults(), **recorded, **reader_options}
    return [f"{name}: built with {built.get(name)!r}, the plan needs {wanted!r}"
            for name, wanted in sorted(plan.build_for(dataset).items())
            if built.get(name, False if isinstance(wanted, bool) else None) != wanted]


def _build_flags(plan: Plan, dataset: str) -> str:
    return command_flags(dataset, dict(sorted(plan.build_for(dataset).items())))


def _log_build(plan: Plan, cells: Sequence[Cell], data_root, log) -> None:
    if not plan.build:
        return
    log("build the datasets with the plan's [build] options:")
    for dataset in sorted({cell.dataset for cell in cells}):
        log(f"  python -m tfrecords_builder {dataset} --source RELEASE --out {data_root} "
            f"{_build_flags(plan, dataset)}".rstrip())


def _require_build(plan: Plan, cells: Sequence[Cell], data_root) -> None:
    for dataset in sorted({cell.dataset for cell in cells}):
        path = Path(data_root) / dataset / MANIFEST
        wrong = build_mismatches(plan, dataset, BuiltDataset.open(path.parent).manifest)
        if wrong:
            raise ValueError(
                f"{path}: not built as plan {plan.name} needs ({'; '.join(wrong)}); rebuild with "
                f"`python -m tfrecords_builder {dataset} --source RELEASE --out {data_root} "
                f"{_build_flags(plan, dataset)} --overwrite`")


def train_records(dataset: str, data_root: str | Path) -> tuple[int, str]:
    """The train-split record count of a dataset and where it comes from.

    From ``DATA_ROOT/<dataset>/manifest.json`` when built, else an estimate from the
    release's published size and the builder's default test share.

    Example:
        >>> train_records("ptb", "/nonexistent")
        (368, 'published size')
    """
    manifest = Path(data_root) / dataset / MANIFEST
    if manifest.is_file():
        return BuiltDataset.open(manifest.parent).records("train"), "manifest"
    if dataset not in PUBLISHED_RECORDS:
        raise ValueError(f"dataset {dataset!r} is not built under {data_root}: expected {manifest}")
    from tfrecords_builder.readers import get_reader
    from tfrecords_builder.split import N_FOLDS, TEST_SIZE

    share = 1 - 1 / N_FOLDS if get_reader(dataset).default_split == "strat_fold" else 1 - TEST_SIZE
    return round(PUBLISHED_RECORDS[dataset] * share), "published size"


def cpu_samples_per_s(model: str) -> float | None:
    """The backbone's measured training rate (its spec's ``cpu_samples_per_s``), or None."""
    from ecg_tl_keras.models import get_backbone_spec

    return get_backbone_spec(model).cpu_samples_per_s


def estimate_cpu_hours(cell: Cell, records: int) -> float | None:
    """Epochs x train records / measured CPU samples per second (evaluation not counted);
    None when the backbone has no measured rate."""
    if cell.train_size is not None:
        records = min(records, cell.train_size)
    rate = cpu_samples_per_s(cell.model)
    return None if rate is None else cell.settings["epochs"] * records / rate / 3600


def _dry_run(cells: Sequence[Cell], data_root, out, summary: Summary, log) -> None:
    counts = {dataset: train_records(dataset, data_root) for dataset in {c.dataset for c in cells}}
    log(f"{'#':>4}  {'status':<7} {'cell':<52} {'roles':<16} {'train recs':>10} "
        f"{'epochs':>6} {'CPU h':>7}")
    for position, cell in enumerate(cells, start=1):
        records, _ = counts[cell.dataset]
        hours = estimate_cpu_hours(cell, records)
        done = is_done(cell, out)
        summary.done += done
        summary.cpu_hours += 0.0 if done or hours is None else hours
        used = min(records, cell.train_size or records)
        log(f"{position:>4}  {'done' if done else 'to do':<7} {cell.key:<52} "
            f"{'+'.join(cell.roles):<16} {used:>10} {cell.settings['epochs']:>6} "
            f"{'?' if hours is None else f'{hours:.2f}':>7}")
    sources = ", ".join(f"{name} {count} ({source})"
                        for name, (count, source) in sorted(counts.items()))
    log(f"train records: {sources}")
    rates = {model: cpu_samples_per_s(model) for model in dict.fromkeys(c.model for c in cells)}
    log(f"estimated compute for the {summary.cells - summary.done} cells not done: "
        f"{summary.cpu_hours:.1f} CPU hours = epochs x train records / training samples per s "
        f"measured on 2 CPU cores at batch 256 ("
        f"{', '.join(f'{m} {r:g}' for m, r in rates.items() if r)}); per-epoch evaluation "
        "not counted, a GPU is much faster")
    unmeasured = [model for model, rate in rates.items() if rate is None]
    if unmeasured:
        log(f"not counted (?): cells of {', '.join(unmeasured)}, which have no measured rate; "
            "measure one with bench/bench_backbones.py --backbones NAME and register it with "
            "cpu_samples_per_s=...")
