"""``ecg-tl-keras advise --data OUT/NAME --checkpoint A.keras [...] --out ADVICE``."""

from __future__ import annotations

import argparse

from ecg_tl_keras.advise.advisor import TRAIN_DEFAULTS, STAGES, AdviseConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True,
                        help="the target dataset: OUT/NAME (holds manifest.json)")
    parser.add_argument("--checkpoint", action="append", required=True, dest="checkpoints",
                        metavar="CKPT",
                        help="a .keras checkpoint or a study folder (every pre-train in it); "
                             "repeat for more")
    parser.add_argument("--out", required=True, help="the advice folder (advice.md, .json, .png)")
    parser.add_argument("--stage", choices=STAGES, default="finetune",
                        help="last stage to run: score (seconds), probe (minutes), finetune "
                             "(trains; default)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per run (default 3)")
    parser.add_argument("--top", type=int, default=2,
                        help="best-ranked checkpoints to fine-tune (default 2)")
    parser.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS.epochs,
                        help="epochs per run (default %(default)s, the study's)")
    parser.add_argument("--batch-size", type=int, default=TRAIN_DEFAULTS.batch_size,
                        help="batch size (default %(default)s)")
    parser.add_argument("--lr", type=float, default=TRAIN_DEFAULTS.lr,
                        help="learning rate (default %(default)s)")
    parser.add_argument("--val-fold", type=int, default=TRAIN_DEFAULTS.val_fold,
                        help="train fold held out for selection (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.advise.advisor import advise

    config = AdviseConfig(data=args.data, checkpoints=args.checkpoints, out=args.out,
                          stage=args.stage, seeds=args.seeds, top=args.top, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, val_fold=args.val_fold)
    advise(config)
    return 0
