"""The configuration of one training run (one field per ``ecg-tl-keras train`` flag)."""

from __future__ import annotations

import dataclasses
import os

SELECT_ON = ("val", "test")
FINETUNE = ("full", "linear", "gradual")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
HEADS = ("linear", "mlp")
READOUTS = ("last", "flatten")
INPUT_SCALINGS = ("zscore", "minmax")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; validated on creation.

    Defaults are the study's: Adam (lr 0.01, betas 0.9/0.999), binary
    cross-entropy, batch 256, 100 epochs, full fine-tuning after replacing the head.

    Attributes:
        data: built dataset directory (holds ``manifest.json``), e.g. ``OUT/ptbxl``.
        model: backbone name (``ecg_tl_keras.models.available_backbones()``).
        out: run directory.
        finetune_from: ``.keras`` checkpoint to fine-tune (its head is replaced).
        epochs: number of epochs.
        batch_size: global batch size (split over replicas when distributed).
        lr: Adam learning rate.
        seed: seeds Python, NumPy, TensorFlow, the shuffles and ``train_size`` sampling.
        select_on: ``"val"`` (a patient-wise fold carved from train) or ``"test"``
            (the study's protocol: the best epoch is chosen on the test split).
        val_fold: the train fold (0-9) held out for selection when ``select_on="val"``.
        train_size: train on a seeded patient-wise subsample of this many records.
        finetune: ``"full"``, ``"linear"`` (frozen backbone) or ``"gradual"``.
        strategy: ``"auto"``, ``"default"``, ``"mirrored"`` or ``"multiworker"``.
        head: ``"linear"`` or ``"mlp"`` for a new model; None means linear for a
            new model and the checkpoint's own head type when fine-tuning.
        readout: recurrent backbones: ``"last"`` (final state) or ``"flatten"`` (every
            step flattened into the head, the study's code); None: the backbone's default
            for a new model, the checkpoint's when fine-tuning.
        dropout: the backbone's feature dropout (recurrent backbones; the study's code
            had none in effect: 0.0); None: the backbone's default / the checkpoint's.
        input_scaling: ``"zscore"`` (training-split statistics) or ``"minmax"`` (each
            record, each lead to [-1, 1], the study's code); None: zscore for a new model,
            the checkpoint's when fine-tuning.
        skip_release_val_fold: with ``select_on="test"``, still leave the release's own
            validation fold (``val_fold``) out of training on datasets split by the
            release's folds (PTB-XL ``strat_fold``): the study trained PTB-XL on strat
            folds 1-8. No effect on datasets the builder split at random.
        deterministic: enable TensorFlow op determinism.
        verbose: Keras verbosity (``"auto"``, 0, 1, 2).

    Example:
        >>> TrainConfig(data="OUT/ptbxl", model="lstm", out="runs/lstm", epochs=2).lr
        0.01
    """

    data: str
    model: str
    out: str
    finetune_from: str | None = None
    epochs: int = 100
    batch_size: int = 256
    lr: float = 0.01
    seed: int = 0
    select_on: str = "val"
    val_fold: int = 8
    train_size: int | None = None
    finetune: str = "full"
    strategy: str = "auto"
    head: str | None = None
    readout: str | None = None
    dropout: float | None = None
    input_scaling: str | None = None
    skip_release_val_fold: bool = False
    deterministic: bool = True
    verbose: str | int = "auto"

    def __post_init__(self):
        for name in ("data", "out"):
            value = getattr(self, name)
            if not isinstance(value, (str, os.PathLike)) or not str(value):
                raise ValueError(f"{name} must be a non-empty path, got {value!r}")
            setattr(self, name, str(value))
        if self.finetune_from is not None:
            self.finetune_from = str(self.finetune_from)
        for name in ("epochs", "batch_size"):
            if not _positive_int(getattr(self, name)):
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.train_size is not None and not _positive_int(self.train_size):
            raise ValueError(f"train_size must be an integer >= 1, got {self.train_size!r}")
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not self.lr > 0:
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.val_fold not in range(10) or isinstance(self.val_fold, bool):
            raise ValueError(f"val_fold must be a fold number 0-9, got {self.val_fold!r}")
        self._check_choice("select_on", SELECT_ON)
        self._check_choice("finetune", FINETUNE)
        self._check_choice("strategy", STRATEGIES)
        for name, choices in (("head", HEADS), ("readout", READOUTS),
                              ("input_scaling", INPUT_SCALINGS)):
            if getattr(self, name) is not None:
                self._check_choice(name, choices)
        if self.dropout is not None and (
            isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float))
            or not 0 <= self.dropout < 1
        ):
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.skip_release_val_fold, bool):
            raise ValueError(
                f"skip_release_val_fold must be true or false, got {self.skip_release_val_fold!r}"
            )
        if self.finetune != "full" and self.finetune_from is None:
            raise ValueError(
                f"finetune={self.finetune!r} needs finetune_from (a pre-trained checkpoint)"
            )

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        if getattr(self, name) not in choices:
            raise ValueError(
                f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}"
            )

    @property
    def selection_split(self) -> str:
        """A readable description of the split the best epoch is chosen on.

        Example:
            >>> TrainConfig(data="d", model="gru", out="o").selection_split
            'val (train fold 8, patient-wise)'
        """
        if self.select_on == "test":
            return "test (study protocol: best epoch selected on the test split)"
        return f"val (train fold {self.val_fold}, patient-wise)"

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict.

        Example:
            >>> TrainConfig(data="d", model="gru", out="o").to_dict()["batch_size"]
            256
        """
        return dataclasses.asdict(self)
