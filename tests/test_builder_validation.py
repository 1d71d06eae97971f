"""Malformed inputs made from the real samples: each one a precise skip or a one-line error.

One section per class of bad input (header values, ``.mat`` contents, metadata tables,
layouts, suspicious signals, faults, ``predict``). A skipped record must be listed in the
manifest's ``dropped`` with a reason naming the file, the field and the value, and the
rest of the build must be intact.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from builder_fixtures import (
    StallingReader, examples_by_id, load_cinc, make_cinc_cpsc, make_code_release,
    make_ptbxl_subset, quiet_build, write_cinc_variant)
from tfrecords_builder import READERS, RELEASE_READERS, BuildError
from tfrecords_builder.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BAD, GOOD = "E07500", "E07502"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*map(str, args), "--workers", "0", "--no-progress"])
    return code, capsys.readouterr().err


def one_line_error(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def dropped_reasons(manifest: dict) -> dict[str, str]:
    return {entry["record_id"]: entry["reason"] for entry in manifest["dropped"]}


@pytest.fixture()
def georgia_pair(shared_data, tmp_path) -> Path:
    """A Georgia folder with two real records: BAD (to be broken) and GOOD."""
    source = tmp_path / "georgia"
    for record in (BAD, GOOD):
        write_cinc_variant(shared_data / "georgia", record, source)
    return source


@pytest.fixture(scope="module")
def georgia_reference(shared_data, tmp_path_factory) -> dict:
    """The examples of the untouched BAD and GOOD records."""
    source = tmp_path_factory.mktemp("ref") / "georgia"
    for record in (BAD, GOOD):
        write_cinc_variant(shared_data / "georgia", record, source)
    out = tmp_path_factory.mktemp("ref_out")
    quiet_build("georgia", source, out)
    return examples_by_id(out / "georgia")


def assert_skipped(source: Path, dataset: str, out: Path, record: str, *needles: str,
                   **options) -> dict:
    """Build; ``record`` is dropped with every needle in its reason; something else is written."""
    manifest = quiet_build(dataset, source, out, **options)
    reasons = dropped_reasons(manifest)
    assert record in reasons, f"{record} not dropped: {manifest['dropped']}"
    for needle in needles:
        assert needle in reasons[record], f"{needle!r} not in {reasons[record]!r}"
    written = examples_by_id(out / dataset)
    assert record not in written and written
    return manifest


def edit_header(header: Path, line: int, old: str | None, new: str) -> None:
    """Replace ``old`` by ``new`` in a header line (the whole line when ``old`` is None)."""
    lines = header.read_text().splitlines()
    assert old is None or old in lines[line], (old, lines[line])
    lines[line] = new if old is None else lines[line].replace(old, new, 1)
    header.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- header values

HEADER_CASES = {
    # name: (line, old, new, words of the reason)
    "fs 0": (0, " 500 ", " 0 ", ("sampling rate 0 Hz",)),
    "fs nan": (0, " 500 ", " nan ", ("sampling rate nan",)),
    "fs inf": (0, " 500 ", " inf ", ("sampling rate inf",)),
    "fs 1e-4": (0, " 500 ", " 1e-4 ", ("sampling rate 0.0001",)),
    "fs 1e9": (0, " 500 ", " 1e9 ", ("sampling rate 1e+09",)),
    "negative sample count": (0, " 5000", " -5000", ("sample count -5000",)),
    "no signals": (0, f"{BAD} 12 ", f"{BAD} 0 ", ("0 signals",)),
    "gain 0": (3, "1000.0(0)/mV", "0(0)/mV", ("signal 3 (III)", "gain 0")),
    "gain inf": (3, "1000.0(0)/mV", "inf(0)/mV", ("signal line 3", "gain 'inf(0)/mV'")),
    "gain missing": (1, None, f"{BAD}.mat 16x1+24", ("signal line 1", "no gain")),
    "baseline out of range": (2, "1000.0(0)/mV", "1000.0(70000)/mV", ("baseline 70000",)),
    "unknown unit": (5, "/mV", "/furlong", ("unit 'furlong'",)),
    "unknown format": (4, "16x1+24", "999x1+24", ("storage format 999",)),
    "duplicate lead": (8, " V2", " V1", ("lead V1 appears twice",)),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_header_value_out_of_bounds_skips_the_record(case, georgia_pair, tmp_path):
    line, old, new, words = HEADER_CASES[case]
    edit_header(georgia_pair / f"{BAD}.hea", line, old, new)
    needles = words if case == "duplicate lead" else (str(georgia_pair / f"{BAD}.hea"), *words)
    assert_skipped(georgia_pair, "georgia", tmp_path / "out", BAD, *needles)


def test_huge_sampling_rate_is_refused_before_reading(georgia_pair, tmp_path):
    """fs 1e9 would ask for 10 s = 1e10 samples: refused from the header, in well under a second."""
    from tfrecords_builder.wfdb_io import HeaderError, read_record

    edit_header(georgia_pair / f"{BAD}.hea", 0, " 500 ", " 1e9 ")
    started = time.perf_counter()
    with pytest.raises(HeaderError, match="sampling rate"):
        read_record(georgia_pair / f"{BAD}.hea", max_seconds=10.5)
    assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------------- .mat contents

def _save(path: Path, val: np.ndarray, fmt: str) -> None:
    path.unlink()
    scipy.io.savemat(path, {"val": val}, format=fmt)


MAT_VARIANTS = {
    "v5 int16": lambda path, val: _save(path, val, "5"),
    "v4 float64": lambda path, val: _save(path, val.astype(np.float64), "4"),
    "v5 float32": lambda path, val: _save(path, val.astype(np.float32), "5"),
    "v4 transposed": lambda path, val: _save(path, np.ascontiguousarray(val.T), "4"),
    "v5 int32 transposed": lambda path, val: _save(path, val.T.astype(np.int32), "5"),
}


@pytest.mark.parametrize("variant", sorted(MAT_VARIANTS))
def test_mat_in_another_matlab_format_reads_the_same_values(variant, georgia_pair,
                                                            georgia_reference, tmp_path):
    val, _, _ = load_cinc(georgia_pair, BAD)
    MAT_VARIANTS[variant](georgia_pair / f"{BAD}.mat", val)
    manifest = quiet_build("georgia", georgia_pair, tmp_path)
    assert manifest["dropped"] == []
    np.testing.assert_allclose(examples_by_id(tmp_path / "georgia")[BAD]["signal"],
                               georgia_reference[BAD]["signal"], atol=1e-6)


BROKEN_MATS = {
    "empty": (lambda size: b"", ("empty file (0 bytes)",)),
    "text of the right size": (lambda size: (b"0123456789 text\n" * size)[:size],
                               ("not a MATLAB file",)),
    "v7.3": (lambda size: b"MATLAB 7.3 MAT-file" + bytes(size), ("v7.3",)),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MATS))
def test_unusable_cinc_mat_is_skipped_with_the_reason(case, georgia_pair, tmp_path):
    mat = georgia_pair / f"{BAD}.mat"
    content, words = BROKEN_MATS[case]
    mat.write_bytes(content(mat.stat().st_size))
    assert_skipped(georgia_pair, "georgia", tmp_path / "out", BAD, str(mat), *words)


@pytest.fixture()
def cpsc_copy(shared_data, tmp_path) -> Path:
    return Path(shutil.copytree(shared_data / "cpsc2018", tmp_path / "cpsc"))


@pytest.mark.parametrize("case", sorted(BROKEN_MATS))
def test_unusable_original_cpsc_mat_is_skipped_with_the_reason(case, cpsc_copy, tmp_path):
    mat = cpsc_copy / "A1981.mat"
    content, words = BROKEN_MATS[case]
    mat.write_bytes(content(mat.stat().st_size))
    assert_skipped(cpsc_copy, "cpsc2018", tmp_path / "out", "A1981", str(mat), *words)


def test_original_cpsc_data_saved_transposed_reads_the_same(cpsc_copy, shared_data, tmp_path):
    reference = quiet_build("cpsc2018", shared_data / "cpsc2018", tmp_path / "ref")
    ecg = scipy.io.loadmat(cpsc_copy / "A1981.mat")["ECG"]
    ecg["data"][0, 0] = np.ascontiguousarray(ecg["data"][0, 0].T)
    scipy.io.savemat(cpsc_copy / "A1981.mat", {"ECG": ecg})
    manifest = quiet_build("cpsc2018", cpsc_copy, tmp_path / "out")
    assert manifest["dropped"] == reference["dropped"] == []
    np.testing.assert_allclose(examples_by_id(tmp_path / "out" / "cpsc2018")["A1981"]["signal"],
                               examples_by_id(tmp_path / "ref" / "cpsc2018")["A1981"]["signal"])


# ---------------------------------------------------------------- metadata tables

@pytest.fixture()
def ptbxl_copy(shared_data, tmp_path) -> Path:
    return make_ptbxl_subset(shared_data / "ptbxl", tmp_path / "ptbxl", range(1, 13))


def edit_database(source: Path, change) -> pd.DataFrame:
    path = source / "ptbxl_database.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table = change(table)
    table.to_csv(path, index=False)
    return table


PTBXL_ROW_CASES = {
    # name: (column, value, words of the reason)
    "fold 0": ("strat_fold", "0", ("strat_fold is 0", "1-10")),
    "fold 11": ("strat_fold", "11", ("strat_fold is 11",)),
    "fold 2.5": ("strat_fold", "2.5", ("strat_fold is 2.5",)),
    "scp_codes a list": ("scp_codes", "['NORM', 'MI']", ("scp_codes", "dict")),
    "scp_codes a number": ("scp_codes", "7", ("scp_codes is '7'",)),
    "scp_codes unparsable": ("scp_codes", "{'NORM': ", ("scp_codes",)),
    "no patient": ("patient_id", "", ("patient_id",)),
    "no filename": ("filename_lr", "", ("filename_lr",)),
}


@pytest.mark.parametrize("case", sorted(PTBXL_ROW_CASES))
def test_ptbxl_row_with_a_bad_field_is_skipped(case, ptbxl_copy, tmp_path):
    column, value, words = PTBXL_ROW_CASES[case]

    def change(table):
        table.loc[table["ecg_id"] == "5", column] = value
        return table

    edit_database(ptbxl_copy, change)
    assert_skipped(ptbxl_copy, "ptbxl", tmp_path / "out", "5",
                   str(ptbxl_copy / "ptbxl_database.csv"), "ecg_id 5", *words)


def test_ptbxl_empty_row_is_skipped_and_named_by_line(ptbxl_copy, tmp_path):
    database = ptbxl_copy / "ptbxl_database.csv"
    lines = database.read_text().splitlines()
    commas = "," * (lines[0].count(","))
    database.write_text("\n".join([*lines[:3], commas, *lines[3:]]) + "\n")
    manifest = quiet_build("ptbxl", ptbxl_copy, tmp_path)
    assert dropped_reasons(manifest)["row 4"].endswith("line 4: empty row")
    assert len(examples_by_id(tmp_path / "ptbxl")) == 12


def test_ptbxl_duplicated_ecg_id(ptbxl_copy, tmp_path):
    """The same row twice is one record; two different rows with one ecg_id are ambiguous."""
    edit_database(ptbxl_copy, lambda table: pd.concat([table, table[table["ecg_id"] == "3"]]))
    same = quiet_build("ptbxl", ptbxl_copy, tmp_path / "same")
    assert "3" in examples_by_id(tmp_path / "same" / "ptbxl")  # and written once (checked there)
    assert "3" not in dropped_reasons(same)

    def differing(table):
        extra = table[table["ecg_id"] == "3"].copy()
        extra["scp_codes"] = "{'IMI': 100.0}"
        return pd.concat([table, extra])

    edit_database(ptbxl_copy, lambda table: differing(table[table.index != table.index[-1]]))
    assert_skipped(ptbxl_copy, "ptbxl", tmp_path / "diff", "3", "found 2 times", "ambiguous")


def test_unknown_codes_are_listed_with_counts(ptbxl_copy, tmp_path):
    def change(table):
        table.loc[table["ecg_id"].isin(["1", "2"]), "scp_codes"] = "{'NORM': 100.0, 'XYZ_': 0.0}"
        return table

    edit_database(ptbxl_copy, change)
    manifest = quiet_build("ptbxl", ptbxl_copy, tmp_path)
    assert manifest["unknown_codes"]["XYZ_"] == 2
    assert "NORM" not in manifest["unknown_codes"]


REFERENCE_CASES = {
    "2.7": ("A1982,2.7,,", "First_label is '2.7'"),
    "class 10": ("A1982,10,,", "First_label is '10'"),
    "class 0 second": ("A1982,1,0,", "Second_label is '0'"),
    "text": ("A1982,AF,,", "First_label is 'AF'"),
    "listed twice, other labels": ("A1982,1,,\nA1982,2,,", "listed twice with different labels"),
}


def rewrite_reference(source: Path, record: str, rows: str) -> None:
    path = source / "REFERENCE.csv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(record + ",")]
    path.write_text("\n".join([*lines, rows]) + "\n")


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_cpsc_reference_row_that_cannot_be_trusted_is_skipped(case, cpsc_copy, tmp_path):
    rows, words = REFERENCE_CASES[case]
    rewrite_reference(cpsc_copy, "A1982", rows)
    assert_skipped(cpsc_copy, "cpsc2018", tmp_path / "out", "A1982",
                   str(cpsc_copy / "REFERENCE.csv"), words)


def test_cpsc_reference_row_repeated_identically_is_one_record(cpsc_copy, shared_data, tmp_path):
    line = next(line for line in (cpsc_copy / "REFERENCE.csv").read_text().splitlines()
                if line.startswith("A1982,"))
    rewrite_reference(cpsc_copy, "A1982", f"{line}\n{line}")
    reference = quiet_build("cpsc2018", shared_data / "cpsc2018", tmp_path / "ref")
    manifest = quiet_build("cpsc2018", cpsc_copy, tmp_path / "out")
    assert manifest["splits"] == reference["splits"] and manifest["dropped"] == []


def test_cpsc_reference_row_without_recording_is_listed(cpsc_copy, tmp_path):
    rewrite_reference(cpsc_copy, "none", ",3,,")
    manifest = quiet_build("cpsc2018", cpsc_copy, tmp_path)
    (key,) = [key for key in dropped_reasons(manifest) if key.startswith("row ")]
    assert "no recording name" in dropped_reasons(manifest)[key]
    assert len(examples_by_id(tmp_path / "cpsc2018")) == 10


@pytest.fixture(scope="module")
def code_release(shared_data, tmp_path_factory) -> dict:
    return make_code_release(tmp_path_factory.mktemp("code") / "code", shared_data / "ribeiro")


@pytest.mark.parametrize("value", ["", "2", "yes", "0.5"])
def test_gold_standard_cell_outside_0_1_skips_that_row_only(value, code_release, tmp_path):
    source = Path(shutil.copytree(code_release["source"], tmp_path / "code"))
    gold_path = source / "annotations" / "gold_standard.csv"
    gold = pd.read_csv(gold_path, dtype=str, keep_default_na=False)
    af_rows = gold.index[gold["AF"] == "1"].tolist()
    target = next(i for i in range(len(gold)) if i not in af_rows and i % 4 != 3)  # a 10 s exam
    gold.loc[target, "AF"] = value
    gold.to_csv(gold_path, index=False)
    width = len(str(len(gold)))
    record = f"{target:0{width}d}"
    reference = quiet_build("ribeiro", code_release["source"], tmp_path / "ref")
    manifest = assert_skipped(source, "ribeiro", tmp_path / "out", record, str(gold_path),
                              f"AF is {value!r}", "expected 0 or 1")
    # Other rows keep their labels: the AF column was not reinterpreted.
    assert manifest["splits"]["train"]["label_counts"]["AF"] + \
        manifest["splits"]["test"]["label_counts"]["AF"] == \
        reference["splits"]["train"]["label_counts"]["AF"] + \
        reference["splits"]["test"]["label_counts"]["AF"]


def test_record_name_in_two_folders_is_ambiguous(shared_data, tmp_path):
    source = tmp_path / "georgia"
    write_cinc_variant(shared_data / "georgia", BAD, source / "g1")
    write_cinc_variant(shared_data / "georgia", BAD, source / "g2",
                       change=lambda val, leads: (val // 2, leads))
    write_cinc_variant(shared_data / "georgia", GOOD, source / "g1")
    assert_skipped(source, "georgia", tmp_path / "out", BAD, "g1/E07500.hea", "g2/E07500.hea",
                   "ambiguous")


# ---------------------------------------------------------------- layouts

def test_cinc_header_in_original_cpsc_folder_loses_no_recording(cpsc_copy, shared_data, tmp_path):
    make_cinc_cpsc(shared_data / "cpsc2018", cpsc_copy, lambda record: "164889003",
                   records=("A1985",))
    manifest = quiet_build("cpsc2018", cpsc_copy, tmp_path)
    assert manifest["release_format"] == "mixed: cinc-wfdb + cpsc2018-original"
    written = examples_by_id(tmp_path / "cpsc2018")
    assert manifest["dropped"] == [] and len(written) == 10
    af = manifest["labels"].index("AF")
    assert written["A1985"]["labels"][af] == 1  # labels from its CinC header


def test_tracings_that_is_an_hdf5_group(code_release, tmp_path, capsys):
    source = Path(shutil.copytree(code_release["source"], tmp_path / "code"))
    with h5py.File(source / "ecg_tracings.hdf5", "w") as handle:
        handle.create_group("tracings").create_dataset("x", data=np.zeros(3))
    code, err = run_cli(capsys, "ribeiro", "--source", source, "--out", tmp_path / "out")
    assert code == 2
    one_line_error(err, str(source / "ecg_tracings.hdf5"), "'tracings' is a Group")


@pytest.mark.parametrize("dataset", sorted(RELEASE_READERS))
def test_symlink_loop_as_source(dataset, tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    code, err = run_cli(capsys, dataset, "--source", tmp_path / "a", "--out", tmp_path / "out")
    assert code == 2
    one_line_error(err, str(tmp_path / "a"))


def test_build_where_every_record_is_dropped_fails(shared_data, tmp_path, capsys):
    source = tmp_path / "georgia"
    write_cinc_variant(shared_data / "georgia", BAD, source,
                       change=lambda val, leads: (val[:, :900], leads))
    code, err = run_cli(capsys, "georgia", "--source", source, "--out", tmp_path / "out")
    assert code == 2
    one_line_error(err, "every record was dropped", "too short")
    assert not list((tmp_path / "out" / "georgia").iterdir())


# ---------------------------------------------------------------- suspicious signals

def _flat_v3(val, leads):
    val[8] = 0
    return val, leads


def _v2_copies_v1(val, leads):
    val[7] = val[6]
    return val, leads


SIGNAL_CASES = {
    "flat lead": ({"change": _flat_v3}, "flat_lead", "V3"),
    "identical leads": ({"change": _v2_copies_v1}, "identical_leads", "V1=V2"),
    "amplitude": ({"gain": 10.0}, "amplitude", "mV"),
}


@pytest.mark.parametrize("case", sorted(SIGNAL_CASES))
def test_suspicious_signal_is_flagged_and_dropped_on_request(case, shared_data, tmp_path):
    options, check, value = SIGNAL_CASES[case]
    source = tmp_path / "georgia"
    write_cinc_variant(shared_data / "georgia", BAD, source, **options)
    write_cinc_variant(shared_data / "georgia", GOOD, source)
    manifest = quiet_build("georgia", source, tmp_path / "kept")
    assert [(flag["record_id"], flag["check"]) for flag in manifest["flags"]] == [(BAD, check)]
    assert value in manifest["flags"][0]["value"]
    assert BAD in examples_by_id(tmp_path / "kept" / "georgia")
    dropped = assert_skipped(source, "georgia", tmp_path / "dropped", BAD, "flagged", check,
                             drop_flagged=True)
    assert dropped["flags"] == manifest["flags"]


def test_all_zero_signal_is_dropped_by_every_reader(shared_data, cpsc_copy, ptbxl_copy, tmp_path):
    source = tmp_path / "georgia"
    write_cinc_variant(shared_data / "georgia", BAD, source,
                       change=lambda val, leads: (val * 0, leads))
    write_cinc_variant(shared_data / "georgia", GOOD, source)
    assert_skipped(source, "georgia", tmp_path / "g", BAD, "all zeros")

    ecg = scipy.io.loadmat(cpsc_copy / "A1981.mat")["ECG"]
    ecg["data"][0, 0] = np.zeros_like(ecg["data"][0, 0])
    scipy.io.savemat(cpsc_copy / "A1981.mat", {"ECG": ecg})
    assert_skipped(cpsc_copy, "cpsc2018", tmp_path / "c", "A1981", "all zeros")

    dat = ptbxl_copy / "records100" / "00000" / "00004_lr.dat"
    dat.write_bytes(bytes(dat.stat().st_size))
    assert_skipped(ptbxl_copy, "ptbxl", tmp_path / "p", "4", "00004_lr", "all zeros")


def test_real_samples_raise_no_flags(shared_data, tmp_path):
    for dataset in ("cpsc2018", "georgia", "ptb"):
        assert quiet_build(dataset, shared_data / dataset, tmp_path)["flags"] == []


# ---------------------------------------------------------------- faults

def test_killed_worker_ends_the_build_naming_its_record(shared_data, tmp_path, monkeypatch):
    """SIGKILL one worker (as the out-of-memory killer would): a clear error, quickly, no output."""
    import tfrecords_builder.build as build_module
    from tfrecords_builder import build_dataset

    monkeypatch.setitem(READERS, "stalling", StallingReader)
    monkeypatch.setattr(build_module, "MIN_RECORDS_FOR_WORKERS", 1)
    marker = tmp_path / "worker.pid"

    def kill_when_stalled():
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        os.kill(int(marker.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_when_stalled, daemon=True)
    killer.start()
    started = time.monotonic()
    with pytest.raises(BuildError) as error:
        build_dataset("stalling", shared_data / "georgia", tmp_path / "out", workers=2,
                      progress=False, log=lambda _: None, marker=str(marker), stall="E07503")
    elapsed = time.monotonic() - started
    killer.join()
    message = str(error.value)
    assert "killed by signal 9" in message and "E07503" in message and "\n" not in message
    assert elapsed < 60, f"the build took {elapsed:.0f} s to notice the dead worker"
    assert not list((tmp_path / "out" / "stalling").iterdir())


def test_ctrl_c_ends_a_build_with_one_line_and_nothing_written(shared_data, tmp_path,
                                                                   as_in_a_terminal):
    """SIGINT to the whole process group, as a terminal sends it, while workers are converting."""
    out_dir = tmp_path / "out" / "ptbxl"
    process = subprocess.Popen(
        [sys.executable, "-m", "tfrecords_builder", "ptbxl", "--source", str(shared_data / "ptbxl"),
         "--out", str(tmp_path / "out"), "--workers", "2", "--shard-size", "50", "--no-progress"],
        cwd=PROJECT_ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, **as_in_a_terminal)
    try:
        deadline = time.monotonic() + 120
        while not (out_dir.is_dir() and list(out_dir.glob(".*.tmp"))):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "no temporary shard appeared"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130
    one_line_error(err, "interrupted", "nothing written")
    assert not list(out_dir.iterdir())


# ---------------------------------------------------------------- predict reads as the builder

@pytest.mark.parametrize("case", ["fs inf", "empty mat", "text mat"])
def test_predict_gives_the_builders_reason_for_a_bad_record(case, georgia_pair, tmp_path, capsys):
    """The bad record's row gives the builder's reason; the good one is predicted; exit 1."""
    import csv

    import keras

    from ecg_tl_keras import cli

    header = georgia_pair / f"{BAD}.hea"
    if case == "fs inf":
        edit_header(header, 0, " 500 ", " inf ")
        words = (str(header), "sampling rate inf")
    else:
        mat = georgia_pair / f"{BAD}.mat"
        mat.write_bytes(b"" if case == "empty mat" else b"text " * 100)
        words = (str(mat), "empty file" if case == "empty mat" else "not a MATLAB file")
    checkpoint = tmp_path / "tiny.keras"
    keras.Sequential([keras.Input((1000, 12)), keras.layers.GlobalAveragePooling1D(),
                      keras.layers.Dense(1, activation="sigmoid")]).save(checkpoint)
    good = georgia_pair / f"{GOOD}.hea"
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(checkpoint), str(header), str(good)]) == 1
    table = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    rows = {row["record"]: row for row in csv.DictReader(table)}
    assert rows[str(good)]["status"] == "ok" and rows[str(header)]["status"] == "failed"
    assert all(word in rows[str(header)]["reason"] for word in words), rows[str(header)]
