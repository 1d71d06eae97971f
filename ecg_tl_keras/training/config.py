"""The configuration of one training run: one field per ``ecg-tl-keras train`` flag.

Each field's metadata is the single source of its command-line flag (help text,
choices, metavar) and of whether it may change when an interrupted run is resumed
(``resume="may-change"``: how a run is shown or spread, not what it computes).
``ecg-tl-keras train``'s flags are generated from these fields, so a new option
is one field definition plus its metadata. This module does not import TensorFlow.

Example:
    >>> [field.name for field in cli_fields()][:3]
    ['data', 'model', 'out']
"""

from __future__ import annotations

import dataclasses
import os
import re

from ecg_tl_keras.choices import HEADS, INPUT_SCALINGS, READOUTS, check_choice
from ecg_tl_keras.metrics import METRICS
from ecg_tl_keras.precision import PRECISIONS
from ecg_tl_keras.training.strategies import STRATEGIES as FINETUNE_STRATEGIES
from ecg_tl_keras.training.strategies import strategy_names
from tfrecords_builder.flags import flag_fields, help_of, option
from tfrecords_builder.split import N_FOLDS

SELECT_ON = ("val", "test")
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "data-parallel")
#: The fine-tuning strategies built in (``register_finetune_strategy`` adds more).
FINETUNE = strategy_names()
_MONITOR = re.compile(r"(?P<split>val|test)_(?P<metric>[A-Za-z0-9_]+)")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; validated on creation.

    Defaults are the study's: Adam (lr 0.01, betas 0.9/0.999), binary
    cross-entropy, batch 256, 100 epochs, full fine-tuning after replacing the
    head, the best epoch chosen by the sample-weighted F1 on a validation fold.

    Attributes:
        data: built dataset directory (holds ``manifest.json``), e.g. ``OUT/ptbxl``.
        model: backbone name (``ecg_tl_keras.models.available_backbones()``).
        out: run directory.
        finetune_from: ``.keras`` checkpoint or preset folder to fine-tune (its head is
            replaced; a preset's input convention stays the model's first layer).
        epochs: number of epochs.
        batch_size: global batch size (split over replicas when distributed).
        lr: learning rate (of the optimizer, unless ``optimizer`` sets its own).
        seed: seeds Python, NumPy, TensorFlow, the shuffles and ``train_size`` sampling.
        select_on: ``"val"`` (a patient-wise fold carved from train) or ``"test"``
            (the study's protocol: the best epoch is chosen on the test split).
        val_fold: the train fold (0-9) held out for selection when ``select_on="val"``.
        train_size: train on a seeded patient-wise subsample of this many records.
        finetune: a fine-tuning strategy: ``"full"``, ``"linear"`` (frozen backbone),
            ``"gradual"`` or ``"lp-ft"`` (see ``ecg_tl_keras.training.strategies``).
        strategy: ``"auto"``, ``"default"``, ``"mirrored"`` or ``"multiworker"``
            (TensorFlow), ``"data-parallel"`` (JAX: ``keras.distribution.DataParallel``).
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
        precision: ``"float32"``, ``"mixed_bfloat16"``, ``"mixed_float16"`` or ``"auto"``
            (per backbone family and device, never slower than float32; see
            :mod:`ecg_tl_keras.precision`). A checkpoint fine-tunes under any precision;
            a model passed to ``train(model=...)`` keeps its own.
        verbose: console output: 0 none, ``"auto"`` or 2 one line per epoch (loss, the
            selection split's metrics, the best epoch so far), 1 Keras's per-step
            progress bar as well.
        overwrite: start over when ``out`` holds a finished run (otherwise training
            a finished run only reports that it is finished).
        verify: check every shard's sha256 against the manifest before reading it.
        optimizer: a ``keras.optimizers.get`` identifier: a name (``"adamw"``) or a
            serialized optimizer (``{"class_name": "AdamW", "config": {...}}``, whose
            ``learning_rate`` may be a serialized schedule). ``lr`` is used when the
            config sets no ``learning_rate``.
        loss: a ``keras.losses.get`` identifier: a name or a serialized loss.
        monitor: the selection metric and split, ``<split>_<metric>`` (``val_weighted_f1``,
            ``val_macro_auc``, ``val_loss``, or ``val_<name>`` of any metric registered
            with ``ecg_tl_keras.metrics.register_metric``); its split must be ``select_on``.
            None means ``<select_on>_weighted_f1``. The loss is minimized, a metric in its
            registered direction (``higher_is_better``).

    Example:
        >>> config = TrainConfig(data="OUT/ptbxl", model="lstm", out="runs/lstm", epochs=2)
        >>> config.lr, config.optimizer, config.monitor
        (0.01, 'adam', 'val_weighted_f1')
    """

    data: str = option(help="built dataset directory (holds manifest.json)")
    model: str = option(help="backbone name (see ecg_tl_keras.models.available_backbones())")
    out: str = option(help="run directory (rerun the same command to resume)")
    finetune_from: str | None = option(
        None, "pre-trained checkpoint to fine-tune: a .keras file or a preset folder "
        "(ecg-tl-keras import)", metavar="CKPT.keras|PRESET")
    epochs: int = option(100, "number of epochs")
    batch_size: int = option(256, "global batch size")
    lr: float = option(0.01, "learning rate (unless --optimizer sets its own)")
    seed: int = option(0, "seed of weights, shuffles and --train-size sampling")
    select_on: str = option(
        "val", "split the best epoch is chosen on; 'test' reproduces the study's protocol",
        choices=SELECT_ON)
    val_fold: int = option(
        8, "train fold (0-9) held out for selection (8 = PTB-XL strat_fold 9)")
    train_size: int | None = option(
        None, "train on a seeded patient-wise subsample of N records", metavar="N")
    finetune: str = option(
        "full", lambda: f"fine-tuning strategy: {FINETUNE_STRATEGIES.describe()}",
        metavar="STRATEGY")
    strategy: str = option(
        "auto", "distribution strategy", choices=STRATEGIES, resume="may-change")
    head: str | None = option(
        None, "head of a new model (default linear); fine-tuning keeps the checkpoint's",
        choices=HEADS)
    readout: str | None = option(
        None, "recurrent backbones: last (final state, default) or flatten (every step into "
        "the head, the study's code); fine-tuning keeps the checkpoint's", choices=READOUTS)
    dropout: float | None = option(
        None, "the backbone's feature dropout (recurrent: default 0.3; the study's code: 0)")
    input_scaling: str | None = option(
        None, "zscore (train statistics, default) or minmax (each record, each lead to "
        "[-1, 1], the study's code); fine-tuning keeps the checkpoint's",
        choices=INPUT_SCALINGS)
    skip_release_val_fold: bool = option(
        False, "with --select-on test, still leave the release's validation fold out of "
        "training (PTB-XL strat_fold 9: the study trained on folds 1-8)")
    deterministic: bool = option(
        True, "do not enable TensorFlow op determinism (faster on some GPUs)",
        flag="--no-determinism")
    verbose: str | int = option("auto", cli=False, resume="may-change")
    overwrite: bool = option(
        False, "start over in a run directory that holds a finished run", resume="may-change")
    verify: bool = option(
        True, "skip checking the shards' sha256 against the manifest (faster start)",
        flag="--no-verify", resume="may-change")
    optimizer: str | dict = option(
        "adam", "optimizer: a Keras name (adamw, sgd, ...) or a serialized optimizer as JSON, "
        'e.g. \'{"class_name": "AdamW", "config": {"weight_decay": 0.01}}\'',
        metavar="NAME|JSON")
    loss: str | dict = option(
        "binary_crossentropy", "loss: a Keras name (binary_focal_crossentropy, ...) or a "
        "serialized loss as JSON", metavar="NAME|JSON")
    monitor: str | None = option(
        None, lambda: "selection metric and split, SPLIT_METRIC: val_weighted_f1 (default), "
        f"val_loss, or val_ and a registered metric ({METRICS.describe()}); SPLIT must be "
        "--select-on's", metavar="SPLIT_METRIC")
    precision: str = option(
        "auto", "float32, mixed_bfloat16, mixed_float16 or auto (per backbone family and "
        "device, never slower than float32: float32 on CPUs without bfloat16 instructions)",
        choices=PRECISIONS)

    def __post_init__(self):
        for name in ("data", "model", "out"):
            value = getattr(self, name)
            if not isinstance(value, (str, os.PathLike)) or not str(value):
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
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
        if self.val_fold not in range(N_FOLDS) or isinstance(self.val_fold, bool):
            raise ValueError(f"val_fold must be a fold number 0-{N_FOLDS - 1}, "
                             f"got {self.val_fold!r}")
        for name, choices in (("select_on", SELECT_ON), ("strategy", STRATEGIES),
                              ("precision", PRECISIONS)):
            check_choice(name, getattr(self, name), choices)
        for name, choices in (("head", HEADS), ("readout", READOUTS),
                              ("input_scaling", INPUT_SCALINGS)):
            if getattr(self, name) is not None:
                check_choice(name, getattr(self, name), choices)
        if self.dropout is not None and (
            isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float))
            or not 0 <= self.dropout < 1
        ):
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.skip_release_val_fold, bool):
            raise ValueError(
                f"skip_release_val_fold must be true or false, got {self.skip_release_val_fold!r}"
            )
        check_choice("finetune", self.finetune, strategy_names())
        if self.finetune != "full" and self.finetune_from is None:
            raise ValueError(
                f"finetune={self.finetune!r} needs finetune_from (a pre-trained checkpoint)"
            )
        for name in ("optimizer", "loss"):
            _check_identifier(name, getattr(self, name))
        self._check_monitor()

    def _check_monitor(self) -> None:
        if self.monitor is None:
            self.monitor = f"{self.select_on}_weighted_f1"
        match = _MONITOR.fullmatch(str(self.monitor))
        if match is None:
            raise ValueError(
                f"monitor must be SPLIT_METRIC with SPLIT val or test (e.g. val_macro_auc), "
                f"got {self.monitor!r}"
            )
        if match["split"] != self.select_on:
            raise ValueError(
                f"monitor {self.monitor!r} is measured on the {match['split']} split but "
                f"select_on is {self.select_on!r}; the monitored split must be the selection "
                f"split (select_on='test' only when asked for explicitly)"
            )

    @property
    def monitor_mode(self) -> str:
        """``"min"`` for a monitored loss, else ``"max"`` (see :func:`monitor_mode`).

        Example:
            >>> TrainConfig(data="d", model="gru", out="o", monitor="val_loss").monitor_mode
            'min'
        """
        return monitor_mode(self.monitor)

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
        """The fields as a JSON-ready dict (``from_dict`` reads it back).

        Example:
            >>> TrainConfig(data="d", model="gru", out="o").to_dict()["batch_size"]
            256
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A config from ``to_dict()``'s output, also from older files lacking newer fields.

        Raises:
            ValueError: unknown fields, or invalid values.

        Example:
            >>> config = TrainConfig(data="d", model="gru", out="o", optimizer="adamw")
            >>> TrainConfig.from_dict(config.to_dict()) == config
            True
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {', '.join(unknown)}")
        return cls(**values)

    def changed_fields(self, before: dict) -> list[str]:
        """Fields that differ from ``before`` (a ``to_dict()``), ignoring resume-neutral ones.

        ``before`` is read with :meth:`from_dict`, so fields an older file lacks count as
        their defaults.

        Example:
            >>> config = TrainConfig(data="d", model="gru", out="o")
            >>> config.changed_fields({**config.to_dict(), "verbose": 0, "lr": 0.1})
            ['lr']
        """
        before = TrainConfig.from_dict(before).to_dict()
        return sorted(name for name, value in self.to_dict().items()
                      if name not in RESUME_NEUTRAL and before[name] != value)


def cli_fields() -> list[dataclasses.Field]:
    """The :class:`TrainConfig` fields that are ``ecg-tl-keras train`` flags, in order.

    Example:
        >>> help_of(next(f for f in cli_fields() if f.name == "finetune"))
        'fine-tuning strategy: full, linear, gradual, lp-ft'
    """
    return flag_fields(TrainConfig)


#: Fields that may change when an interrupted run is resumed (display and distribution only).
RESUME_NEUTRAL = tuple(
    field.name for field in dataclasses.fields(TrainConfig)
    if field.metadata.get("resume") == "may-change"
)


def _check_identifier(name: str, value) -> None:
    """A Keras ``get`` identifier: a non-empty name or a dict with a ``class_name``."""
    if isinstance(value, str) and value:
        return
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        return
    raise ValueError(
        f"{name} must be a Keras name (e.g. 'adamw') or a serialized object "
        f"{{'class_name': ..., 'config': {{...}}}}; got {value!r}"
    )


def monitor_mode(monitor: str) -> str:
    """Whether a monitored log key is best low (``"min"``) or high (``"max"``).

    A loss is minimized; a registered metric (``<split>_<name>``) goes its registered
    direction; any other key (a metric of a module not imported) is maximized.

    Example:
        >>> monitor_mode("val_loss"), monitor_mode("val_weighted_f1")
        ('min', 'max')
    """
    if monitor.endswith("loss"):
        return "min"
    match = _MONITOR.fullmatch(monitor)
    if match is not None and match["metric"] in METRICS:
        return METRICS.spec(match["metric"]).mode
    return "max"
