"""The options of ``ecg-tl-keras evaluate`` and ``predict``: one field per argument.

As :class:`~ecg_tl_keras.training.config.TrainConfig` does for ``train``, each field's
metadata is the single source of its argument (help, flag, old spellings, choices,
metavar); :func:`tfrecords_builder.flags.add_flags` generates the parsers. A field's name
is the parsed argument's name (``args.split`` for ``--split-name``). This module does not
import TensorFlow.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_flags(parser, EvaluateOptions)
    >>> args = parser.parse_args(["--checkpoint", "best.keras", "--data", "OUT/ptbxl",
    ...                           "--split-name", "train", "--metrics-file", "m.json"])
    >>> EvaluateOptions(**values_from_args(EvaluateOptions, args))
    EvaluateOptions(checkpoint='best.keras', data='OUT/ptbxl', split='train', out='m.json', verify=True)
"""

from __future__ import annotations

import dataclasses

from ecg_tl_keras.training.prediction_output import FORMATS
from ecg_tl_keras.training.thresholds import CHOICES
from tfrecords_builder.flags import add_flags, option, values_from_args

_CHECKPOINT = {"metavar": "CKPT.keras", "aliases": ("--model",)}


@dataclasses.dataclass(frozen=True)
class EvaluateOptions:
    """``ecg-tl-keras evaluate``: a checkpoint scored on one split of a built dataset."""

    checkpoint: str = option(help="checkpoint to evaluate", **_CHECKPOINT)
    data: str = option(help="built dataset directory (holds manifest.json)")
    split: str = option("test", "name of the split to evaluate (train or test)",
                        flag="--split-name", aliases=("--split",))
    out: str | None = option(None, "also write the metrics to this JSON file",
                             flag="--metrics-file", aliases=("--out",), metavar="METRICS.json")
    verify: bool = option(True, "skip checking the split's shards against the manifest's "
                          "sha256", flag="--no-verify")


@dataclasses.dataclass(frozen=True)
class PredictOptions:
    """``ecg-tl-keras predict``: per-label probabilities and decisions for raw records."""

    checkpoint: str = option(help="checkpoint to use", **_CHECKPOINT)
    records: list[str] = option(
        help="WFDB record (.hea/.dat/.mat), EDF file (.edf), CPSC 2018 .mat file, or a folder "
        "(every record in it)", positional=True, nargs="+", metavar="RECORD")
    out: str | None = option(
        None, "write the predictions to this file (format from the extension); default: "
        "standard output", flag="--predictions-file", aliases=("--out",),
        metavar="PREDS.csv|PREDS.json")
    format: str | None = option(
        None, "csv or json (default: from the predictions file's extension, else csv)",
        choices=FORMATS)
    thresholds: str | None = option(
        None, "val: the checkpoint's per-label thresholds, chosen on the selection split "
        "(default); 0.5: 0.5 for every label", choices=CHOICES, exclusive="threshold")
    threshold: float | None = option(
        None, "one threshold in [0, 1] for every label", metavar="X", exclusive="threshold")
    lead_map: str | None = option(
        None, "record channel names to standard leads, e.g. MLII=II,V=V5 (default: the lead "
        "map of the checkpoint's training data, if any)", metavar="NAME=LEAD,...")
    assume_units: str | None = option(
        None, "unit of requested leads whose header gives no ECG unit (NU, empty), e.g. mV",
        metavar="UNIT")
