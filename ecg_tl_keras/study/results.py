"""Result files: one JSON per finished cell, written atomically, read back by the report.

Layout of a study folder (``study run --out OUT``)::

    OUT/runs/<cell key>/      the training run directory (best.keras, history.csv, ...)
    OUT/results/<cell key>.json

A result file holds the cell's spec, the contents of its ``metrics.json``, the per-epoch
history (from ``history.csv``), the path of ``predictions_test.npz``, the test weighted F1 of
two no-skill baselines on the same test records (``baselines``: the best constant predictor
and random predictions at the training prevalence of the dataset's ``manifest.json`` train
split, which the run's ``config.json`` names; see
:func:`ecg_tl_keras.study.stats.no_skill_baselines`), the selected epoch's scores on the
selection split beside that split's best constant predictor (``selection``: what
:func:`ecg_tl_keras.study.learning.did_not_learn` judges) and the machine type it trained on
(``machine``). Every path in it is relative to ``OUT`` (portable: a study run on a cluster is
reported anywhere). It is written only after training finished, so its presence means the
cell is done.

Example:
    >>> result_path("study", "scratch__ptbxl__gru__seed0").as_posix()
    'study/results/scratch__ptbxl__gru__seed0.json'
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

from ecg_tl_keras.metrics import per_label_f1
from ecg_tl_keras.study.stats import no_skill_baselines
from ecg_tl_keras.training.rundir import RunDir, write_json_atomic
from tfrecords_builder.layout import MANIFEST

RESULT_FORMAT = 1
RUNS_DIR = "runs"
RESULTS_DIR = "results"


def run_dir(out: str | Path, key: str) -> Path:
    """The training run directory of a cell."""
    return Path(out) / RUNS_DIR / key


def result_path(out: str | Path, key: str) -> Path:
    """The result file of a cell."""
    return Path(out) / RESULTS_DIR / f"{key}.json"


def read_history(path: str | Path) -> list[dict[str, float]]:
    """Read a training ``history.csv`` into a list of rows of floats (one per epoch)."""
    with open(path, newline="") as stream:
        return [{name: _number(value) for name, value in row.items()}
                for row in csv.DictReader(stream)]


def write_result(out: str | Path, spec: dict, metrics: dict) -> Path:
    """Write the result file of a finished cell.

    Args:
        out: the study folder.
        spec: the cell's spec (``Cell.spec()``); its ``key`` names the files.
        metrics: what training returned (the ``metrics.json`` contents).

    Returns:
        The result file's path.
    """
    key = spec["key"]
    runs = run_dir(out, key)
    predictions = RunDir(runs).predictions
    history = read_history(RunDir(runs).history)
    metrics = dict(metrics)
    if metrics.get("finetune_from"):
        metrics["finetune_from"] = relative_to(metrics["finetune_from"], out)
    result = {
        "format": RESULT_FORMAT,
        "cell": spec,
        "metrics": metrics,
        "history": history,
        "run_dir": relative_to(runs, out),
        "predictions_test": relative_to(predictions, out) if predictions.is_file() else None,
        "baselines": baselines(runs, out),
        "selection": selection_scores(runs, metrics, history),
        "machine": machine_type(),
    }
    path = result_path(out, key)
    write_json_atomic(path, result)
    return path


def relative_to(path: str | Path, out: str | Path) -> str:
    """``path`` relative to the study folder ``out`` (POSIX separators; absolute only when no
    relative path exists, e.g. another drive).

    Example:
        >>> relative_to("/work/data/ptbxl/manifest.json", "/work/study")
        '../data/ptbxl/manifest.json'
    """
    try:
        return Path(os.path.relpath(Path(path).absolute(), Path(out).absolute())).as_posix()
    except ValueError:
        return Path(path).absolute().as_posix()


def machine_type() -> str:
    """The kind of machine this process trains on: CPU architecture and count, and the
    accelerators TensorFlow sees when it is loaded (times are comparable within one type)."""
    text = f"{platform.machine() or 'unknown'} CPU x{os.cpu_count()}"
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            gpus = [tf.config.experimental.get_device_details(device).get("device_name", "GPU")
                    for device in tf.config.list_physical_devices("GPU")]
        except Exception:  # noqa: BLE001 - a device query must never lose a result file
            gpus = []
        if gpus:
            text += ", " + ", ".join(sorted(gpus))
    return text


def selection_scores(runs: Path, metrics: dict, history: list[dict]) -> dict | None:
    """The selected epoch's weighted F1 and macro AUC on the selection split, and that
    split's best constant predictor (every label present): what ``did_not_learn`` judges.

    None when the history has no row of the selected epoch.
    """
    split = metrics.get("select_on") or "val"
    epoch = metrics.get("best_epoch")
    if not epoch or epoch > len(history):
        return None
    row = history[epoch - 1]
    return {"split": split,
            "weighted_f1": row.get(f"{split}_weighted_f1",
                                   row.get(f"selection_{split}_weighted_f1", math.nan)),
            "macro_auc": row.get(f"{split}_macro_auc", math.nan),
            "constant_weighted_f1": _selection_constant(runs, split)}


def _selection_constant(runs: Path, split: str) -> float | None:
    """Weighted F1 of "every label present" on the run's selection split (None: unknown)."""
    if split == "test":
        predictions = RunDir(runs).predictions
        if not predictions.is_file():
            return None
        with np.load(predictions, allow_pickle=False) as stored:
            return no_skill_baselines(stored["y_true"], None)["constant"]
    try:
        config = RunDir(runs).stored_config()
        return _fold_constant(str(config["data"]), int(config.get("val_fold", 0)))
    except Exception:  # noqa: BLE001 - unknown is stated by the report; never lose a result
        return None


@functools.lru_cache(maxsize=32)
def _fold_constant(data: str, fold: int) -> float:
    """The best constant predictor's weighted F1 on one train fold of a built dataset."""
    from ecg_tl_keras.shards import load_index  # no TensorFlow: any Keras backend

    index = load_index(data, "train")
    labels = index["labels"][index["fold"] == fold]
    if not len(labels):
        raise ValueError(f"{data}: train fold {fold} is empty")
    return no_skill_baselines(labels, None)["constant"]


def baselines(runs: Path, out: str | Path | None = None) -> dict | None:
    """No-skill baselines of a finished run directory (None without ``predictions_test.npz``).

    Returns:
        ``{"constant": F1, "random": F1 or None, "constant_per_label": {label: F1},
        "train_prevalence_from": manifest or None}`` (the manifest relative to ``out``
        when given); ``random`` is None when the run's ``config.json`` or the dataset's
        manifest (train split ``label_counts``) is missing.
    """
    predictions = RunDir(runs).predictions
    if not predictions.is_file():
        return None
    with np.load(predictions, allow_pickle=False) as stored:
        y_true, labels = stored["y_true"], [str(label) for label in stored["labels"]]
    manifest, prevalence = _train_prevalence(runs, labels)
    per_label = per_label_f1(y_true, np.ones_like(y_true)).tolist()
    return {**no_skill_baselines(y_true, prevalence),
            "constant_per_label": dict(zip(labels, per_label)),
            "train_prevalence_from": (None if manifest is None else
                                      relative_to(manifest, out) if out is not None
                                      else str(manifest))}


def _train_prevalence(runs: Path, labels: list[str]) -> tuple[Path | None, list | None]:
    """The manifest named by the run's config and the train split's prevalence per label."""
    try:
        data = RunDir(runs).stored_config()["data"]
        manifest = Path(data) / MANIFEST
        train = json.loads(manifest.read_text())["splits"]["train"]
        counts, records = train["label_counts"], train["records"]
        return manifest, [counts[label] / records for label in labels]
    except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None


def read_result(path: str | Path) -> dict:
    """Read one result file.

    Raises:
        ValueError: not a result file of this format.
    """
    try:
        result = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a JSON result file ({error})") from None
    if not isinstance(result, dict) or result.get("format") != RESULT_FORMAT:
        raise ValueError(f"{path}: not a study result file (format {RESULT_FORMAT} expected)")
    return result


def load_results(out: str | Path) -> list[dict]:
    """All result files of a study folder, sorted by cell key.

    Raises:
        ValueError: the folder has no ``results/`` with result files.
    """
    folder = Path(out) / RESULTS_DIR
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise ValueError(f"{folder}: no result files; run "
                         f"`ecg-tl-keras study run --out {out}` first")
    return [read_result(path) for path in paths]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
