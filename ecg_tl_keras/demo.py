"""Transfer learning in miniature on the bundled sample: build, pre-train, fine-tune, report.

``ecg-tl-keras demo [--out DIR] [--quick]`` splits the bundled PTB-XL sample (987 real
records, ``ecg_tl_keras/sample_data``) by patient into two release folders and builds
both from the raw files with the TFRecords builder:

* ``ptbxl``: the patients of ``strat_fold`` 1-7 and 10, the PTB-XL release reader with
  PTB-XL's own split (``strat_fold`` 10 is test; ``strat_fold`` 1 is the validation fold);
* ``ptbxl_small``: the other patients (``strat_fold`` 8 and 9) as "your own data": their
  record files plus a ``labels.csv``, built by the folder reader (patient-wise random split,
  one third test).

It then runs the study machinery (:func:`ecg_tl_keras.study.run_study`) on the plan
:func:`demo_plan`: ResNet1d18 trained from scratch on ``ptbxl`` (the pre-train), from scratch
on ``ptbxl_small``, and fine-tuned from the pre-train onto ``ptbxl_small``, with three seeds,
plus a size sweep (fine-tune vs scratch on ``SWEEP_SIZES`` train records of ``ptbxl_small``:
Fig 4 shows the gain there and on the full train split), and writes the report
(:func:`ecg_tl_keras.study.make_report`), whose first lines say what was run, the no-skill
baseline of each test split, whether fine-tuning helped (with the interval over seeds), which
diagnoses gained and what the pre-train cost. ``--quick`` runs the same steps with one seed and
one epoch as a smoke test. Running the demo again resumes where it stopped.

Example:
    >>> demo_plan(quick=True).seeds
    (0,)
    >>> report = run_demo("ecg_tl_demo")  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from tfrecords_builder import build_dataset
from tfrecords_builder.files import write_text_atomic
from tfrecords_builder.flags import add_flags, option
from tfrecords_builder.readers import get_reader

from ecg_tl_keras.study import make_report, run_study
from ecg_tl_keras.study.findings import findings
from ecg_tl_keras.study.plan import Plan, SizeSweep
from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.study.stats import Verdict

DEFAULT_OUT = "ecg_tl_demo"
UPSTREAM, DOWNSTREAM = "ptbxl", "ptbxl_small"
#: PTB-XL ``strat_fold`` values (patient-wise) of each demo dataset.
FOLDS = {UPSTREAM: (1, 2, 3, 4, 5, 6, 7, 10), DOWNSTREAM: (8, 9)}
#: The validation fold of every run: fold 0 is ``strat_fold`` 1 in ``ptbxl``, and one of the
#: ten seeded patient folds of ``ptbxl_small``.
VAL_FOLD = 0
MODEL = "resnet1d18"
#: Training settings of the full demo and of ``--quick``.
SETTINGS = {"full": dict(seeds=(0, 1, 2), epochs=5), "quick": dict(seeds=(0,), epochs=1)}
BATCH_SIZE, LR = 32, 0.001
#: Train-set sizes of the demo's size sweep, out of about 120 train records; with the full
#: train split, Fig 4 shows the gain at two sizes.
SWEEP_SIZES = (40,)


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """``ecg-tl-keras demo``: one field per flag."""

    out: str = option(DEFAULT_OUT, "folder for the data, runs and report")
    quick: bool = option(False, "one seed, one epoch: a smoke test of every step (about a "
                         "minute)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` options (generated from :class:`DemoOptions`)."""
    add_flags(parser, DemoOptions)


def run(args: argparse.Namespace) -> int:
    """Run the demo; print where the report is (bad input: ``ecg_tl_keras.cli``'s policy)."""
    run_demo(args.out, quick=args.quick)
    return 0


def demo_plan(quick: bool = False) -> Plan:
    """The demo's study plan: pre-train on ``ptbxl``, fine-tune vs scratch on ``ptbxl_small``.

    Example:
        >>> plan = demo_plan()
        >>> plan.upstream, plan.downstream, plan.models, plan.seeds
        (('ptbxl',), ('ptbxl_small',), ('resnet1d18',), (0, 1, 2))
    """
    settings = SETTINGS["quick" if quick else "full"]
    return Plan(name="demo-quick" if quick else "demo", upstream=(UPSTREAM,),
                downstream=(DOWNSTREAM,), models=(MODEL,), seeds=settings["seeds"],
                epochs=settings["epochs"], finetune="full", select_on="val",
                batch_size=BATCH_SIZE, lr=LR, train={"val_fold": VAL_FOLD},
                size_sweep=SizeSweep(UPSTREAM, DOWNSTREAM, (MODEL,), SWEEP_SIZES),
                description="ResNet1d18 pre-trained on PTB-XL patients, then fine-tuned vs "
                            "trained from scratch on a small set of other PTB-XL patients")


def run_demo(out: str | Path = DEFAULT_OUT, *, quick: bool = False,
             train_fn: Callable | None = None,
             log: Callable[[str], None] = lambda line: print(line, flush=True)) -> Path:
    """Build the two demo datasets from the bundled raw records, run the plan, write the report.

    Args:
        out: the demo folder; ``sources/``, ``data/``, ``study/`` and ``report/`` go there
            (``--quick`` uses ``study-quick/`` and ``report-quick/``).
        quick: one seed and one epoch.
        train_fn: the trainer (default ``ecg_tl_keras.training.train``).
        log: where progress lines go.

    Returns:
        The report folder.
    """
    out = Path(out)
    started = time.monotonic()
    suffix = "-quick" if quick else ""
    plan = demo_plan(quick)
    log(f"[demo 1/3] building TFRecords from the bundled PTB-XL records into {out / 'data'}")
    build_demo_data(out, log)
    log(f"[demo 2/3] {plan.description}: {len(plan.seeds)} seed(s), {plan.epochs} epoch(s)")
    run_study(plan, out / "data", out / f"study{suffix}", train_fn=train_fn, log=log)
    log("[demo 3/3] writing the report")
    report_file = make_report(out / f"study{suffix}", out / f"report{suffix}", log=log)["report"]
    found = {f.key: f for f in findings(load_results(out / f"study{suffix}"),
                                        study=out / f"study{suffix}")}
    lines = summary_lines(out / f"study{suffix}", plan, found) + finding_lines(found)
    prepend_to_report(report_file, lines)
    for line in lines:
        log(line)
    log(f"demo finished in {time.monotonic() - started:.0f} s; report: {report_file}, "
        f"figures in {report_file.parent / 'figures'}")
    return report_file.parent


def build_demo_data(out: Path, log: Callable[[str], None]) -> None:
    """Write the two source folders from the bundled sample and build them into ``out/data``."""
    with resources.as_file(resources.files("ecg_tl_keras") / "sample_data" / "ptbxl") as sample:
        upstream_source = write_release_subset(sample, out / "sources" / UPSTREAM,
                                               FOLDS[UPSTREAM])
        downstream_source = write_release_subset(sample, out / "sources" / DOWNSTREAM,
                                                 FOLDS[DOWNSTREAM])
    write_labels_csv(downstream_source)
    quiet = dict(seed=0, workers=0, progress=False, log=log)
    build_dataset(UPSTREAM, upstream_source, out / "data", split="strat_fold", **quiet)
    build_dataset("folder", downstream_source, out / "data", labels=downstream_source /
                  "labels.csv", name=DOWNSTREAM, **quiet)


def write_release_subset(release: Path, dest: Path, folds) -> Path:
    """A PTB-XL release folder holding the rows (and record files) whose ``strat_fold`` is in
    ``folds``; written once (a finished folder is reused).

    Example:
        >>> from importlib import resources
        >>> import tempfile
        >>> sample = resources.files("ecg_tl_keras") / "sample_data" / "ptbxl"
        >>> dest = write_release_subset(sample, Path(tempfile.mkdtemp()) / "p", [10])
        >>> len(pd.read_csv(dest / "ptbxl_database.csv"))
        128
    """
    release, dest = Path(release), Path(dest)
    table_file = dest / "ptbxl_database.csv"
    if table_file.is_file():
        return dest
    table = pd.read_csv(release / "ptbxl_database.csv", dtype=str, keep_default_na=False)
    rows = table[table["strat_fold"].astype(int).isin(list(folds))]
    for name in rows["filename_lr"]:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            shutil.copyfile(release / f"{name}{suffix}", dest / f"{name}{suffix}")
    shutil.copyfile(release / "scp_statements.csv", dest / "scp_statements.csv")
    write_text_atomic(table_file, rows.to_csv(index=False))  # last: it marks a finished folder
    return dest


def write_labels_csv(release: Path) -> Path:
    """``labels.csv`` for the folder reader: each record with a diagnostic superclass, its
    patient and its superclasses, as the PTB-XL reader maps them.

    Example:
        >>> from importlib import resources
        >>> import tempfile
        >>> sample = resources.files("ecg_tl_keras") / "sample_data" / "ptbxl"
        >>> labels = write_labels_csv(write_release_subset(
        ...     sample, Path(tempfile.mkdtemp()) / "p", [10]))
        >>> pd.read_csv(labels).columns.tolist()
        ['record', 'patient', 'labels']
    """
    path = Path(release) / "labels.csv"
    if path.is_file():
        return path
    refs = [ref for ref in get_reader("ptbxl")(release).records() if ref.labels]
    table = pd.DataFrame({"record": [ref.location for ref in refs],
                          "patient": [ref.patient_id for ref in refs],
                          "labels": [";".join(ref.labels) for ref in refs]})
    write_text_atomic(path, table.to_csv(index=False))
    return path


def verdict_sentence(verdict: Verdict) -> str:
    """The report's verdict on the demo's fine-tune vs scratch gain, in the report's own
    words (``Verdict.wording``) and what it means for the demo.

    Example:
        >>> verdict_sentence(Verdict.POSITIVE)
        'fine-tune better at this size (the adjusted p-value is below 0.05)'
    """
    verdict = Verdict(verdict)
    if verdict.names_winner:
        return f"{verdict.wording} at this size (the adjusted p-value is below 0.05)"
    if verdict is Verdict.SINGLE_SEED:
        return (f"{verdict.wording} (one seed only: no evidence either way about a training "
                "effect; the full demo runs 3 seeds)")
    if verdict is Verdict.UNCLEAR:
        return (f"{verdict.wording} at this size once every finding of the report is "
                "controlled together")
    if verdict is Verdict.NONE:
        return f"{verdict.wording} (see the report's findings for the reason)"
    return verdict.wording


def finding_lines(found: dict) -> list[str]:
    """Two more summary lines, from the report's findings (by key): which diagnoses gained
    (per-label verdicts, controlled with every other finding of the report) and what the
    pre-train cost (seconds and break-even)."""
    prefix = f"label:{UPSTREAM}>{DOWNSTREAM}:{MODEL}:"  # the full train split, not the sweep
    labels = [f for key, f in found.items()
              if key.startswith(prefix) and ":" not in key[len(prefix):]]
    named = {verdict: [f.key.rsplit(":", 1)[1] for f in labels if f.verdict == verdict]
             for verdict in (Verdict.POSITIVE, Verdict.NEGATIVE)}
    gains = ", ".join(f"{f.key.rsplit(':', 1)[1]} {f.estimate:+.3f}" for f in labels)
    per_label = (f"- **Per diagnosis** (fine-tuned minus scratch test F1, mean over seeds): "
                 f"{gains}; gained clearly: {', '.join(named[Verdict.POSITIVE]) or 'none'}, lost "
                 f"clearly: {', '.join(named[Verdict.NEGATIVE]) or 'none'} (verdicts controlled "
                 "with every other finding; table and Fig 6 below).")
    cost = found.get(f"cost:{UPSTREAM}>{DOWNSTREAM}:{MODEL}")
    cost_line = f"- **Cost**: {cost.text}" if cost is not None else "- **Cost**: not measured."
    return [per_label, cost_line, ""]


def summary_lines(study: Path, plan: Plan, found: dict) -> list[str]:
    """The report's first lines: what ran, the no-skill baselines, the pre-train's score and
    the fine-tune minus scratch gain over seeds with the report's verdict on it (``found``:
    the report's findings by key), from the result files only."""
    results = [r for r in load_results(study)
               if r["cell"]["model"] == MODEL and r["cell"]["train_size"] is None]
    scores = {(r["cell"]["kind"], r["cell"]["dataset"], r["cell"]["seed"]):
              r["metrics"]["test_weighted_f1"] for r in results}
    baseline = {name: dataset_baselines(results, name) for name in (UPSTREAM, DOWNSTREAM)}
    counts = {name: _split_records(results, name) for name in (UPSTREAM, DOWNSTREAM)}
    seeds = list(plan.seeds)
    pretrain = [scores[("scratch", UPSTREAM, seed)] for seed in seeds]
    gain = found[f"comparison:{UPSTREAM}>{DOWNSTREAM}:{MODEL}"]
    adjusted = ("" if np.isnan(gain.p_adjusted) else
                f"; adjusted with the report's other findings: p {gain.p_adjusted:.3f}")
    bounds = ("" if np.isnan(gain.low) else
              f", 95% interval [{gain.low:+.3f}, {gain.high:+.3f}] ({gain.method}{adjusted})")
    lines = [
        "## The demo in seven lines", "",
        f"- **Ran**: {MODEL} pre-trained from scratch on `{UPSTREAM}` (PTB-XL patients of "
        f"strat_fold 1-7 and 10: {counts[UPSTREAM]}), then fine-tuned vs trained from scratch on "
        f"`{DOWNSTREAM}` (the other patients, built as your own data: {counts[DOWNSTREAM]}); "
        f"{plan.epochs} epochs, seeds {', '.join(map(str, seeds))}, Adam lr {plan.lr:g}, batch "
        f"{plan.batch_size}; best epoch selected on a validation fold of train, never on test.",
        "- **No-skill baseline** (every label predicted present, the best constant predictor), "
        "test weighted F1: " + ", ".join(
            f"`{name}` {value['constant']:.3f}" for name, value in baseline.items())
        + "; random at the training prevalence: " + ", ".join(
            f"`{name}` {value['random']:.3f}" for name, value in baseline.items()) + ".",
        f"- **Pre-trained model** on `{UPSTREAM}`: test weighted F1 {np.mean(pretrain):.3f} "
        f"(mean of {len(seeds)} seed(s), {min(pretrain):.3f} to {max(pretrain):.3f}), "
        f"{np.mean(pretrain) - baseline[UPSTREAM]['constant']:+.3f} over the baseline"
        + ("" if min(pretrain) > baseline[UPSTREAM]["constant"]
           else "; a seed that does not beat the baseline did not learn") + ".",
        f"- **Scratch on `{DOWNSTREAM}`**: test weighted F1 "
        f"{np.mean([scores[('scratch', DOWNSTREAM, s)] for s in seeds]):.3f}; **fine-tuned**: "
        f"{np.mean([scores[('finetune', DOWNSTREAM, s)] for s in seeds]):.3f} (means over seeds).",
        f"- **Did fine-tuning help?** Fine-tuned minus scratch, paired by seed: "
        f"{gain.estimate:+.3f} test weighted F1{bounds}: {verdict_sentence(gain.verdict)}.",
    ]
    return lines


def dataset_baselines(results, dataset: str) -> dict:
    """No-skill test weighted F1 of a dataset, as its result files hold them (computed from a
    run's saved test labels and the manifest's training label counts:
    :func:`ecg_tl_keras.study.results.baselines`)."""
    return next(r["baselines"] for r in results
                if r["cell"]["dataset"] == dataset and r.get("baselines"))


def _split_records(results, dataset: str) -> str:
    records = next(r["metrics"] for r in results if r["cell"]["dataset"] == dataset)["records"]
    return (f"{records['train']} train records, {records['selection']} validation and "
            f"{records['test']} test records")


def prepend_to_report(report_file: Path, lines: list[str]) -> None:
    """Insert ``lines`` after the report's title line (atomically)."""
    text = Path(report_file).read_text().splitlines()
    title, rest = (text[:2], text[2:]) if text and text[0].startswith("#") else ([], text)
    write_text_atomic(report_file, "\n".join(title + lines + rest) + "\n")
