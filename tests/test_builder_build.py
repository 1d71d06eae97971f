"""Builds: manifest against shards, splits and folds, dropped records, safe repeatable writes."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal
import wfdb

from builder_fixtures import (
    examples_by_id, file_sha256, make_ptbxl_subset, quiet_build, read_examples, read_shard,
    shard_digests, shard_files, write_cinc_variant)
from tfrecords_builder import BuildError, build_dataset, get_reader
from tfrecords_builder.files import temporary_name
from tfrecords_builder.split import assign_splits

PROJECT_ROOT = Path(__file__).resolve().parents[1]
build_module = importlib.import_module("tfrecords_builder.build")
manifest_module = importlib.import_module("tfrecords_builder.manifest")
pool_module = importlib.import_module("tfrecords_builder.pool")
writer_module = importlib.import_module("tfrecords_builder.writer")


def mtimes(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def ptbxl_table(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "ptbxl" / "ptbxl_database.csv")


@pytest.fixture(scope="module")
def ptbxl_mixed(shared_data, ptbxl_table, tmp_path_factory) -> Path:
    """Real PTB-XL records: every patient with several records, plus the first 40 records."""
    counts = ptbxl_table["patient_id"].value_counts()
    repeated = ptbxl_table[ptbxl_table["patient_id"].isin(counts.index[counts > 1])]["ecg_id"]
    ids = sorted(set(repeated) | set(ptbxl_table["ecg_id"][:40]))
    return make_ptbxl_subset(shared_data / "ptbxl", tmp_path_factory.mktemp("mixed") / "ptbxl", ids)


@pytest.fixture(scope="module")
def ptbxl_default(ptbxl_mixed, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("default")
    quiet_build("ptbxl", ptbxl_mixed, out, shard_size=40)
    return out / "ptbxl"


@pytest.fixture(scope="module")
def ptbxl_random(ptbxl_mixed, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("random")
    quiet_build("ptbxl", ptbxl_mixed, out, split="random", seed=0)
    return out / "ptbxl"


@pytest.fixture(scope="module")
def georgia_out(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("georgia")
    quiet_build("georgia", shared_data / "georgia", out)
    return out / "georgia"


# ---------------------------------------------------------------- the manifest against the shards

@pytest.mark.parametrize("built", ["ptbxl_default", "ptbxl_random", "georgia_out"])
def test_manifest_counts_and_checksums_match_shards(built, request):
    out_dir = request.getfixturevalue(built)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    for split, entry in manifest["splits"].items():
        files = shard_files(out_dir, split)
        assert [shard["file"] for shard in entry["shards"]] == [path.name for path in files]
        examples = []
        for shard, path in zip(entry["shards"], files):
            assert shard["sha256"] == file_sha256(path)
            in_file = read_shard(path)
            assert shard["records"] == len(in_file)
            examples += in_file
        assert entry["records"] == len(examples)
        assert entry["patients"] == len({example["patient_id"] for example in examples})
        totals = np.sum([example["labels"] for example in examples], axis=0)
        assert entry["label_counts"] == dict(zip(manifest["labels"], totals.tolist()))
    assert not list(out_dir.glob(".*")), "temporary files left in a finished build"


@pytest.mark.parametrize("built", ["ptbxl_default", "georgia_out"])
def test_normalization_is_numpy_mean_and_std_over_train(built, request):
    out_dir = request.getfixturevalue(built)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    train = np.stack([example["signal"] for example in read_examples(out_dir)["train"]])
    train = train.astype(np.float64)
    normalization = manifest["normalization"]
    assert len(normalization["mean"]) == len(normalization["std"]) == 12
    np.testing.assert_allclose(normalization["mean"], train.mean(axis=(0, 1)), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(normalization["std"], train.std(axis=(0, 1)), rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- splits and folds

def test_ptbxl_default_split_is_strat_fold_10(ptbxl_default, ptbxl_table):
    strat_fold = dict(zip(ptbxl_table["ecg_id"].astype(str), ptbxl_table["strat_fold"]))
    examples = examples_by_id(ptbxl_default)
    assert {example["split"] for example in examples.values()} == {"train", "test"}
    for record_id, example in examples.items():
        assert example["fold"] == strat_fold[record_id] - 1
        assert example["split"] == ("test" if strat_fold[record_id] == 10 else "train")
    manifest = json.loads((ptbxl_default / "manifest.json").read_text())
    assert manifest["split_policy"]["policy"] == "strat_fold"


def assert_patient_wise(examples: dict[str, dict]) -> None:
    split_of, fold_of = {}, {}
    for example in examples.values():
        patient = example["patient_id"]
        split, fold = example["split"], example["fold"]
        assert split_of.setdefault(patient, split) == split, f"patient {patient} in both splits"
        assert fold_of.setdefault(patient, fold) == fold, f"patient {patient} in two folds"


def test_random_split_is_patient_disjoint_with_patient_folds(ptbxl_random):
    examples = examples_by_id(ptbxl_random)
    patients = [example["patient_id"] for example in examples.values()]
    assert len(set(patients)) < len(patients), "the fixture needs patients with several records"
    assert_patient_wise(examples)
    reads = read_examples(ptbxl_random)
    train_patients = {example["patient_id"] for example in reads["train"]}
    test_patients = {example["patient_id"] for example in reads["test"]}
    assert train_patients and test_patients and not train_patients & test_patients
    assert 0.2 < len(test_patients) / len(set(patients)) < 0.45
    assert {example["fold"] for example in examples.values()} == set(range(10))


def test_default_split_is_patient_wise_too(ptbxl_default):
    assert_patient_wise(examples_by_id(ptbxl_default))


def test_random_split_is_deterministic_per_seed_and_differs_across_seeds(shared_data):
    refs = get_reader("ptbxl")(shared_data / "ptbxl").records()
    first, again, other = (assign_splits(refs, "random", seed) for seed in (0, 0, 1))
    assert first == again
    test_of = {seed: {rid for rid, (split, _) in table.items() if split == "test"}
               for seed, table in ((0, first), (1, other))}
    assert test_of[0] != test_of[1]
    assert {fold for _, fold in first.values()} == set(range(10))
    assert [fold for _, fold in first.values()] != [fold for _, fold in other.values()]


def test_built_random_split_depends_on_seed(ptbxl_mixed, ptbxl_random, tmp_path):
    quiet_build("ptbxl", ptbxl_mixed, tmp_path, split="random", seed=1)
    seed1 = {e["record_id"] for e in read_examples(tmp_path / "ptbxl")["test"]}
    seed0 = {e["record_id"] for e in read_examples(ptbxl_random)["test"]}
    assert seed0 != seed1
    assert_patient_wise(examples_by_id(tmp_path / "ptbxl"))


# ---------------------------------------------------------------- dropped and repaired records

def test_records_shorter_than_10_s_are_dropped(shared_data, tmp_path):
    source = tmp_path / "georgia"
    write_cinc_variant(shared_data / "georgia", "E07500", source,
                       change=lambda val, leads: (val[:, :4000], leads))
    write_cinc_variant(shared_data / "georgia", "E07502", source)
    manifest = quiet_build("georgia", source, tmp_path / "out")
    assert [entry["record_id"] for entry in manifest["dropped"]] == ["E07500"]
    assert "short" in manifest["dropped"][0]["reason"] and "8" in manifest["dropped"][0]["reason"]
    assert set(examples_by_id(tmp_path / "out" / "georgia")) == {"E07502"}


NAN_AT = [(100, 0), (101, 0), (2500, 4), (4000, 11)]


@pytest.fixture()
def georgia_with_gaps(shared_data, tmp_path) -> Path:
    """E07500 with a few samples set to -32768, WFDB's "no sample" in format 16."""
    def punch(val, leads):
        for sample, lead in NAN_AT:
            val[lead, sample] = -32768
        return val, leads

    source = tmp_path / "gaps"
    write_cinc_variant(shared_data / "georgia", "E07500", source, change=punch)
    return source


def test_nan_records_are_dropped_by_default(georgia_with_gaps, shared_data, tmp_path):
    signal_with_gaps, _ = wfdb.rdsamp(str(georgia_with_gaps / "E07500"))
    assert np.isnan(signal_with_gaps).sum() == len(NAN_AT)
    # A build needs one record to write.
    write_cinc_variant(shared_data / "georgia", "E07502", georgia_with_gaps)
    manifest = quiet_build("georgia", georgia_with_gaps, tmp_path / "out")
    assert [entry["record_id"] for entry in manifest["dropped"]] == ["E07500"]
    assert str(len(NAN_AT)) in manifest["dropped"][0]["reason"]
    reason = manifest["dropped"][0]["reason"]
    assert "non-finite" in reason or "nan" in reason.lower()


def interpolated(values: np.ndarray) -> np.ndarray:
    """Each lead's NaNs replaced by linear interpolation between its finite neighbours."""
    repaired = values.copy()
    for lead in range(values.shape[1]):
        bad = np.isnan(values[:, lead])
        if bad.any():
            repaired[bad, lead] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad),
                                            values[~bad, lead])
    return repaired


@pytest.mark.parametrize("policy, repair", [("interpolate", interpolated),
                                            ("zero", lambda s: np.nan_to_num(s, nan=0.0))])
def test_nan_records_are_repaired_on_request(policy, repair, georgia_with_gaps, tmp_path):
    manifest = quiet_build("georgia", georgia_with_gaps, tmp_path / "out", nan_policy=policy)
    assert manifest["dropped"] == [] and manifest["nan_policy"] == policy
    (example,) = read_examples(tmp_path / "out" / "georgia")["train"]
    signal_with_gaps, _ = wfdb.rdsamp(str(georgia_with_gaps / "E07500"))
    expected = scipy.signal.resample_poly(repair(signal_with_gaps), 1, 5, axis=0)[:1000]
    assert np.isfinite(example["signal"]).all()
    np.testing.assert_allclose(example["signal"], expected, rtol=1e-6, atol=1e-6)


def test_unknown_nan_policy_is_refused(shared_data, tmp_path):
    with pytest.raises(ValueError, match="nan_policy"):
        quiet_build("georgia", shared_data / "georgia", tmp_path, nan_policy="mean")
    assert not (tmp_path / "georgia").exists()


def test_keep_unlabeled_writes_all_zero_labels(shared_data, tmp_path):
    manifest = quiet_build("georgia", shared_data / "georgia", tmp_path, keep_unlabeled=True)
    assert manifest["dropped"] == []
    examples = examples_by_id(tmp_path / "georgia")
    assert len(examples) == 10 and examples["E07505"]["labels"].sum() == 0
    assert all(example["labels"].sum() > 0
               for record_id, example in examples.items() if record_id != "E07505")


# ---------------------------------------------------------------- safe writes and idempotence

def test_rerun_on_finished_build_is_a_no_op(shared_data, tmp_path):
    first = quiet_build("georgia", shared_data / "georgia", tmp_path)
    before = mtimes(tmp_path / "georgia")
    messages = []
    time.sleep(0.01)
    again = build_dataset("georgia", shared_data / "georgia", tmp_path, workers=0, progress=False,
                          log=messages.append)
    assert again == first
    assert mtimes(tmp_path / "georgia") == before
    assert len(messages) == 1 and ("already built" in messages[0] or "nothing to do" in messages[0])


def test_cli_rerun_says_nothing_to_do(shared_data, tmp_path, capsys):
    from tfrecords_builder.cli import main

    args = ["georgia", "--source", str(shared_data / "georgia"), "--out", str(tmp_path),
            "--workers", "0", "--no-progress"]
    assert main(args) == 0
    before = mtimes(tmp_path / "georgia")
    capsys.readouterr()
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert mtimes(tmp_path / "georgia") == before


def test_overwrite_rebuilds(shared_data, tmp_path):
    quiet_build("georgia", shared_data / "georgia", tmp_path)
    digests = shard_digests(tmp_path / "georgia")
    before = mtimes(tmp_path / "georgia")
    time.sleep(0.01)
    quiet_build("georgia", shared_data / "georgia", tmp_path, overwrite=True)
    after = mtimes(tmp_path / "georgia")
    assert set(after) == set(before)
    assert all(after[name] > before[name] for name in before)
    assert shard_digests(tmp_path / "georgia") == digests


def test_other_options_on_an_existing_build_is_a_clear_error(shared_data, tmp_path):
    quiet_build("georgia", shared_data / "georgia", tmp_path)
    before = mtimes(tmp_path / "georgia")
    with pytest.raises(BuildError, match="overwrite"):
        quiet_build("georgia", shared_data / "georgia", tmp_path, seed=1)
    assert mtimes(tmp_path / "georgia") == before
    manifest = quiet_build("georgia", shared_data / "georgia", tmp_path, seed=1, overwrite=True)
    assert manifest["seed"] == 1


def test_workers_0_builds_in_process(shared_data, tmp_path, monkeypatch):
    def no_processes(*args, **kwargs):
        raise AssertionError("workers=0 started worker processes")

    monkeypatch.setattr(build_module, "MIN_RECORDS_FOR_WORKERS", 1)
    monkeypatch.setattr(pool_module.multiprocessing, "get_context", no_processes)
    manifest = quiet_build("georgia", shared_data / "georgia", tmp_path, workers=0)
    assert manifest["splits"]["train"]["records"] > 0


# ---------------------------------------------------------------- interrupted builds

@pytest.fixture(scope="module")
def ptbxl_80(shared_data, ptbxl_table, tmp_path_factory) -> Path:
    ids = ptbxl_table["ecg_id"][:80].tolist()
    return make_ptbxl_subset(shared_data / "ptbxl", tmp_path_factory.mktemp("p80") / "ptbxl", ids)


@pytest.fixture(scope="module")
def ptbxl_80_reference(ptbxl_80, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    manifest = quiet_build("ptbxl", ptbxl_80, out, shard_size=16)
    digests = shard_digests(out / "ptbxl")
    assert len(digests) >= 4
    return manifest, digests


def interrupt_after(count: int):
    """A wrapper factory that raises KeyboardInterrupt on the ``count``-th call."""
    calls = {"n": 0}

    def wrap(function):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == count:
                raise KeyboardInterrupt
            return function(*args, **kwargs)
        return wrapped
    return wrap


def write_tmp_then_interrupt(path, content):
    temporary_name(path).write_text(json.dumps(content)[:100])
    raise KeyboardInterrupt


def interrupt_on_call(owner, name: str, count: int):
    """A patch that makes ``owner.name`` raise KeyboardInterrupt on its ``count``-th call."""
    return lambda patch: patch.setattr(owner, name, interrupt_after(count)(getattr(owner, name)))


INTERRUPTIONS = {
    "first record": interrupt_on_call(writer_module.ShardedWriter, "write", 1),
    "after 37 records": interrupt_on_call(writer_module.ShardedWriter, "write", 38),
    "first finalize": interrupt_on_call(writer_module.ShardedWriter, "finalize", 1),
    "second finalize": interrupt_on_call(writer_module.ShardedWriter, "finalize", 2),
    # After the first shard was renamed to its final name:
    "mid finalize": interrupt_on_call(writer_module, "shard_name", 2),
    "before manifest": interrupt_on_call(build_module, "write_manifest", 1),
    "manifest tmp written": lambda patch: patch.setattr(manifest_module, "write_json_atomic",
                                                        write_tmp_then_interrupt),
}


#: Every interruption point on a fresh output, and two while overwriting a finished build.
INTERRUPTED_CASES = [(point, False) for point in INTERRUPTIONS] + [
    ("after 37 records", True), ("mid finalize", True)]


@pytest.mark.parametrize("point, overwrite", INTERRUPTED_CASES,
                         ids=[point + " over a build" * overwrite
                              for point, overwrite in INTERRUPTED_CASES])
def test_interrupted_build_reruns_to_identical_shards(point, overwrite, ptbxl_80,
                                                      ptbxl_80_reference, tmp_path, monkeypatch):
    reference_manifest, reference_digests = ptbxl_80_reference
    if overwrite:
        quiet_build("ptbxl", ptbxl_80, tmp_path, shard_size=16)
    with monkeypatch.context() as patch:
        INTERRUPTIONS[point](patch)
        with pytest.raises(KeyboardInterrupt):
            quiet_build("ptbxl", ptbxl_80, tmp_path, shard_size=16, overwrite=overwrite)
    out_dir = tmp_path / "ptbxl"
    assert not (out_dir / "manifest.json").exists(), "a manifest next to an unfinished build"
    manifest = quiet_build("ptbxl", ptbxl_80, tmp_path, shard_size=16)
    assert shard_digests(out_dir) == reference_digests
    assert manifest == reference_manifest
    names = sorted(path.name for path in out_dir.iterdir())
    assert names == sorted([*reference_digests, "manifest.json"])


@pytest.mark.parametrize("first", ["interrupted", "finished"])
def test_no_stale_shards_from_a_build_with_other_options(first, ptbxl_80, ptbxl_80_reference,
                                                         tmp_path, monkeypatch):
    """Shards of an earlier build with another shard size never survive into a new build."""
    _, reference_digests = ptbxl_80_reference
    if first == "interrupted":
        with monkeypatch.context() as patch:
            INTERRUPTIONS["mid finalize"](patch)
            with pytest.raises(KeyboardInterrupt):
                quiet_build("ptbxl", ptbxl_80, tmp_path, shard_size=7)
        # An interrupted build removes what it wrote (a killed one cannot: see the SIGKILL test).
        assert not list((tmp_path / "ptbxl").iterdir())
    else:
        quiet_build("ptbxl", ptbxl_80, tmp_path, shard_size=7)
        assert list((tmp_path / "ptbxl").glob("train-*-of-*.tfrecord"))
    quiet_build("ptbxl", ptbxl_80, tmp_path, shard_size=16, overwrite=first == "finished")
    names = sorted(path.name for path in (tmp_path / "ptbxl").iterdir())
    assert names == sorted([*reference_digests, "manifest.json"])
    assert shard_digests(tmp_path / "ptbxl") == reference_digests


def test_shard_bytes_do_not_depend_on_the_process(shared_data, tmp_path):
    """Builds in processes with different hash seeds write the same bytes (no map-order effects)."""
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        result = subprocess.run(
            [sys.executable, "-m", "tfrecords_builder", "georgia",
             "--source", str(shared_data / "georgia"), "--out", str(out), "--workers", "0",
             "--no-progress"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": hash_seed})
        assert result.returncode == 0, result.stderr
        digests.append(shard_digests(out / "georgia"))
    assert digests[0] and digests[0] == digests[1]


def test_sigkill_mid_build_then_rerun_gives_identical_shards(shared_data, tmp_path):
    source = shared_data / "ptbxl"
    reference = quiet_build("ptbxl", source, tmp_path / "reference", shard_size=50)
    reference_digests = shard_digests(tmp_path / "reference" / "ptbxl")
    command = [sys.executable, "-m", "tfrecords_builder", "ptbxl", "--source", str(source),
               "--out", str(tmp_path / "out"), "--shard-size", "50", "--workers", "2",
               "--no-progress"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out_dir = tmp_path / "out" / "ptbxl"
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out_dir.is_dir() and list(out_dir.glob(".*.tmp"))):
            assert process.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "no temporary shard appeared"
            time.sleep(0.02)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out_dir / "manifest.json").exists()
    assert list(out_dir.glob(".*.tmp"))
    rerun = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert shard_digests(out_dir) == reference_digests
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert {**manifest, "build_options": None} == {**reference, "build_options": None}


def test_rerun_over_a_changed_release_is_refused_until_overwrite(shared_data, ptbxl_table,
                                                                 tmp_path):
    source = make_ptbxl_subset(shared_data / "ptbxl", tmp_path / "release",
                               ptbxl_table["ecg_id"][:30].tolist())
    first = quiet_build("ptbxl", source, tmp_path / "out")
    table = source / "ptbxl_database.csv"
    rows = table.read_text().splitlines(keepends=True)
    table.write_text("".join(rows[:-5]))  # five records taken out of the release
    with pytest.raises(BuildError, match=r"ptbxl was built from .* changed.*--overwrite"):
        quiet_build("ptbxl", source, tmp_path / "out")
    again = quiet_build("ptbxl", source, tmp_path / "out", overwrite=True)
    assert again["source_fingerprint"] != first["source_fingerprint"]
    written = sum(split["records"] for split in again["splits"].values())
    assert written + len(again["dropped"]) == 25


def test_rerun_after_editing_a_label_table_outside_the_source_is_refused(sample_data, tmp_path):
    from folder_fixtures import make_folder_release

    release = make_folder_release(tmp_path / "mine", sample_data, ptbxl_count=12, fmt212_count=0,
                                  edf_count=0)
    options = dict(labels=str(release.labels), name="mine")
    quiet_build("folder", release.source, tmp_path / "out", **options)
    assert quiet_build("folder", release.source, tmp_path / "out", **options)  # unchanged: a no-op
    flipped = release.rows.assign(NORM=1 - release.rows["NORM"], ABN=1 - release.rows["ABN"])
    flipped.to_csv(release.labels, index=False)
    with pytest.raises(BuildError, match="--overwrite"):
        quiet_build("folder", release.source, tmp_path / "out", **options)
    rebuilt = quiet_build("folder", release.source, tmp_path / "out", overwrite=True, **options)
    counts = {label: sum(split["label_counts"][label] for split in rebuilt["splits"].values())
              for label in ("NORM", "ABN")}
    assert counts == {"NORM": int(flipped["NORM"].sum()), "ABN": int(flipped["ABN"].sum())}


def test_a_build_inside_its_own_source_is_reused(shared_data, ptbxl_table, tmp_path):
    """The output folder (and other datasets built beside it) are not inputs of the build."""
    source = make_ptbxl_subset(shared_data / "ptbxl", tmp_path / "raw" / "ptbxl",
                               ptbxl_table["ecg_id"][:20].tolist())
    first = quiet_build("ptbxl", source, source / "built")
    quiet_build("georgia", shared_data / "georgia", source / "built")
    assert quiet_build("ptbxl", source, source / "built") == first
    # OUT/ptbxl is the source folder itself: its shards and manifest sit beside the release.
    beside = quiet_build("ptbxl", source, source.parent)
    assert (source / "manifest.json").is_file()
    assert quiet_build("ptbxl", source, source.parent) == beside


def test_cli_rerun_of_an_api_build_with_the_same_options_is_a_no_op(ptbxl_80, tmp_path, capsys):
    from tfrecords_builder.cli import main

    quiet_build("ptbxl", ptbxl_80, tmp_path)
    before = mtimes(tmp_path / "ptbxl")
    capsys.readouterr()
    assert main(["ptbxl", "--source", str(ptbxl_80), "--out", str(tmp_path), "--no-progress"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert mtimes(tmp_path / "ptbxl") == before
