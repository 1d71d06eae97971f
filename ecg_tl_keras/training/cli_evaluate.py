"""Evaluate a .keras checkpoint on a split of a built dataset.

Example:
    python -m ecg_tl_keras.cli evaluate --model runs/r18/best.keras --data OUT/ptbxl --out eval.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ecg_tl_keras.training._cli import user_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, metavar="CKPT.keras", help="checkpoint to evaluate"
    )
    parser.add_argument(
        "--data", required=True, help="built dataset directory (holds manifest.json)"
    )
    parser.add_argument("--split", default="test", help="split to evaluate (default test)")
    parser.add_argument("--out", metavar="METRICS.json", help="also write the metrics here")


def evaluate_checkpoint(checkpoint: str, data: str, split: str = "test") -> dict:
    """Metrics of a checkpoint on a split: weighted/macro/per-label F1 and macro AUC.

    Raises:
        FileNotFoundError: missing checkpoint, manifest or shard.
        ValueError: unloadable checkpoint, or its inputs or labels differ from the dataset's.

    Example:
        >>> evaluate_checkpoint("runs/r18/best.keras", "OUT/ptbxl")["weighted_f1"]  # doctest: +SKIP
        0.71
    """
    from ecg_tl_keras import datasets
    from ecg_tl_keras.training.checkpoints import label_names, load_checkpoint
    from ecg_tl_keras.training.evaluation import Predictor, evaluate, load_eval_split

    manifest = datasets.load_manifest(data)
    model, metadata = load_checkpoint(checkpoint)
    if tuple(model.input_shape[1:]) != datasets.input_shape(manifest):
        raise ValueError(
            f"{checkpoint} takes inputs of shape {tuple(model.input_shape[1:])}, "
            f"{data} holds {datasets.input_shape(manifest)}"
        )
    names = label_names(model, metadata)
    if metadata.get("labels", manifest["labels"]) != manifest["labels"] or len(names) != len(
        manifest["labels"]
    ):
        raise ValueError(f"{checkpoint} predicts labels {names}, {data} has {manifest['labels']}")
    report, _ = evaluate(Predictor(model), load_eval_split(data, split), manifest["labels"])
    return {"checkpoint": str(checkpoint), "data": str(data), "split": split, **report}


def format_report(report: dict) -> str:
    """A short human-readable summary of :func:`evaluate_checkpoint`'s result."""
    auc = "n/a" if report["macro_auc"] is None else f"{report['macro_auc']:.4f}"
    lines = [
        f"{report['split']} ({report['records']} records): "
        f"weighted F1 {report['weighted_f1']:.4f}, macro F1 {report['macro_f1']:.4f}, "
        f"macro AUC {auc}"
    ]
    lines += [f"  {name:<10} F1 {value:.4f}" for name, value in report["per_label_f1"].items()]
    if report["auc_skipped_labels"]:
        lines.append(f"  AUC skipped (one class only): {', '.join(report['auc_skipped_labels'])}")
    return "\n".join(lines)


@user_errors
def run(args: argparse.Namespace) -> int:
    report = evaluate_checkpoint(args.model, args.data, args.split)
    print(format_report(report))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0
