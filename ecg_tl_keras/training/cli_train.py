"""Train a backbone from scratch or fine-tune it from a .keras checkpoint.

Example:
    python -m ecg_tl_keras.cli train --data OUT/ptbxl --model resnet1d18 --out runs/r18
"""

from __future__ import annotations

import argparse

from ecg_tl_keras.training._cli import user_errors
from ecg_tl_keras.training.config import (
    FINETUNE, HEADS, INPUT_SCALINGS, READOUTS, SELECT_ON, STRATEGIES, TrainConfig,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train`` flags (one per :class:`TrainConfig` field)."""
    defaults = TrainConfig(data="-", model="-", out="-")
    parser.add_argument(
        "--data", required=True, help="built dataset directory (holds manifest.json)"
    )
    parser.add_argument(
        "--model",
        required=True,
        help="backbone: resnet1d18, resnet1d50, resnet1d101, lstm, bilstm or gru",
    )
    parser.add_argument(
        "--out", required=True, help="run directory (rerun the same command to resume)"
    )
    parser.add_argument(
        "--finetune-from", metavar="CKPT.keras", help="pre-trained checkpoint to fine-tune"
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="global batch size"
    )
    parser.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--select-on",
        choices=SELECT_ON,
        default=defaults.select_on,
        help="split the best epoch is chosen on; 'test' reproduces the study's protocol",
    )
    parser.add_argument(
        "--val-fold",
        type=int,
        default=defaults.val_fold,
        help="train fold (0-9) held out for selection (default 8 = PTB-XL strat_fold 9)",
    )
    parser.add_argument(
        "--train-size", type=int, help="train on a seeded patient-wise subsample of N records"
    )
    parser.add_argument("--finetune", choices=FINETUNE, default=defaults.finetune)
    parser.add_argument("--strategy", choices=STRATEGIES, default=defaults.strategy)
    parser.add_argument(
        "--head",
        choices=HEADS,
        help="head of a new model (default linear); fine-tuning keeps the checkpoint's",
    )
    parser.add_argument(
        "--readout",
        choices=READOUTS,
        help="recurrent backbones: last (final state, default) or flatten (every step into "
        "the head, the study's code); fine-tuning keeps the checkpoint's",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        help="the backbone's feature dropout (recurrent: default 0.3; the study's code: 0)",
    )
    parser.add_argument(
        "--input-scaling",
        choices=INPUT_SCALINGS,
        help="zscore (train statistics, default) or minmax (each record, each lead to [-1, 1], "
        "the study's code); fine-tuning keeps the checkpoint's",
    )
    parser.add_argument(
        "--skip-release-val-fold",
        action="store_true",
        help="with --select-on test, still leave the release's validation fold out of "
        "training (PTB-XL strat_fold 9: the study trained on folds 1-8)",
    )
    parser.add_argument(
        "--no-determinism",
        dest="deterministic",
        action="store_false",
        help="do not enable TensorFlow op determinism (faster on some GPUs)",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``train`` arguments."""
    return TrainConfig(
        data=args.data,
        model=args.model,
        out=args.out,
        finetune_from=args.finetune_from,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        select_on=args.select_on,
        val_fold=args.val_fold,
        train_size=args.train_size,
        finetune=args.finetune,
        strategy=args.strategy,
        head=args.head,
        readout=args.readout,
        dropout=args.dropout,
        input_scaling=args.input_scaling,
        skip_release_val_fold=args.skip_release_val_fold,
        deterministic=args.deterministic,
    )


@user_errors
def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.training.trainer import train

    train(config_from_args(args))
    return 0
