"""``python -m tfrecords_builder folder``: your own WFDB/EDF records with a labels.csv."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.signal import resample_poly

from builder_fixtures import examples_by_id, quiet_build
from folder_fixtures import make_folder_release, write_edf
from test_builder_errors import assert_one_line_error, run_cli

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def release(tmp_path_factory, sample_data):
    return make_folder_release(tmp_path_factory.mktemp("folder"), sample_data)


@pytest.fixture(scope="module")
def built(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    manifest = quiet_build("folder", release.source, out, labels=release.labels, name="mine")
    return out / "mine", manifest


def expected_signal(original, leads=LEADS) -> np.ndarray:
    """The example an independent computation gives: wfdb.rdsamp, leads by name, resample_poly."""
    import wfdb

    signal, fields = wfdb.rdsamp(str(original))
    names = [name.lower() for name in fields["sig_name"]]
    signal = signal[:, [names.index(lead.lower()) for lead in leads]]
    if fields["fs"] != 100:
        signal = resample_poly(signal, 100, int(fields["fs"]), axis=0)
    return signal[:1000]


def test_every_format_is_read_and_matches_wfdb(release, built):
    out_dir, manifest = built
    examples = examples_by_id(out_dir)
    assert set(examples) == set(release.rows["record"]), manifest["dropped"]
    formats = {kind for _, kind in release.origin.values()}
    assert formats == {"wfdb-16", "wfdb-212", "cinc-mat", "edf"}
    # format 212 at 200 units/mV and 16-bit EDF quantize the signal: tolerances are a few steps
    tolerance = {"wfdb-16": 1e-5, "cinc-mat": 1e-5, "wfdb-212": 0.006, "edf": 0.003}
    for record, (original, kind) in release.origin.items():
        difference = np.abs(examples[record]["signal"] - expected_signal(original)).max()
        assert difference <= tolerance[kind], (record, kind, difference)


def test_manifest_ids_and_labels_come_from_the_table(release, built):
    out_dir, manifest = built
    assert manifest["dataset"] == "mine"
    assert manifest["labels"] == ["NORM", "ABN"]
    assert manifest["leads"] == list(LEADS)
    assert manifest["split_policy"]["policy"] == "random"
    on_disk = json.loads((out_dir / "manifest.json").read_text())
    assert on_disk == manifest
    examples = examples_by_id(out_dir)
    for row in release.rows.itertuples():
        example = examples[row.record]
        assert example["patient_id"] == row.patient
        assert example["labels"].tolist() == [row.NORM, row.ABN]
    counts = manifest["splits"]["train"]["label_counts"]
    train = [e for e in examples.values() if e["split"] == "train"]
    assert counts == {"NORM": sum(int(e["labels"][0]) for e in train),
                      "ABN": sum(int(e["labels"][1]) for e in train)}


def test_labels_column_of_names_lead_subset_and_user_split(release, tmp_path):
    rows = release.rows.copy()
    rows["labels"] = [";".join(name for name in ("NORM", "ABN") if getattr(row, name))
                      for row in rows.itertuples()]
    patients = sorted(set(rows["patient"]))
    rows["split"] = ["test" if patients.index(p) % 4 == 0 else "train" for p in rows["patient"]]
    rows = rows.drop(columns=["NORM", "ABN"])
    labels = tmp_path / "names.csv"
    rows.to_csv(labels, index=False)
    manifest = quiet_build("folder", release.source, tmp_path, labels=labels, name="sub",
                           leads="ii, I,v1")
    assert manifest["leads"] == ["II", "I", "V1"]
    assert manifest["labels"] == ["ABN", "NORM"]
    assert manifest["split_policy"]["policy"] == "given"
    import tensorflow as tf

    from ecg_tl_keras import datasets

    for split in ("train", "test"):
        index = datasets.load_index(tmp_path / "sub", split)
        wanted = set(rows.loc[rows["split"] == split, "record"])
        assert set(index["record_id"]) == wanted
    signals = {}
    for raw in tf.data.TFRecordDataset(datasets.shard_paths(tmp_path / "sub", "train")):
        example = tf.train.Example.FromString(raw.numpy()).features.feature
        record = example["record_id"].bytes_list.value[0].decode()
        values = np.frombuffer(example["signal"].bytes_list.value[0], dtype="<f4")
        signals[record] = values.reshape(1000, 3)
    record = next(r for r in signals if r.startswith("georgia/"))
    original = release.origin[record][0]
    assert np.abs(signals[record] - expected_signal(original, ("II", "I", "V1"))).max() < 1e-5


def test_test_size_and_seed_give_a_patient_wise_split(release, tmp_path):
    manifest = quiet_build("folder", release.source, tmp_path, labels=release.labels, name="half",
                           test_size=0.5, seed=3)
    assert manifest["split_policy"]["test_size"] == 0.5
    examples = examples_by_id(tmp_path / "half")
    split_of = {}
    for example in examples.values():
        assert split_of.setdefault(example["patient_id"], example["split"]) == example["split"]
    patients_in_test = sum(split == "test" for split in split_of.values())
    assert abs(patients_in_test / len(split_of) - 0.5) < 0.1


def test_short_slow_and_non_finite_records_are_dropped_with_a_reason(release, tmp_path):
    import wfdb

    source = tmp_path / "records"
    source.mkdir()
    original = release.origin["georgia/E07500"][0]
    signal, fields = wfdb.rdsamp(str(original))
    write_edf(source / "short.edf", signal[:2500], 500, fields["sig_name"])
    write_edf(source / "slow.edf", signal[::10], 50, fields["sig_name"])
    gappy = signal.copy()
    gappy[100:110, 3] = np.nan
    wfdb.wrsamp("gappy", fs=500, units=fields["units"], sig_name=fields["sig_name"], p_signal=gappy,
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(source))
    write_edf(source / "fine.edf", signal, 500, fields["sig_name"])
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"record": ["short", "slow", "gappy", "fine"], "AF": [1, 0, 1, 0]}).to_csv(
        labels, index=False)
    manifest = quiet_build("folder", source, tmp_path / "a", labels=labels, name="x")
    reasons = {entry["record_id"]: entry["reason"] for entry in manifest["dropped"]}
    assert set(reasons) == {"short", "slow", "gappy"}
    assert "too short" in reasons["short"] and "5.00 s" in reasons["short"]
    assert "50 Hz" in reasons["slow"]
    assert "non-finite" in reasons["gappy"]
    manifest = quiet_build("folder", source, tmp_path / "b", labels=labels, name="x",
                           nan_policy="interpolate")
    assert "gappy" not in {entry["record_id"] for entry in manifest["dropped"]}


def test_a_label_without_a_positive_in_train_is_warned(release, tmp_path):
    rows = release.rows.copy()
    rows["RARE"] = 0
    rows["split"] = "train"
    rows.loc[0, "split"] = "test"
    rows.loc[0, "RARE"] = 1
    patient = rows.loc[0, "patient"]
    rows.loc[rows["patient"] == patient, "split"] = "test"
    labels = tmp_path / "labels.csv"
    rows.to_csv(labels, index=False)
    lines = []
    from tfrecords_builder import build_dataset

    build_dataset("folder", release.source, tmp_path, labels=labels, name="rare", workers=0,
                  progress=False, log=lines.append)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1 and "RARE" in warnings[0] and "train" in warnings[0]


def _table(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize("table, needles", [
    ("record,AF\nptbxl/00001_lr,1\nptbxl/nope,0\n", ["line 3", "ptbxl/nope", "not found"]),
    ("record,AF\nptbxl/00001_lr,yes\n", ["line 2", "AF", "'yes'", "0 or 1"]),
    ("record,AF\nptbxl/00001_lr,1\nptbxl/00002_lr,0\nptbxl/00001_lr,0\n",
     ["line 4", "ptbxl/00001_lr", "line 2"]),
    ("record,patient,split,AF\nptbxl/00001_lr,p1,train,1\nptbxl/00002_lr,p1,test,0\n",
     ["line 3", "patient 'p1'", "test", "train"]),
    ("record,AF,split\nptbxl/00001_lr,1,val\n", ["line 2", "'val'", "train or test"]),
    ("name,AF\nptbxl/00001_lr,1\n", ["'record' column"]),
    ("record,patient\nptbxl/00001_lr,p1\n", ["no labels"]),
    ("record,labels,AF\nptbxl/00001_lr,AF,1\n", ["AF", "not both"]),
    ("record,AF\n../outside,1\n", ["line 2", "under the source folder"]),
    ("record,AF\nptbxl/00001_lr\n", ["line 2", "AF", "''", "0 or 1"]),
], ids=["missing-record", "not-binary", "duplicate", "patient-in-both", "bad-split",
        "no-record-column", "no-labels", "both-label-forms", "outside-source", "short-row"])
def test_bad_labels_table_is_one_line_naming_file_and_line(table, needles, release, tmp_path,
                                                           capsys):
    labels = _table(tmp_path, table)
    code, err = run_cli(capsys, "folder", "--source", release.source, "--labels", labels,
                        "--name", "bad", "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, str(labels), *needles)
    assert not (tmp_path / "out" / "bad" / "manifest.json").exists()


@pytest.mark.parametrize("option, value, needle", [
    ("--leads", "I,II,X9", "X9"), ("--leads", "I,DI", "twice"), ("--test-size", "1.5", "1.5"),
    ("--name", "../up", "folder name")])
def test_bad_options_are_one_line(option, value, needle, release, tmp_path, capsys):
    code, err = run_cli(capsys, "folder", "--source", release.source, "--labels", release.labels,
                        "--name", "ok", "--out", tmp_path, option, value)
    assert code == 2
    assert_one_line_error(err, needle)


def test_command_line_build_then_rerun_is_a_no_op(release, tmp_path, capsys):
    args = ["folder", "--source", release.source, "--labels", release.labels, "--name", "cli",
            "--out", tmp_path]
    code, _ = run_cli(capsys, *args)
    assert code == 0
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert manifest["build_options"]["reader_options"]["labels"] == str(release.labels.resolve())
    written = (tmp_path / "cli" / "manifest.json").stat().st_mtime_ns
    code, _ = run_cli(capsys, *args)
    assert code == 0
    assert (tmp_path / "cli" / "manifest.json").stat().st_mtime_ns == written


def test_folder_reader_passes_the_reader_contract_harness(release):
    from ecg_tl_keras.testing import check_reader
    from tfrecords_builder.readers.folder import FolderReader

    result = check_reader(FolderReader(release.source, labels=release.labels, name="mine"))
    assert result["read"] == len(release.rows) and not result["rejected"]


def test_a_spreadsheet_export_with_byte_order_mark_and_spaces_is_read(release, tmp_path):
    labels = tmp_path / "excel.csv"
    labels.write_bytes("\ufeffrecord, AF\r\nptbxl/00001_lr, 1\r\nptbxl/00002_lr, 0\r\n"
                       .encode("utf-8"))
    manifest = quiet_build("folder", release.source, tmp_path, labels=labels, name="excel")
    assert manifest["labels"] == ["AF"]
    assert manifest["splits"]["train"]["records"] + manifest["splits"]["test"]["records"] == 2
