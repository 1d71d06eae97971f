"""Helpers for the builder tests: read shards back, and make small releases from the real samples.

Everything here is written independently of ``tfrecords_builder`` (its own CSV
filtering, MATLAB v4 and WFDB header writing, TFRecord parsing), so the tests
compare the builder against a second implementation; only the fault tests'
``StallingReader`` extends the builder's Georgia reader.

Example:
>>> release = make_code_release(tmp_path / "code", SHARED_DATA / "ribeiro")  # doctest: +SKIP
>>> examples = read_examples(built_dir)["train"]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.io

from tfrecords_builder.readers.georgia import GeorgiaReader

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Each tf.train.Example holds exactly these features.
EXAMPLE_KEYS = frozenset({"signal", "labels", "record_id", "patient_id", "fold"})
MANIFEST_KEYS = frozenset({
    "dataset", "builder_version", "source", "release_format", "labels", "label_codes", "fs",
    "samples", "leads", "unit", "splits", "dropped", "split_policy", "seed", "normalization"})
CODE_FS = 400
CODE_WIDTH = 4096
CODE_LEADS = ("DI", "DII", "DIII", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: CODE gold_standard.csv column -> the study's label name.
CODE_COLUMNS = {"1dAVb": "I-AVB", "RBBB": "RBBB", "LBBB": "LBBB", "SB": "SB", "AF": "AF",
                "ST": "STach"}


def quiet_build(dataset: str, source, out, **options) -> dict:
    """``build_dataset`` in-process, silent; returns the manifest."""
    from tfrecords_builder import build_dataset

    options.setdefault("workers", 0)
    return build_dataset(dataset, source, out, progress=False, log=lambda _: None, **options)


# ---------------------------------------------------------------- reading shards back

def _parse(serialized) -> dict:
    import tensorflow as tf

    features = {
        "signal": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.VarLenFeature(tf.int64),
        "record_id": tf.io.FixedLenFeature([], tf.string),
        "patient_id": tf.io.FixedLenFeature([], tf.string),
        "fold": tf.io.FixedLenFeature([], tf.int64),
    }
    parsed = tf.io.parse_single_example(serialized, features)
    parsed["labels"] = tf.sparse.to_dense(parsed["labels"])
    parsed["signal"] = tf.io.decode_raw(parsed["signal"], tf.float32, little_endian=True)
    return parsed


def read_shard(path: Path, n_leads: int = 12) -> list[dict]:
    """Every example of one shard, parsed with the documented schema, as numpy values."""
    import tensorflow as tf

    examples = []
    for raw in tf.data.TFRecordDataset(str(path)):
        keys = set(tf.train.Example.FromString(raw.numpy()).features.feature)
        assert keys == EXAMPLE_KEYS, f"{path}: example has features {sorted(keys)}"
        parsed = {key: value.numpy() for key, value in _parse(raw).items()}
        size = parsed["signal"].size
        assert size == 1000 * n_leads, f"{path}: signal has {size} values"
        examples.append({
            "signal": parsed["signal"].reshape(1000, n_leads),
            "labels": parsed["labels"],
            "record_id": parsed["record_id"].decode(),
            "patient_id": parsed["patient_id"].decode(),
            "fold": int(parsed["fold"]),
            "shard": path.name,
        })
    return examples


def shard_files(dataset_dir: Path, split: str) -> list[Path]:
    return sorted(dataset_dir.glob(f"{split}-*.tfrecord"))


def read_examples(dataset_dir: Path) -> dict[str, list[dict]]:
    """``{"train": [...], "test": [...]}``: the examples of every shard on disk, in shard order
    (as many leads as the manifest's ``leads``, 12 without a manifest)."""
    manifest = dataset_dir / "manifest.json"
    n_leads = len(json.loads(manifest.read_text())["leads"]) if manifest.is_file() else 12
    return {split: [example for path in shard_files(dataset_dir, split)
                    for example in read_shard(path, n_leads)]
            for split in ("train", "test")}


def examples_by_id(dataset_dir: Path) -> dict[str, dict]:
    """Record id -> example (with its ``split``)."""
    table = {}
    for split, examples in read_examples(dataset_dir).items():
        for example in examples:
            assert example["record_id"] not in table, f"record {example['record_id']} written twice"
            table[example["record_id"]] = {**example, "split": split}
    return table


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shard_digests(dataset_dir: Path) -> dict[str, str]:
    """Finished shard name -> sha256 of its bytes."""
    return {path.name: file_sha256(path) for path in sorted(dataset_dir.glob("*.tfrecord"))}


# ---------------------------------------------------------------- PTB-XL

def make_ptbxl_subset(source: Path, dest: Path, ecg_ids: Sequence[int]) -> Path:
    """A PTB-XL release folder holding only ``ecg_ids`` (rows and their 100 Hz records)."""
    table = pd.read_csv(source / "ptbxl_database.csv", dtype=str, keep_default_na=False)
    wanted = {str(i) for i in ecg_ids}
    subset = table[table["ecg_id"].isin(wanted)]
    assert len(subset) == len(wanted), "some ecg_ids are not in the sample"
    dest.mkdir(parents=True)
    subset.to_csv(dest / "ptbxl_database.csv", index=False)
    shutil.copy(source / "scp_statements.csv", dest / "scp_statements.csv")
    for name in subset["filename_lr"]:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            shutil.copy(source / f"{name}{suffix}", dest / f"{name}{suffix}")
    return dest


def ptbxl_expected_labels(source: Path) -> dict[str, set[str]]:
    """ecg_id -> diagnostic superclasses, straight from the two CSVs."""
    import ast

    statements = pd.read_csv(source / "scp_statements.csv", index_col=0)
    diagnostic = statements[statements["diagnostic"] == 1]["diagnostic_class"].to_dict()
    table = pd.read_csv(source / "ptbxl_database.csv")
    return {str(row.ecg_id): {diagnostic[code] for code in ast.literal_eval(row.scp_codes)
                              if code in diagnostic}
            for row in table.itertuples()}


# ---------------------------------------------------------------- CinC WFDB records

def write_mat_v4(path: Path, val: np.ndarray) -> None:
    """A MATLAB v4 file holding ``val`` (int16, leads x samples), as the CinC releases store it."""
    scipy.io.savemat(path, {"val": np.asarray(val, dtype=np.int16)}, format="4")


def _checksum(values: np.ndarray) -> int:
    return int((int(values.astype(np.int64).sum()) + 32768) % 65536 - 32768)


def cinc_header(record: str, val: np.ndarray, leads: Sequence[str], comments: Sequence[str], *,
                fs: int = 500, gain: float = 1000.0, style: str = "2021") -> str:
    """A CinC header text for ``val``: ``2021`` (``A0001 12 500 N``, ``16x1+24``, ``1000.0(0)/mV``)
    or the early-2020 layout whose first line names the file (``A0001.mat 12 500 N``, ``16+24``)."""
    if style == "2021":
        lines = [f"{record} {len(leads)} {fs} {val.shape[1]}"]
        spec = f"{record}.mat 16x1+24 {float(gain)}(0)/mV 16 0"
        prefix = "# "
    elif style == "2020":
        lines = [f"{record}.mat {len(leads)} {fs} {val.shape[1]} 05-Feb-2020 11:39:16"]
        spec = f"{record}.mat 16+24 {gain:g}/mV 16 0"
        prefix = "#"
    else:
        raise ValueError(style)
    lines += [f"{spec} {int(row[0])} {_checksum(row)} 0 {lead}" for row, lead in zip(val, leads)]
    lines += [f"{prefix}{comment}" for comment in comments]
    return "\n".join(lines) + "\n"


def write_cinc_record(dest: Path, record: str, val: np.ndarray, leads: Sequence[str],
                      comments: Sequence[str], **header_options) -> Path:
    """Write ``dest/record.hea`` + ``dest/record.mat``; return the header path."""
    dest.mkdir(parents=True, exist_ok=True)
    write_mat_v4(dest / f"{record}.mat", val)
    header = dest / f"{record}.hea"
    header.write_text(cinc_header(record, np.asarray(val), leads, comments, **header_options))
    return header


def header_comments(header: Path) -> list[str]:
    """The ``# Key: value`` comment lines of a header, without the ``#``."""
    lines = header.read_text().splitlines()
    return [line.lstrip("#").strip() for line in lines if line.startswith("#")]


def header_dx(header: Path) -> list[str]:
    for comment in header_comments(header):
        key, _, value = comment.partition(":")
        if key.strip() == "Dx":
            return [code.strip() for code in value.split(",") if code.strip()]
    return []


def load_cinc(directory: Path, record: str) -> tuple[np.ndarray, list[str], list[str]]:
    """``(val int16 leads x samples, lead names, comments)`` of a CinC record, read by hand."""
    val = scipy.io.loadmat(directory / f"{record}.mat")["val"]
    header = directory / f"{record}.hea"
    body = [line for line in header.read_text().splitlines() if line and not line.startswith("#")]
    leads = [line.split()[-1] for line in body[1:]]
    return val, leads, header_comments(header)


Change = Callable[[np.ndarray, list[str]], tuple[np.ndarray, list[str]]]


def write_cinc_variant(source: Path, record: str, dest: Path, change: Change | None = None,
                       **header_options) -> Path:
    """Rewrite a real CinC record (optionally changed) into ``dest``; return its header path."""
    val, leads, comments = load_cinc(source, record)
    if change is not None:
        val, leads = change(val.copy(), list(leads))
    return write_cinc_record(dest, record, val, leads, comments, **header_options)


#: CPSC 2018 REFERENCE class (1-9) -> the SNOMED code the CinC 2020 release wrote for it.
CPSC_CLASS_SNOMED = {1: "426783006", 2: "164889003", 3: "270492004", 4: "164909002", 5: "59118001",
                     6: "284470004", 7: "164884008", 8: "429622005", 9: "164931005"}
CPSC_CLASS_NAMES = {1: "NORM", 2: "AF", 3: "I-AVB", 4: "LBBB", 5: "RBBB", 6: "PAC", 7: "PVC",
                    8: "STD", 9: "STE"}


def cpsc_reference(path: Path) -> dict[str, list[int]]:
    """REFERENCE.csv as recording -> class numbers, read with the csv module."""
    import csv

    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return {row[0].strip(): [int(value) for value in row[1:] if value.strip()]
            for row in rows[1:] if row}


def load_cpsc_original(path: Path) -> tuple[np.ndarray, str, int]:
    """``(data float64 12 x N mV, sex, age)`` of an original CPSC 2018 recording."""
    ecg = scipy.io.loadmat(path, squeeze_me=True)["ECG"]
    data = np.asarray(ecg["data"].item(), dtype=np.float64)
    return data, str(ecg["sex"].item()), int(ecg["age"].item())


def make_cinc_cpsc(source: Path, dest: Path, dx: Callable[[str], str], style: str = "2020",
                   records: Sequence[str] | None = None) -> Path:
    """Convert original CPSC recordings into the CinC WFDB layout (1000 units/mV, int16 ``val``).

    ``dx(record)`` gives the ``Dx`` line's value (may be empty).
    """
    paths = sorted(source.glob("A*.mat"))
    for path in paths:
        if records is not None and path.stem not in records:
            continue
        data, sex, age = load_cpsc_original(path)
        val = np.round(data * 1000.0).astype(np.int16)
        comments = [f"Age: {age}", f"Sex: {sex}", f"Dx: {dx(path.stem)}", "Rx: Unknown",
                    "Hx: Unknown", "Sx: Unknown"]
        write_cinc_record(dest, path.stem, val, STANDARD_LEADS, comments, style=style)
    return dest


# ---------------------------------------------------------------- CODE (Ribeiro) hdf5

def code_rows(gold: pd.DataFrame, first: int = 16, per_label: int = 2) -> list[int]:
    """The first rows of gold_standard.csv plus ``per_label`` rows of each abnormality."""
    rows = set(range(first))
    for column in CODE_COLUMNS:
        rows.update(gold.index[gold[column] == 1][:per_label].tolist())
    return sorted(rows)


def make_code_release(dest: Path, ribeiro: Path, seed: int = 0, short_every: int = 4) -> dict:
    """A CODE test-set release: selected real CSV rows and synthetic tracings in the real layout.

    Tracings are N x 4096 x 12 float32 at 400 Hz; every ``short_every``-th exam is 7 s
    (2800 samples), the others 10 s (4000), each zero-padded on both sides. Returns
    ``{"source", "gold" (the rows written), "exams" (index -> unpadded exam, samples x 12)}``.
    """
    import h5py

    gold = pd.read_csv(ribeiro / "annotations" / "gold_standard.csv")
    attributes = pd.read_csv(ribeiro / "attributes.csv")
    rows = code_rows(gold)
    (dest / "annotations").mkdir(parents=True)
    gold_subset = gold.iloc[rows].reset_index(drop=True)
    gold_subset.to_csv(dest / "annotations" / "gold_standard.csv", index=False)
    attributes.iloc[rows].to_csv(dest / "attributes.csv", index=False)
    rng = np.random.default_rng(seed)
    tracings = np.zeros((len(rows), CODE_WIDTH, 12), dtype=np.float32)
    exams = {}
    for i in range(len(rows)):
        length = 2800 if i % short_every == short_every - 1 else 4000
        t = np.arange(length) / CODE_FS
        beat = np.sin(2 * np.pi * 1.2 * t)[:, None] * rng.uniform(0.2, 1.5, 12)
        exam = (beat + rng.normal(0, 0.05, (length, 12))).astype(np.float32)
        start = (CODE_WIDTH - length) // 2
        tracings[i, start:start + length] = exam
        exams[i] = exam
    with h5py.File(dest / "ecg_tracings.hdf5", "w") as handle:
        handle.create_dataset("tracings", data=tracings)
    return {"source": dest, "gold": gold_subset, "exams": exams}


def code_expected_labels(gold: pd.DataFrame) -> list[set[str]]:
    """Per row: the labels whose column is 1, or NORM when all six are 0."""
    labels = []
    for _, row in gold.iterrows():
        marked = {name for column, name in CODE_COLUMNS.items() if row[column] == 1}
        labels.append(marked or {"NORM"})
    return labels


# ---------------------------------------------------------------- a stalling reader (fault tests)

class StallingReader(GeorgiaReader):
    """A Georgia reader that, reading record ``stall``, writes its process id to ``marker`` and
    sleeps, so a test can kill the worker process while it holds a known record."""

    name = "stalling"

    def __init__(self, source, marker: str = "", stall: str = ""):
        super().__init__(source)
        self.marker, self.stall = marker, stall

    def read_signal(self, ref, max_seconds):
        if ref.record_id == self.stall:
            Path(self.marker).write_text(str(os.getpid()))
            time.sleep(120)
        return super().read_signal(ref, max_seconds)
