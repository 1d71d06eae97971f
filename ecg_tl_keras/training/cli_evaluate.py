"""Evaluate a .keras checkpoint on a split of a built dataset.

Example:
    python -m ecg_tl_keras.cli evaluate --checkpoint runs/r18/best.keras --data OUT/ptbxl \
        --metrics-file eval.json
"""

from __future__ import annotations

import argparse

from ecg_tl_keras.training.command_options import EvaluateOptions
from tfrecords_builder.flags import add_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of :class:`~ecg_tl_keras.training.command_options.EvaluateOptions`."""
    add_flags(parser, EvaluateOptions)


#: The metrics the summary's first line shows; the other registered ones follow it.
_HEADLINE = ("weighted_f1", "macro_f1", "macro_auc")


def format_report(report: dict) -> str:
    """A short human-readable summary of :func:`evaluate_checkpoint`'s result.

    Every registered metric is shown (``report["metrics"]``): the built-in ones on the
    first line, those added with ``register_metric`` one per line after it.

    Example:
        >>> print(format_report({"split": "test", "records": 2, "weighted_f1": 1.0,
        ...     "macro_f1": 1.0, "macro_auc": None, "per_label_f1": {"AF": 1.0},
        ...     "auc_skipped_labels": ["AF"], "metrics": {"weighted_f1": 1.0, "brier": 0.1}}))
        test (2 records): weighted F1 1.0000, macro F1 1.0000, macro AUC n/a
          brier      0.1000
          AF         F1 1.0000
          AUC skipped (one class only): AF
    """
    lines = [
        f"{report['split']} ({report['records']} records): "
        f"weighted F1 {report['weighted_f1']:.4f}, macro F1 {report['macro_f1']:.4f}, "
        f"macro AUC {_number(report['macro_auc'])}"
    ]
    lines += [f"  {name:<10} {_number(value)}" for name, value in report.get("metrics", {}).items()
              if name not in _HEADLINE]
    lines += [f"  {name:<10} F1 {value:.4f}" for name, value in report["per_label_f1"].items()]
    if report["auc_skipped_labels"]:
        lines.append(f"  AUC skipped (one class only): {', '.join(report['auc_skipped_labels'])}")
    return "\n".join(lines)


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.training.evaluation import evaluate_checkpoint
    from ecg_tl_keras.training.rundir import write_json_atomic

    report = evaluate_checkpoint(args.checkpoint, args.data, args.split, verify=args.verify)
    print(format_report(report))
    if args.out:
        write_json_atomic(args.out, report)
    return 0
