"""The whole study in miniature on the bundled sample: build, pre-train, fine-tune, report.

``ecg-tl-keras demo [--out DIR]`` builds TFRecords of the bundled PTB-XL (250 records)
and Georgia (10 records) sample, runs the ``smoke`` plan (from-scratch runs that double
as the pre-trains, fine-tunes both ways, a two-point size sweep) and writes the report
with its figures, in a few minutes on a laptop CPU. Running it again resumes where it
stopped. The numbers mean nothing (2 epochs on a few hundred records); the point is that
every step of the study runs.

Example:
    >>> report = run_demo("ecg_tl_demo")  # doctest: +SKIP
    >>> (report / "report.md").is_file()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Callable

from tfrecords_builder import BuildError, build_dataset

from ecg_tl_keras.study import load_plan, make_report, run_study

DEMO_DATASETS = ("ptbxl", "georgia")
DEFAULT_OUT = "ecg_tl_demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` options."""
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"folder for the data, runs and report (default ./{DEFAULT_OUT})")


def run(args: argparse.Namespace) -> int:
    """Run the demo; print where the report is."""
    try:
        run_demo(args.out)
    except (ValueError, OSError, BuildError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run_demo(out: str | Path = DEFAULT_OUT, *, train_fn: Callable | None = None,
             log: Callable[[str], None] = lambda line: print(line, flush=True)) -> Path:
    """Build the sample datasets, run the smoke plan and write its report.

    Args:
        out: the demo folder; ``data/``, ``study/`` and ``report/`` are written in it.
        train_fn: the trainer (default ``ecg_tl_keras.training.train``).
        log: where progress lines go.

    Returns:
        The report folder.
    """
    out = Path(out)
    started = time.monotonic()
    log(f"[demo 1/3] building TFRecords of the bundled sample into {out / 'data'}")
    with resources.as_file(resources.files("ecg_tl_keras") / "sample_data") as sample:
        for dataset in DEMO_DATASETS:
            build_dataset(dataset, source=sample / dataset, out=out / "data", seed=0, workers=1,
                          progress=False, log=log)
    log("[demo 2/3] running the smoke plan: from scratch (= pre-train), fine-tune, size sweep")
    run_study(load_plan("smoke"), out / "data", out / "study", train_fn=train_fn, log=log)
    log("[demo 3/3] writing the report")
    report = make_report(out / "study", out / "report", log=log)["report"].parent
    log(f"demo finished in {time.monotonic() - started:.0f} s; report: {report / 'report.md'}, "
        f"figures in {report / 'figures'}")
    return report
