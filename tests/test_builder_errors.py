"""Bad input to ``python -m tfrecords_builder``: one clear line naming the file, exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from builder_fixtures import examples_by_id, make_code_release, make_ptbxl_subset, quiet_build
from tfrecords_builder import READERS, RELEASE_READERS, build_dataset
from tfrecords_builder.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """Exit code and stderr of the CLI (argparse exits are caught)."""
    capsys.readouterr()
    try:
        code = main([*map(str, args), "--workers", "0", "--no-progress"])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.err


def assert_one_line_error(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("python -m tfrecords_builder: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def ptbxl_16(shared_data, tmp_path_factory) -> Path:
    """The first 16 records of the real PTB-XL sample (all of them labelled)."""
    return make_ptbxl_subset(shared_data / "ptbxl", tmp_path_factory.mktemp("p16") / "ptbxl",
                             range(1, 17))


@pytest.fixture()
def ptbxl_copy(ptbxl_16, tmp_path) -> Path:
    return Path(shutil.copytree(ptbxl_16, tmp_path / "ptbxl"))


@pytest.fixture()
def georgia_copy(shared_data, tmp_path) -> Path:
    return Path(shutil.copytree(shared_data / "georgia", tmp_path / "georgia"))


# ---------------------------------------------------------------- wrong or incomplete sources

@pytest.mark.parametrize("missing", ["ptbxl_database.csv", "scp_statements.csv"])
def test_missing_ptbxl_table(missing, ptbxl_copy, tmp_path, capsys):
    (ptbxl_copy / missing).unlink()
    code, err = run_cli(capsys, "ptbxl", "--source", ptbxl_copy, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, str(ptbxl_copy / missing), "expected")
    assert not (tmp_path / "out" / "ptbxl" / "manifest.json").exists()


def test_ptbxl_table_that_is_not_csv(ptbxl_copy, tmp_path, capsys):
    (ptbxl_copy / "scp_statements.csv").write_bytes(b"\xff\xfe\x00 not a table")
    code, err = run_cli(capsys, "ptbxl", "--source", ptbxl_copy, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, str(ptbxl_copy / "scp_statements.csv"), "unreadable")


def test_ptbxl_record_without_patient_id_is_skipped_naming_the_field(ptbxl_copy, tmp_path, capsys):
    database = ptbxl_copy / "ptbxl_database.csv"
    table = pd.read_csv(database)
    table.loc[2, "patient_id"] = None
    table.to_csv(database, index=False)
    ecg_id = str(table.loc[2, "ecg_id"])
    manifest = quiet_build("ptbxl", ptbxl_copy, tmp_path / "out")
    reasons = {entry["record_id"]: entry["reason"] for entry in manifest["dropped"]}
    assert str(database) in reasons[ecg_id] and "patient_id" in reasons[ecg_id]
    assert ecg_id not in examples_by_id(tmp_path / "out" / "ptbxl")
    code, err = run_cli(capsys, "ptbxl", "--source", ptbxl_copy, "--out", tmp_path / "strict",
                        "--strict")
    assert code == 2
    assert_one_line_error(err, str(database), f"ecg_id {ecg_id}", "patient_id")


def test_georgia_folder_given_to_ptbxl(shared_data, tmp_path, capsys):
    code, err = run_cli(capsys, "ptbxl", "--source", shared_data / "georgia", "--out", tmp_path)
    assert code == 2
    assert_one_line_error(err, "ptbxl_database.csv", "expected")


@pytest.mark.parametrize("dataset", sorted(RELEASE_READERS))
def test_nonexistent_source_folder(dataset, tmp_path, capsys):
    code, err = run_cli(capsys, dataset, "--source", tmp_path / "nowhere",
                        "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, str(tmp_path / "nowhere"), "not found")


@pytest.mark.parametrize("dataset, sample", [("georgia", "ptbxl"), ("ptb", "georgia"),
                                             ("cpsc2018", "ptb"), ("ribeiro", "georgia")])
def test_folder_of_another_dataset(dataset, sample, shared_data, tmp_path, capsys):
    code, err = run_cli(capsys, dataset, "--source", shared_data / sample, "--out", tmp_path)
    assert code == 2, f"{dataset} built from the {sample} folder"
    line = assert_one_line_error(err)
    assert str(shared_data / sample) in line or str((shared_data / sample).resolve()) in line
    assert not (tmp_path / dataset / "manifest.json").exists()


@pytest.mark.parametrize("garbage", [b"this is not a WFDB header\n", b"",
                                     b"\x00\xff\x13garbage\x9a\n\x01"],
                         ids=["text", "empty", "binary"])
def test_unreadable_header_in_a_cinc_folder(garbage, georgia_copy, tmp_path, capsys):
    """An unreadable header is that record's problem: skipped with the file named, the rest built."""
    (georgia_copy / "E09999.hea").write_bytes(garbage)
    manifest = quiet_build("georgia", georgia_copy, tmp_path / "out")
    reasons = {entry["record_id"]: entry["reason"] for entry in manifest["dropped"]}
    assert str(georgia_copy / "E09999.hea") in reasons["E09999"]
    assert len(examples_by_id(tmp_path / "out" / "georgia")) == sum(
        s["records"] for s in manifest["splits"].values()) > 0
    code, err = run_cli(capsys, "georgia", "--source", georgia_copy, "--out", tmp_path / "strict",
                        "--strict")
    assert code == 2
    assert_one_line_error(err, "strict")


def test_missing_signal_file_skips_the_record_naming_it(georgia_copy, tmp_path):
    (georgia_copy / "E07502.mat").unlink()
    manifest = quiet_build("georgia", georgia_copy, tmp_path)
    reasons = {entry["record_id"]: entry["reason"] for entry in manifest["dropped"]}
    assert "E07502.mat" in reasons["E07502"]
    assert "E07502" not in examples_by_id(tmp_path / "georgia")


# ---------------------------------------------------------------- per-record problems, --strict

@pytest.fixture()
def ptbxl_truncated(ptbxl_copy) -> Path:
    """Record 9 cut to 500 whole frames, record 10 cut mid-frame."""
    for ecg_id, size in ((9, 500 * 24), (10, 700 * 24 + 6)):
        path = ptbxl_copy / f"records100/00000/{ecg_id:05d}_lr.dat"
        path.write_bytes(path.read_bytes()[:size])
    return ptbxl_copy


def test_truncated_signal_file_is_skipped_with_its_name(ptbxl_truncated, tmp_path):
    manifest = quiet_build("ptbxl", ptbxl_truncated, tmp_path)
    reasons = {entry["record_id"]: entry["reason"] for entry in manifest["dropped"]}
    assert set(reasons) == {"9", "10"}
    assert "00009_lr" in reasons["9"] and "1000" in reasons["9"] and "500" in reasons["9"]
    assert "00010_lr" in reasons["10"]
    assert set(examples_by_id(tmp_path / "ptbxl")) == {str(i) for i in range(1, 17)} - {"9", "10"}


def test_strict_turns_a_truncated_file_into_exit_2(ptbxl_truncated, tmp_path, capsys):
    code, err = run_cli(capsys, "ptbxl", "--source", ptbxl_truncated, "--out", tmp_path, "--strict")
    assert code == 2
    assert_one_line_error(err, "strict", "00009_lr")
    assert not (tmp_path / "ptbxl" / "manifest.json").exists()


def test_strict_with_an_unlabelled_record(shared_data, tmp_path, capsys):
    code, err = run_cli(capsys, "georgia", "--source", shared_data / "georgia", "--out", tmp_path,
                        "--strict")
    assert code == 2
    assert_one_line_error(err, "strict", "E07505")
    assert not (tmp_path / "georgia" / "manifest.json").exists()


# ---------------------------------------------------------------- bad arguments

def test_unknown_dataset_name(tmp_path, capsys):
    code, err = run_cli(capsys, "mitbih", "--source", tmp_path, "--out", tmp_path)
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "mitbih" in last and all(name in last for name in READERS)
    with pytest.raises(ValueError, match="mitbih.*ptbxl"):
        build_dataset("mitbih", tmp_path, tmp_path, progress=False, log=lambda _: None)


def test_other_options_on_a_finished_build(shared_data, tmp_path, capsys):
    quiet_build("georgia", shared_data / "georgia", tmp_path)
    code, err = run_cli(capsys, "georgia", "--source", shared_data / "georgia", "--out", tmp_path,
                        "--seed", "3")
    assert code == 2
    assert_one_line_error(err, str(tmp_path / "georgia"), "--overwrite")


def test_strat_fold_split_needs_a_release_with_folds(shared_data, tmp_path, capsys):
    code, err = run_cli(capsys, "georgia", "--source", shared_data / "georgia", "--out", tmp_path,
                        "--split", "strat_fold")
    assert code == 2
    assert_one_line_error(err, "strat_fold")


def test_shard_size_must_be_positive(shared_data, tmp_path, capsys):
    code, err = run_cli(capsys, "georgia", "--source", shared_data / "georgia", "--out", tmp_path,
                        "--shard-size", "0")
    assert code == 2
    assert_one_line_error(err, "shard")
    assert not (tmp_path / "georgia" / "manifest.json").exists()


def test_ptbxl_sampling_rate_without_its_folder(ptbxl_16, tmp_path, capsys):
    code, err = run_cli(capsys, "ptbxl", "--source", ptbxl_16, "--out", tmp_path,
                        "--sampling-rate", "500")
    assert code == 2
    assert_one_line_error(err, str(ptbxl_16 / "records500"), "expected")


@pytest.fixture(scope="module")
def code_release(shared_data, tmp_path_factory):
    release = make_code_release(tmp_path_factory.mktemp("code") / "code", shared_data / "ribeiro")
    return release["source"]


def test_code_without_tracings_file(code_release, tmp_path, capsys):
    source = Path(shutil.copytree(code_release, tmp_path / "code"))
    (source / "ecg_tracings.hdf5").unlink()
    code, err = run_cli(capsys, "ribeiro", "--source", source, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, str(source / "ecg_tracings.hdf5"), "expected")


def test_code_tracings_file_that_is_not_hdf5(code_release, tmp_path, capsys):
    source = Path(shutil.copytree(code_release, tmp_path / "code"))
    (source / "ecg_tracings.hdf5").write_bytes(b"not an HDF5 file" * 64)
    code, err = run_cli(capsys, "ribeiro", "--source", source, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, str(source / "ecg_tracings.hdf5"), "expected")


def test_code_rows_must_match_tracings(code_release, tmp_path, capsys):
    source = Path(shutil.copytree(code_release, tmp_path / "code"))
    gold = source / "annotations" / "gold_standard.csv"
    gold.write_text("".join(gold.read_text().splitlines(keepends=True)[:-1]))
    code, err = run_cli(capsys, "ribeiro", "--source", source, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, "gold_standard.csv", "ecg_tracings.hdf5")


def test_code_lead_order_must_name_12_leads(code_release, tmp_path, capsys):
    code, err = run_cli(capsys, "ribeiro", "--source", code_release, "--out", tmp_path,
                        "--lead-order", "DI,DII,DIII")
    assert code == 2
    assert_one_line_error(err, "lead")


# ---------------------------------------------------------------- the real command line

def test_command_line_error_is_one_line_without_traceback(shared_data, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tfrecords_builder", "ptbxl",
         "--source", str(shared_data / "georgia"), "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_line_error(result.stderr, str(shared_data / "georgia" / "ptbxl_database.csv"))
