"""``ecg-tl-keras study run|report``: run a plan's experiment grid, then report on it.

Examples::

    ecg-tl-keras study run --plan smoke --data-root data --out study --dry-run
    ecg-tl-keras study run --plan paper --data-root data --out study --shard 3/16
    ecg-tl-keras study report study --out report
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ecg_tl_keras.study.cells import STAGES, parse_shard
from ecg_tl_keras.study.stats import single_seed_note
from tfrecords_builder.flags import add_flags, option


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudyRunOptions:
    """``ecg-tl-keras study run``: one field per flag."""

    plan: str = option(help="built-in plan (paper, paper-faithful, readout-ablation, smoke) or "
                       "a .toml plan file")
    data_root: str | None = option(
        None, "folder with one built dataset per name (DATA_ROOT/ptbxl/manifest.json ...; a "
        "plan may name any dataset built there); optional with --dry-run")
    out: str = option(help="study folder (runs/ and results/)")
    seeds: int | None = option(None, "use seeds 0..N-1 instead of the plan's")
    overrides: list[str] = option(
        default_factory=list, help="change a plan key before it is validated (repeatable; "
        "VALUE is TOML, a dotted KEY reaches into a table), e.g. --set epochs=1 --set "
        "'models=[\"gru\"]' --set train.val_fold=0", flag="--set", repeatable=True,
        metavar="KEY=VALUE")
    shard: str = option("0/1", "run shard I of N (I/N, 0 <= I < N) of the cells, e.g. "
                        "$SLURM_ARRAY_TASK_ID/16; every shard must use the same plan and --seeds")
    stage: str = option(
        "all", "which cells to run: pretrain: only the from-scratch cells (the pre-trains and "
        "the scratch baselines); finetune: only the fine-tunes", flag="--cells",
        aliases=("--stage",), choices=("all",) + STAGES)
    wait: float = option(
        0.0, "how long a fine-tune cell waits for its pre-train cell to finish on another "
        "shard (0: skip it; rerun later)", metavar="SECONDS")
    dry_run: bool = option(False, "print the cells, their status and the estimated compute")


@dataclasses.dataclass(frozen=True)
class StudyReportOptions:
    """``ecg-tl-keras study report``: one field per argument."""

    study: str = option(help="the --out folder of `study run`", positional=True)
    out: str = option(help="report folder to write")
    fig5_model: list[str] | None = option(
        None, "draw Fig 5 (F1 per epoch) for this model; repeat for more (default resnet1d18)",
        repeatable=True, metavar="MODEL")
    two_level: bool = option(
        False, "add a two-level bootstrap interval (seeds, then test records) to every "
        "comparison")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``run`` and ``report`` sub-commands to the ``study`` parser, their flags
    generated from :class:`StudyRunOptions` and :class:`StudyReportOptions`."""
    commands = parser.add_subparsers(dest="study_command", metavar="{run,report}")
    commands.required = True
    add_flags(commands.add_parser(
        "run", help="train the cells of a plan (resumable, shardable)",
        description="Expand a plan into cells (from-scratch runs, which double as the "
                    "pre-trains, and fine-tunes) and train those not done yet. A cell is done "
                    "when OUT/results/<cell>.json exists; an interrupted cell resumes."),
        StudyRunOptions)
    add_flags(commands.add_parser(
        "report", help="findings (findings.json), tables, figures and report.md from a study "
                       "folder's result files",
        description="Every verdict of the report is controlled as one family (Holm over all "
                    "of its tests): the chance of naming any wrong winner is at most 5%."),
        StudyReportOptions)


def run(args: argparse.Namespace) -> int:
    """Run ``study run`` or ``study report`` (bad input: ``ecg_tl_keras.cli``'s one-line policy)."""
    if args.study_command == "run":
        return _run(args)
    from ecg_tl_keras.study.report import make_report

    paths = make_report(args.study, args.out, fig5_models=args.fig5_model,
                        two_level=args.two_level)
    print(f"report written: {paths['report']}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.study.plan import load_plan
    from ecg_tl_keras.study.runner import run_study

    shard = parse_shard(args.shard)
    plan = load_plan(args.plan, data_root=args.data_root, overrides=args.overrides)
    if args.seeds is not None:
        plan = plan.with_seeds(args.seeds)
    if args.data_root is None and not args.dry_run:
        raise ValueError("--data-root is required (the folder holding the built datasets)")
    summary = run_study(plan, args.data_root or ".", args.out, shard=shard, stage=args.stage,
                        dry_run=args.dry_run, wait_s=args.wait,
                        log=lambda line: print(line, flush=True))
    if args.dry_run and single_seed_note(len(plan.seeds)):
        print(f"note: {single_seed_note(len(plan.seeds))}")
    if summary.waiting:
        print(f"{len(summary.waiting)} fine-tune cells wait for pre-trains that are not finished; "
              "rerun this command (same --shard) once they are, or run `--cells pretrain` on "
              "every shard first", file=sys.stderr)
        return 1
    return 0
