"""``ecg-tl-keras advise --data OUT/NAME --checkpoint A.keras [...] --out ADVICE``."""

from __future__ import annotations

import argparse

from ecg_tl_keras.advise import budget
from ecg_tl_keras.advise.advisor import STAGES, AdviseConfig
from ecg_tl_keras.training import cli_train

#: The fine-tune stage's settings fitted to the data unless given (``advise.budget``).
BUDGET_FLAGS = ("epochs", "batch_size", "lr")
#: The fine-tune stage's settings taken as ``ecg-tl-keras train`` defines them.
TRAIN_FLAGS = ("val_fold",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True,
                        help="the target dataset: OUT/NAME (holds manifest.json)")
    parser.add_argument("--checkpoint", action="append", required=True, dest="checkpoints",
                        metavar="CKPT",
                        help="a .keras checkpoint or a study folder (every pre-train in it); "
                             "repeat for more")
    parser.add_argument("--out", required=True, help="the advice folder (advice.md, .json, .png)")
    parser.add_argument("--last-stage", "--stage", dest="stage", choices=STAGES,
                        default="finetune",
                        help="last stage to run: score (seconds), probe (minutes), finetune "
                             "(trains; default; --stage: old spelling, an alias)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per run (default 3)")
    parser.add_argument("--top", type=int, default=2,
                        help="best-ranked checkpoints to fine-tune (default 2)")
    parser.add_argument("--epochs", type=int, help=f"epochs of every fine-tune and scratch run "
                        f"(default: the study's {budget.STUDY_EPOCHS})")
    parser.add_argument("--batch-size", type=int, dest="batch_size",
                        help=f"batch size (default: fitted to the training records, at most the "
                             f"study's {budget.STUDY_BATCH_SIZE}; see advice.md)")
    parser.add_argument("--lr", type=float, help=f"learning rate (default: the study's "
                        f"{budget.STUDY_LR:g} scaled to the batch size; see advice.md)")
    cli_train.add_arguments(parser, TRAIN_FLAGS)


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.advise.advisor import advise

    config = AdviseConfig(data=args.data, checkpoints=args.checkpoints, out=args.out,
                          stage=args.stage, seeds=args.seeds, top=args.top,
                          **{name: getattr(args, name) for name in BUDGET_FLAGS + TRAIN_FLAGS})
    advise(config)
    return 0
