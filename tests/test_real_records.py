"""Records people actually have: monitoring layouts, headers without a sample count,
multi-segment records, EDF, units, lead maps, case-differing data files, reasons as found.

Every record is written here with wfdb from the real Georgia samples; every reference is
wfdb's own read plus ``resample_poly`` (see ``real_record_fixtures``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from builder_fixtures import examples_by_id, quiet_build
from real_record_fixtures import (
    drop_sample_count, long_real_leads, real_leads, reference, write_edf_copy,
    write_edf_with_slow_channel, write_monitoring_record, write_two_segments)
from test_builder_errors import assert_one_line_error, run_cli
from tfrecords_builder import BuildError, read_any_record
from tfrecords_builder.errors import HeaderError, RecordRejected
from tfrecords_builder.leads import parse_lead_map, standard_lead_subset
from tfrecords_builder.reading import read_signal_file
from tfrecords_builder.units import unit_scale

GEORGIA = ("E07501", "E07502", "E07503", "E07504", "E07505", "E07506")
#: float32 storage of a mV signal: a few ulps.
CLOSE = dict(rtol=0, atol=1e-5)


def monitoring_folder(root, sample_data, records=GEORGIA, **options):
    """One monitoring record (MLII, V, ABP) per Georgia record, plus a labels.csv with a
    split column (two records in test)."""
    rows = []
    for position, record in enumerate(records):
        write_monitoring_record(root / "records", record, real_leads(sample_data, record),
                                **options)
        rows.append({"record": record, "patient": f"p{record}", "labels": "AF" if position % 2
                     else "", "split": "test" if position < 2 else "train"})
    labels = root / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return root / "records", labels


# ---------------------------------------------------------------- read what is asked for

def test_ecg_beside_blood_pressure_builds_lead_ii_equal_to_wfdb(sample_data, tmp_path):
    source, labels = monitoring_folder(tmp_path, sample_data, ecg_names=("II", "V"))
    manifest = quiet_build("folder", source, tmp_path / "out", labels=labels, name="icu",
                           leads="II")
    assert manifest["dropped"] == []
    examples = examples_by_id(tmp_path / "out" / "icu")
    for record in GEORGIA:
        expected = reference(source / f"{record}.hea", "II")
        np.testing.assert_allclose(examples[record]["signal"][:, 0], expected, **CLOSE)
    assert manifest["ignored_channels"] == [
        {"name": "ABP", "unit": "mmHg", "count": len(GEORGIA)},
        {"name": "V", "unit": "mV", "count": len(GEORGIA)}]
    on_disk = json.loads((tmp_path / "out" / "icu" / "manifest.json").read_text())
    assert on_disk["ignored_channels"] == manifest["ignored_channels"]


@pytest.mark.parametrize("fmt, abp_fmt", [("16", "212"), ("212", "16")])
def test_unrequested_channel_problems_never_drop_a_record(fmt, abp_fmt, sample_data, tmp_path):
    """ABP in a data file of its own that is missing, with an unusable gain: lead II reads
    (on the fast path and through wfdb)."""
    header = write_monitoring_record(tmp_path, "r", real_leads(sample_data), ("II", "V"),
                                     fmt=fmt, abp_fmt=abp_fmt)
    lines = header.read_text().splitlines()
    abp_file = lines[3].split()[0]
    assert abp_file != lines[1].split()[0]
    (tmp_path / abp_file).unlink()
    lines[3] = lines[3].replace("10.0(0)/mmHg", "0(0)/mmHg")
    assert "0(0)/mmHg" in lines[3] and "10.0" not in lines[3]
    header.write_text("\n".join(lines) + "\n")
    signal = read_any_record(header, leads=("II",))
    np.testing.assert_allclose(signal[:, 0], reference_after(header, "II"), **CLOSE)
    with pytest.raises(HeaderError, match="ABP"):
        read_any_record(header, leads=("II", "V5"), lead_map={"ABP": "V5"})


def reference_after(header, channel):
    """The reference of a record whose other channels were broken: wfdb reads that channel."""
    import wfdb
    from scipy.signal import resample_poly

    record = wfdb.rdrecord(str(header.with_suffix("")), channel_names=[channel])
    return resample_poly(record.p_signal[:, 0], 100, int(record.fs))[:1000]


def test_a_record_beside_abp_is_dropped_for_its_own_reason(sample_data, tmp_path):
    """NaN in lead II, or lead V5 missing, is the reason given; never ABP's unit."""
    ecg = real_leads(sample_data)
    ecg[100:104, 0] = np.nan
    header = write_monitoring_record(tmp_path, "gap", ecg, ("II", "V4"))
    with pytest.raises(RecordRejected, match="4 non-finite sample") as nan:
        read_any_record(header, leads=("II",))
    with pytest.raises(RecordRejected, match="missing lead V5; record has II, V4, ABP") as missing:
        read_any_record(header, leads=("V5",))
    assert "mmHg" not in str(nan.value) + str(missing.value)
    assert read_any_record(header, leads=("II",), nan_policy="interpolate").shape == (1000, 1)


@pytest.mark.parametrize("fmt", ["16", "212"])
def test_header_without_sample_count_reads_as_wfdb_does(fmt, sample_data, tmp_path):
    header = write_monitoring_record(tmp_path, "nolen", real_leads(sample_data),
                                     ("II", "V5"), fmt=fmt)
    with_count = read_any_record(header, leads=("II", "V5"))
    drop_sample_count(header)
    assert len(header.read_text().splitlines()[0].split()) == 3
    without = read_any_record(header, leads=("II", "V5"))
    np.testing.assert_array_equal(without, with_count)
    np.testing.assert_allclose(without[:, 1], reference(header, "V5"), **CLOSE)


def test_two_segment_record_equals_wfdb_merged_read(sample_data, tmp_path):
    header = write_two_segments(tmp_path, "multi", long_real_leads(sample_data))
    raw = read_signal_file(header, ("II",), 10.5, lead_map={"MLII": "II"})
    assert dict(raw.ignored) == {"V": "mV", "ABP": "mmHg"}
    signal = read_any_record(header, leads=("II", "V5"), lead_map={"MLII": "II", "V": "V5"})
    np.testing.assert_allclose(signal[:, 0], reference(header, "MLII"), **CLOSE)
    np.testing.assert_allclose(signal[:, 1], reference(header, "V"), **CLOSE)


def test_variable_layout_segments_merge_through_wfdb(sample_data, tmp_path):
    """A segment without V leaves NaN there (wfdb's merge): V is dropped under --nan-policy
    drop and reads II regardless."""
    import wfdb

    ecg = long_real_leads(sample_data)[:6000]
    write_monitoring_record(tmp_path, "seg1", ecg[:3000], ("MLII", "V"), fmt="212")
    wfdb.wrsamp("seg2", fs=500, units=["mV"], sig_name=["MLII"], p_signal=ecg[3000:, :1],
                fmt=["212"], adc_gain=[1000.0], baseline=[0], write_dir=str(tmp_path))
    (tmp_path / "var_layout.hea").write_text(
        "var_layout 3 500 0\nvar_layout.dat 212 1000/mV 12 0 0 0 0 MLII\n"
        "var_layout.dat 212 1000/mV 12 0 0 0 0 V\nvar_layout.dat 212 10/mmHg 12 0 0 0 0 ABP\n")
    header = tmp_path / "var.hea"
    header.write_text("var/3 3 500 6000\nvar_layout 0\nseg1 3000\nseg2 3000\n")
    lead_map = {"MLII": "II", "V": "V5"}
    signal = read_any_record(header, leads=("II",), lead_map=lead_map)
    np.testing.assert_allclose(signal[:, 0], reference(header, "MLII"), **CLOSE)
    with pytest.raises(RecordRejected, match="non-finite"):
        read_any_record(header, leads=("II", "V5"), lead_map=lead_map)


def test_edf_reads_the_same_samples_as_its_wfdb_source(sample_data, tmp_path):
    header = write_monitoring_record(tmp_path, "bed", long_real_leads(sample_data),
                                     ("II", "V5"), fmt="16")
    edf = write_edf_copy(header)
    from_edf = read_signal_file(edf, ("V5", "II"), 10.5)
    from_wfdb = read_signal_file(header, ("V5", "II"), 10.5)
    assert from_edf.fs == from_wfdb.fs == 500
    assert dict(from_edf.ignored) == {"ABP": "mmHg"}
    # wfdb_to_edf keeps the digital values and maps WFDB's scale onto EDF's ranges exactly
    # EDF is read in whole data records (10 s each here): at least the 10.5 s asked for
    assert len(from_edf.data) >= len(from_wfdb.data) == 5250
    np.testing.assert_allclose(from_edf.data[:5250], from_wfdb.data, rtol=0, atol=1e-9)
    np.testing.assert_allclose(read_any_record(edf, leads=("II",))[:, 0],
                               reference(header, "II"), **CLOSE)


def test_edf_unit_of_an_unrequested_channel_is_not_checked(sample_data, tmp_path):
    from folder_fixtures import write_edf

    ecg = real_leads(sample_data)[:5000]
    signal = np.column_stack([ecg, np.full(len(ecg), 97.0)])
    write_edf(tmp_path / "e.edf", signal, 500, ["ECG II", "ECG V5", "SpO2"], unit="mV")
    raw = read_signal_file(tmp_path / "e.edf", ("II",), 10.5, lead_map={"ECG II": "II"})
    np.testing.assert_allclose(raw.data[:, 0], ecg[:, 0], rtol=0, atol=1e-3)
    assert [name for name, _ in raw.ignored] == ["ECG V5", "SpO2"]


def test_edf_channel_at_another_rate_is_ignored_unless_requested(sample_data, tmp_path):
    ecg = long_real_leads(sample_data)
    edf = tmp_path / "spo2.edf"
    write_edf_with_slow_channel(edf, ecg, ["II", "V5"], np.full(20, 97.0), "SpO2", "%")
    raw = read_signal_file(edf, ("II", "V5"), None)
    assert raw.fs == 500 and raw.ignored == (("SpO2", "%"),)
    step = (np.ceil(ecg.max(axis=0)) - np.floor(ecg.min(axis=0)) + 2) / 65535
    assert (np.abs(raw.data - ecg) <= step / 2 + 1e-12).all()
    with pytest.raises(HeaderError, match="different sampling rates"):
        read_signal_file(edf, ("II", "V5"), None, lead_map={"SpO2": "V5", "V5": "V6"},
                         assume_units="mV")


# ---------------------------------------------------------------- units

def test_unit_table_spellings():
    assert unit_scale("mV") == 1.0 and unit_scale(" MV ") == 1.0
    for spelling in ("uV", "µV", "μV", "ÂµV", "Î¼V"):
        assert unit_scale(spelling) == 1e-3, spelling
    assert unit_scale("V") == 1e3
    for unit in ("NU", "mmHg", "", "furlong"):
        with pytest.raises(ValueError, match=f"unit {unit!r}"):
            unit_scale(unit)
    with pytest.raises(ValueError, match="--assume-units"):
        unit_scale("NU", assume_units="mmHg")


def test_utf8_micro_volt_header_reads_as_microvolts(sample_data, tmp_path):
    ecg = real_leads(sample_data) * 1000.0  # in µV
    header = write_monitoring_record(tmp_path, "micro", ecg, ("II", "V5"), ("uV", "uV"),
                                     gain=1.0)
    header.write_bytes(header.read_bytes().replace(b"/uV", "/µV".encode("utf-8")))
    assert "ÂµV" in header.read_text(encoding="latin-1")
    signal = read_any_record(header, leads=("II",))
    np.testing.assert_allclose(signal[:, 0], reference(header, "II") / 1000.0, **CLOSE)


def test_nu_is_refused_and_accepted_with_assume_units(sample_data, tmp_path):
    source, labels = monitoring_folder(tmp_path, sample_data, ecg_names=("II", "V5"),
                                       ecg_units=("NU", "NU"))
    with pytest.raises(BuildError) as refused:
        quiet_build("folder", source, tmp_path / "out", labels=labels, name="nu", leads="II")
    assert "unit 'NU'" in str(refused.value)
    manifest = quiet_build("folder", source, tmp_path / "out", labels=labels, name="nu",
                           leads="II", assume_units="mV")
    assert manifest["assume_units"] == "mV" and manifest["dropped"] == []
    examples = examples_by_id(tmp_path / "out" / "nu")
    np.testing.assert_allclose(examples[GEORGIA[0]]["signal"][:, 0],
                               reference(source / f"{GEORGIA[0]}.hea", "II"), **CLOSE)
    with pytest.raises(HeaderError, match="unit 'NU'"):
        read_any_record(source / f"{GEORGIA[0]}.hea", leads=("II",))


# ---------------------------------------------------------------- lead map

def test_parse_lead_map():
    assert parse_lead_map("MLII=II,MLIII=III,V=V5") == {"MLII": "II", "MLIII": "III", "V": "V5"}
    assert parse_lead_map(" ECG II = ii ") == {"ECG II": "II"}
    for text, words in [("MLII", "not CHANNEL=LEAD"), ("MLII=XX", "'XX' is not a standard lead"),
                        ("MLII=II,mlii=III", "names channel mlii twice"),
                        ("MLII=II,ECG=II", "both MLII and ECG onto II")]:
        with pytest.raises(ValueError, match=words):
            parse_lead_map(text)
    with pytest.raises(ValueError, match="--lead-map MLII=II"):
        standard_lead_subset(["MLII"])


def test_lead_map_through_folder_cli_and_read_any_record(sample_data, tmp_path, capsys):
    source, labels = monitoring_folder(tmp_path, sample_data)
    out = tmp_path / "out"
    code, err = run_cli(capsys, "folder", "--source", source, "--out", out, "--labels", labels,
                        "--name", "holter", "--leads", "II,V5", "--lead-map", "MLII=II,V=V5")
    assert code == 0, err
    manifest = json.loads((out / "holter" / "manifest.json").read_text())
    assert manifest["lead_map"] == {"MLII": "II", "V": "V5"}
    assert manifest["ignored_channels"] == [{"name": "ABP", "unit": "mmHg", "count": 6}]
    examples = examples_by_id(out / "holter")
    record = source / f"{GEORGIA[2]}.hea"
    np.testing.assert_allclose(examples[GEORGIA[2]]["signal"][:, 0], reference(record, "MLII"),
                               **CLOSE)
    again = read_any_record(record, leads=manifest["leads"], lead_map=manifest["lead_map"])
    np.testing.assert_array_equal(again, examples[GEORGIA[2]]["signal"])


def test_unmapped_lead_is_one_line_listing_the_channels(sample_data, tmp_path, capsys):
    source, labels = monitoring_folder(tmp_path, sample_data)
    code, err = run_cli(capsys, "folder", "--source", source, "--out", tmp_path / "out",
                        "--labels", labels, "--name", "h", "--leads", "II", "--lead-map",
                        "ML2=II")
    assert code != 0
    assert_one_line_error(err, "missing lead II", "MLII, V, ABP")
    code, err = run_cli(capsys, "folder", "--source", source, "--out", tmp_path / "out",
                        "--labels", labels, "--name", "h", "--leads", "MLII")
    assert code != 0
    assert_one_line_error(err, "'MLII'", "--lead-map MLII=II")
    code, err = run_cli(capsys, "folder", "--source", source, "--out", tmp_path / "out",
                        "--labels", labels, "--name", "h", "--leads", "II", "--lead-map", "MLII")
    assert code != 0
    assert_one_line_error(err, "--lead-map entry 'MLII' is not CHANNEL=LEAD")
    assert not (tmp_path / "out" / "h" / "manifest.json").exists()


# ---------------------------------------------------------------- reasons and case

def test_reasons_keep_lead_names_and_record_ids(sample_data, tmp_path):
    source, labels = monitoring_folder(tmp_path, sample_data, ecg_names=("II", "V5"))
    write_monitoring_record(source, "100-no-len", real_leads(sample_data, "E07507"),
                            ("II", "V4"))
    table = pd.read_csv(labels)
    table.loc[len(table)] = ["100-no-len", "p100", "AF", "train"]
    table.to_csv(labels, index=False)
    lines = []
    from tfrecords_builder import build_dataset

    manifest = build_dataset("folder", source, tmp_path / "out", labels=labels, name="r",
                             leads="II,V5", workers=0, progress=False, log=lines.append)
    (entry,) = manifest["dropped"]
    assert entry["record_id"] == "100-no-len"
    assert "100-no-len.hea" in entry["reason"] and "missing lead V5" in entry["reason"]
    assert entry["reason_class"] == "missing lead VN"
    summary = [line for line in lines if line.strip().startswith("dropped 1:")]
    assert summary and "missing lead V5" in summary[0] and "100-no-len" in summary[0], lines


def test_data_file_in_another_case_is_named(sample_data, tmp_path):
    source, labels = monitoring_folder(tmp_path, sample_data, ecg_names=("II", "V5"))
    dat = source / f"{GEORGIA[3]}.dat"
    dat.rename(dat.with_name(f"{GEORGIA[3]}.DAT"))
    manifest = quiet_build("folder", source, tmp_path / "out", labels=labels, name="c",
                           leads="II")
    reasons = {entry["record_id"]: entry["reason"] for entry in manifest["dropped"]}
    assert f"found {GEORGIA[3]}.DAT; expected {GEORGIA[3]}.dat" in reasons[GEORGIA[3]]
    with pytest.raises(HeaderError, match=f"found {GEORGIA[3]}.DAT"):
        read_any_record(source / f"{GEORGIA[3]}.hea", leads=("II",))


def test_header_in_another_case_is_named(sample_data, tmp_path, capsys):
    source, labels = monitoring_folder(tmp_path, sample_data, ecg_names=("II", "V5"))
    header = source / f"{GEORGIA[1]}.hea"
    header.rename(header.with_name(f"{GEORGIA[1]}.HEA"))
    code, err = run_cli(capsys, "folder", "--source", source, "--out", tmp_path / "out",
                        "--labels", labels, "--name", "c", "--leads", "II")
    assert code != 0
    assert_one_line_error(err, "line 3", f"record '{GEORGIA[1]}' not found",
                          f"found {GEORGIA[1]}.HEA")


def test_a_test_split_emptied_by_drops_is_a_warning(sample_data, tmp_path):
    """A test split emptied by dropped records does not pass silently: the build warns."""
    from tfrecords_builder import build_dataset

    source, labels = monitoring_folder(tmp_path, sample_data, ecg_names=("II", "V5"))
    for record in GEORGIA[:2]:  # the two test records
        dat = source / f"{record}.dat"
        dat.rename(dat.with_name(f"{record}.DAT"))
    lines = []
    manifest = build_dataset("folder", source, tmp_path / "out", labels=labels, name="t",
                             leads="II", workers=0, progress=False, log=lines.append)
    assert manifest["splits"]["test"]["records"] == 0
    warnings = [line for line in lines if line.startswith("warning: the test split")]
    assert warnings and "all 2 record(s) assigned to it were dropped" in warnings[0], lines
    assert f"found {GEORGIA[0]}.DAT" in warnings[0] or f"found {GEORGIA[1]}.DAT" in warnings[0]
