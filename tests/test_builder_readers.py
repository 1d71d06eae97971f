"""Readers of the TFRecord builder on the real samples: contract, labels, formats, signal values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.signal
import wfdb

from builder_fixtures import (
    CODE_FS, CODE_LEADS, CPSC_CLASS_NAMES, CPSC_CLASS_SNOMED, MANIFEST_KEYS, STANDARD_LEADS,
    code_expected_labels, cpsc_reference, examples_by_id, header_dx, load_cinc, load_cpsc_original,
    make_cinc_cpsc, make_code_release, make_ptbxl_subset, ptbxl_expected_labels, quiet_build,
    read_examples, write_cinc_variant)
from ecg_tl_keras.testing import check_reader
from tfrecords_builder import RELEASE_READERS, get_reader, read_any_record

READ_SECONDS = 10.5
#: Lead names as the releases spell them -> standard name (independent of the builder's aliases).
LEAD_SPELLINGS = {**{lead.lower(): lead for lead in STANDARD_LEADS},
                  "di": "I", "dii": "II", "diii": "III"}
#: Georgia's 10 labels by SNOMED-CT code (CinC 2021 dx_mapping_scored.csv; PAC includes SVPB).
GEORGIA_SNOMED = {"426783006": "NORM", "164889003": "AF", "270492004": "I-AVB", "284470004": "PAC",
                  "63593006": "PAC", "426177001": "SB", "39732003": "LAD", "427084000": "STach",
                  "164934002": "TAb", "59931005": "TInv", "111975006": "LQT"}
PTBXL_SMALL = 60


def standard_columns(lead_names) -> list[int]:
    """Column of each standard lead, found by (case-insensitive) name."""
    position = {LEAD_SPELLINGS.get(name.strip().lower()): i for i, name in enumerate(lead_names)}
    missing = [lead for lead in STANDARD_LEADS if lead not in position]
    assert not missing, f"leads {missing} absent from {list(lead_names)}"
    return [position[lead] for lead in STANDARD_LEADS]


def resampled(signal: np.ndarray, up: int, down: int) -> np.ndarray:
    """The expected example: scipy's resampling of the whole record, first 1000 samples."""
    if (up, down) != (1, 1):
        signal = scipy.signal.resample_poly(signal, up, down, axis=0)
    return signal[:1000]


def assert_float32_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == (1000, 12) and actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def ptbxl_small(shared_data, tmp_path_factory):
    """The first 60 records of the real PTB-XL sample, as a release folder."""
    table = pd.read_csv(shared_data / "ptbxl" / "ptbxl_database.csv")
    return make_ptbxl_subset(shared_data / "ptbxl", tmp_path_factory.mktemp("ptbxl") / "ptbxl",
                             table["ecg_id"][:PTBXL_SMALL].tolist())


@pytest.fixture(scope="module")
def code_release(shared_data, tmp_path_factory):
    return make_code_release(tmp_path_factory.mktemp("code") / "code", shared_data / "ribeiro")


@pytest.fixture(scope="module")
def sources(shared_data, ptbxl_small, code_release):
    """Every reader's real sample (ribeiro: the hdf5 fixture with the real label CSVs)."""
    return {"ptbxl": ptbxl_small, "cpsc2018": shared_data / "cpsc2018",
            "georgia": shared_data / "georgia", "ptb": shared_data / "ptb",
            "ribeiro": code_release["source"]}


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory):
    """Each sample built once: dataset name -> (OUT/<dataset>, manifest)."""
    out = tmp_path_factory.mktemp("built")
    return {name: (out / name, quiet_build(name, source, out)) for name, source in sources.items()}


# ---------------------------------------------------------------- the reader contract

@pytest.mark.parametrize("name", sorted(RELEASE_READERS))
def test_reader_contract(name, sources):
    """ecg_tl_keras.testing.check_reader: the contract a user's reader is checked against."""
    summary = check_reader(get_reader(name)(sources[name]), max_seconds=READ_SECONDS, limit=3,
                           leads=STANDARD_LEADS)
    assert summary["read"] + len(summary["rejected"]) == min(3, summary["records"])


@pytest.mark.parametrize("name", sorted(RELEASE_READERS))
def test_reader_reads_every_record_as_finite_named_leads(name, sources):
    reader = get_reader(name)(sources[name])
    for ref in reader.records():
        raw = reader.read_signal(ref, READ_SECONDS)
        assert raw.fs > 0
        assert raw.data.ndim == 2 and raw.data.shape[1] == len(raw.lead_names)
        assert 0 < raw.data.shape[0] <= math.ceil(READ_SECONDS * raw.fs)
        assert np.isfinite(raw.data).all(), f"{name} {ref.record_id}: non-finite samples"
        standard_columns(raw.lead_names)


@pytest.mark.parametrize("name", sorted(RELEASE_READERS))
def test_build_writes_manifest_and_documented_examples(name, sources, built):
    reader = get_reader(name)(sources[name])
    refs = {ref.record_id: ref for ref in reader.records()}
    out_dir, manifest = built[name]
    on_disk = json.loads((out_dir / "manifest.json").read_text())
    assert on_disk == manifest
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["dataset"] == name
    assert manifest["release_format"] not in ("", "unknown")
    assert manifest["labels"] == list(reader.label_names)
    assert list(manifest["label_codes"]) == manifest["labels"]
    assert (manifest["fs"], manifest["samples"], manifest["unit"]) == (100, 1000, "mV")
    assert manifest["leads"] == list(STANDARD_LEADS)
    assert set(manifest["splits"]) == {"train", "test"}
    examples = examples_by_id(out_dir)
    assert examples, f"{name}: nothing written"
    dropped = {entry["record_id"] for entry in manifest["dropped"]}
    assert set(examples) | dropped == set(refs) and not set(examples) & dropped
    for record_id, example in examples.items():
        ref = refs[record_id]
        assert np.isfinite(example["signal"]).all()
        assert len(example["labels"]) == len(manifest["labels"])
        assert set(example["labels"].tolist()) <= {0, 1} and example["labels"].sum() >= 1
        names = [manifest["labels"][i] for i in np.flatnonzero(example["labels"])]
        assert names == list(ref.labels)
        assert example["patient_id"] == ref.patient_id
        assert 0 <= example["fold"] <= 9


# ---------------------------------------------------------------- labels on known records

def test_ptbxl_labels_follow_the_csvs(shared_data):
    source = shared_data / "ptbxl"
    expected = ptbxl_expected_labels(source)
    refs = {ref.record_id: ref for ref in get_reader("ptbxl")(source).records()}
    assert set(refs) == set(expected)
    assert "MI" in refs["8"].labels
    for record_id, ref in refs.items():
        assert set(ref.labels) == expected[record_id], record_id


def test_cpsc_original_labels_follow_reference(shared_data):
    source = shared_data / "cpsc2018"
    reference = cpsc_reference(source / "REFERENCE.csv")
    refs = get_reader("cpsc2018")(source).records()
    assert {ref.record_id for ref in refs} == {path.stem for path in source.glob("A*.mat")}
    labels = {ref.record_id: set(ref.labels) for ref in refs}
    assert labels["A1980"] == {"PAC"}
    for record_id, label_set in labels.items():
        assert label_set == {CPSC_CLASS_NAMES[number] for number in reference[record_id]}


def test_georgia_labels_follow_dx(shared_data):
    source = shared_data / "georgia"
    refs = {ref.record_id: ref for ref in get_reader("georgia")(source).records()}
    assert "426177001" in header_dx(source / "E07500.hea") and "SB" in refs["E07500"].labels
    for record_id, ref in refs.items():
        expected = {GEORGIA_SNOMED[code] for code in header_dx(source / f"{record_id}.hea")
                    if code in GEORGIA_SNOMED}
        assert set(ref.labels) == expected, record_id


def test_ptb_reason_for_admission_gives_mi(shared_data):
    header = shared_data / "ptb" / "patient001" / "s0010_re.hea"
    reason = next(line.split(":", 1)[1].strip() for line in header.read_text().splitlines()
                  if line.lower().startswith("# reason for admission"))
    assert reason.lower() == "myocardial infarction"
    (ref,) = get_reader("ptb")(shared_data / "ptb").records()
    assert (ref.patient_id, ref.labels) == ("patient001", ("MI",))


def test_code_labels_follow_gold_standard(code_release):
    refs = get_reader("ribeiro")(code_release["source"]).records()
    expected = code_expected_labels(code_release["gold"])
    assert len(refs) == len(expected)
    assert any(labels == {"NORM"} for labels in expected) and any("NORM" not in s for s in expected)
    for ref in refs:
        assert set(ref.labels) == expected[int(ref.record_id)], ref.record_id
    assert len({ref.patient_id for ref in refs}) == len(refs)


def test_code_short_exams_dropped_as_too_short(code_release, built):
    out_dir, manifest = built["ribeiro"]
    short = {i for i, exam in code_release["exams"].items() if len(exam) < 10 * CODE_FS}
    assert short
    dropped = {int(entry["record_id"]): entry["reason"] for entry in manifest["dropped"]}
    assert set(dropped) == short
    assert all("short" in reason for reason in dropped.values())


# ---------------------------------------------------------------- CPSC in the CinC WFDB format

def reference_dx(source):
    reference = cpsc_reference(source / "REFERENCE.csv")
    return lambda record: ",".join(CPSC_CLASS_SNOMED[number] for number in reference[record])


@pytest.mark.parametrize("style", ["2020", "2021"])
def test_cpsc_cinc_format_labels_and_signals(style, shared_data, tmp_path):
    original = shared_data / "cpsc2018"
    source = make_cinc_cpsc(original, tmp_path / "cinc", reference_dx(original), style=style)
    manifest = quiet_build("cpsc2018", source, tmp_path / "out")
    original_manifest = quiet_build("cpsc2018", original, tmp_path / "orig")
    assert manifest["release_format"] != original_manifest["release_format"]
    assert manifest["dropped"] == []
    reference = cpsc_reference(original / "REFERENCE.csv")
    cinc = examples_by_id(tmp_path / "out" / "cpsc2018")
    from_original = examples_by_id(tmp_path / "orig" / "cpsc2018")
    assert set(cinc) == set(from_original) == {path.stem for path in original.glob("A*.mat")}
    for record_id, example in cinc.items():
        names = {manifest["labels"][i] for i in np.flatnonzero(example["labels"])}
        assert names == {CPSC_CLASS_NAMES[number] for number in reference[record_id]}
        val, _, _ = load_cinc(source, record_id)
        assert_float32_equal(example["signal"], resampled(val.T / 1000.0, 1, 5))
        # The CinC copy is the original quantized to 1 uV.
        np.testing.assert_allclose(example["signal"], from_original[record_id]["signal"], atol=2e-3)
    if style == "2021":
        signal, fields = wfdb.rdsamp(str(source / "A1980"))
        assert fields["fs"] == 500
        assert_float32_equal(cinc["A1980"]["signal"], resampled(signal, 1, 5))


def test_cpsc_cinc_empty_dx_takes_reference_labels(shared_data, tmp_path):
    original = shared_data / "cpsc2018"
    source = make_cinc_cpsc(original, tmp_path / "cinc", lambda record: "")
    (source / "REFERENCE.csv").write_bytes((original / "REFERENCE.csv").read_bytes())
    reference = cpsc_reference(original / "REFERENCE.csv")
    refs = get_reader("cpsc2018")(source).records()
    assert len(refs) == 10
    for ref in refs:
        assert set(ref.labels) == {CPSC_CLASS_NAMES[number] for number in reference[ref.record_id]}


def test_cpsc_cinc_empty_dx_without_reference_is_dropped(shared_data, tmp_path):
    original = shared_data / "cpsc2018"
    with_dx = reference_dx(original)
    source = make_cinc_cpsc(original, tmp_path / "cinc",
                            lambda record: "" if record == "A1983" else with_dx(record))
    manifest = quiet_build("cpsc2018", source, tmp_path / "out")
    assert [entry["record_id"] for entry in manifest["dropped"]] == ["A1983"]
    assert manifest["dropped"][0]["reason"]
    assert "A1983" not in examples_by_id(tmp_path / "out" / "cpsc2018")
    assert sum(split["records"] for split in manifest["splits"].values()) == 9


# ---------------------------------------------------------------- header variants and lead order

def test_georgia_early_2020_header_is_read(shared_data, tmp_path):
    source = shared_data / "georgia"
    header = write_cinc_variant(source, "E07500", tmp_path / "g2020", style="2020", gain=4880)
    assert header.read_text().startswith("E07500.mat 12 500 5000")
    assert " 4880/mV " in header.read_text()
    with pytest.raises(Exception, match="syntax"):
        wfdb.rdsamp(str(tmp_path / "g2020" / "E07500"))
    reader = get_reader("georgia")(tmp_path / "g2020")
    (ref,) = reader.records()
    assert ref.labels == ("SB",)
    raw = reader.read_signal(ref, READ_SECONDS)
    val = scipy.io.loadmat(tmp_path / "g2020" / "E07500.mat")["val"]
    assert raw.fs == 500 and list(raw.lead_names) == list(STANDARD_LEADS)
    np.testing.assert_allclose(raw.data, (val.T - 0) / 4880.0, rtol=1e-12, atol=0)
    example = read_any_record(header)
    assert_float32_equal(example, resampled(val.T / 4880.0, 1, 5))


def test_leads_are_matched_by_name_not_position(shared_data, tmp_path):
    source = shared_data / "georgia"
    order = np.random.default_rng(3).permutation(12)

    def shuffle(val, leads):
        return val[order], [leads[i] for i in order]

    write_cinc_variant(source, "E07500", tmp_path / "plain")
    shuffled = write_cinc_variant(source, "E07500", tmp_path / "shuffled", change=shuffle)
    lead_lines = [line.split()[-1] for line in shuffled.read_text().splitlines()[1:13]]
    assert lead_lines != list(STANDARD_LEADS) and sorted(lead_lines) == sorted(STANDARD_LEADS)
    quiet_build("georgia", tmp_path / "plain", tmp_path / "out_plain")
    quiet_build("georgia", tmp_path / "shuffled", tmp_path / "out_shuffled")
    plain = read_examples(tmp_path / "out_plain" / "georgia")["train"]
    mixed = read_examples(tmp_path / "out_shuffled" / "georgia")["train"]
    assert len(plain) == len(mixed) == 1
    np.testing.assert_array_equal(mixed[0]["signal"], plain[0]["signal"])
    signal, _ = wfdb.rdsamp(str(source / "E07500"))
    assert_float32_equal(mixed[0]["signal"], resampled(signal, 1, 5))


# ---------------------------------------------------------------- values against scipy / wfdb

def test_georgia_example_equals_scipy_resampling(shared_data, built):
    examples = examples_by_id(built["georgia"][0])
    assert len(examples) >= 5
    for record_id, example in examples.items():
        signal, fields = wfdb.rdsamp(str(shared_data / "georgia" / record_id))
        assert fields["fs"] == 500
        leads = signal[:, standard_columns(fields["sig_name"])]
        assert_float32_equal(example["signal"], resampled(leads, 1, 5))


def test_ptb_example_equals_scipy_resampling(shared_data, built):
    (example,) = examples_by_id(built["ptb"][0]).values()
    signal, fields = wfdb.rdsamp(str(shared_data / "ptb" / "patient001" / "s0010_re"))
    assert fields["fs"] == 1000 and signal.shape[0] > 30000
    leads = signal[:, standard_columns(fields["sig_name"])]
    assert_float32_equal(example["signal"], resampled(leads, 1, 10))


def test_code_example_equals_scipy_resampling(code_release, built):
    examples = examples_by_id(built["ribeiro"][0])
    assert examples
    for record_id, example in examples.items():
        exam = code_release["exams"][int(record_id)].astype(np.float64)
        leads = exam[:, standard_columns(CODE_LEADS)]
        assert_float32_equal(example["signal"], resampled(leads, 1, 4))


def test_cpsc_original_example_equals_scipy_resampling(shared_data, built):
    examples = examples_by_id(built["cpsc2018"][0])
    assert len(examples) == 10
    for record_id, example in examples.items():
        data, _, _ = load_cpsc_original(shared_data / "cpsc2018" / f"{record_id}.mat")
        assert_float32_equal(example["signal"], resampled(data.T, 1, 5))


def test_ptbxl_example_equals_wfdb_samples(ptbxl_small, built):
    examples = examples_by_id(built["ptbxl"][0])
    assert len(examples) > 40
    for record_id in list(examples)[:15]:
        signal, fields = wfdb.rdsamp(str(ptbxl_small / f"records100/00000/{int(record_id):05d}_lr"))
        assert fields["fs"] == 100
        leads = signal[:1000, standard_columns(fields["sig_name"])]
        assert_float32_equal(examples[record_id]["signal"], leads)


# ---------------------------------------------------------------- read_any_record

@pytest.mark.parametrize("name, record_id, relative", [
    ("ptbxl", "8", "records100/00000/00008_lr.hea"),
    ("georgia", "E07500", "E07500.mat"),
    ("georgia", "E07509", "E07509"),
    ("cpsc2018", "A1988", "A1988.mat"),
    ("ptb", "patient001/s0010_re", "patient001/s0010_re.dat"),
])
def test_read_any_record_equals_built_example(name, record_id, relative, sources, built):
    example = examples_by_id(built[name][0])[record_id]
    np.testing.assert_array_equal(read_any_record(sources[name] / relative), example["signal"])


def test_read_any_record_equals_built_example_cinc_cpsc(shared_data, tmp_path):
    original = shared_data / "cpsc2018"
    source = make_cinc_cpsc(original, tmp_path / "cinc", reference_dx(original), records=("A1981",))
    quiet_build("cpsc2018", source, tmp_path / "out")
    (example,) = read_examples(tmp_path / "out" / "cpsc2018")["train"]
    np.testing.assert_array_equal(read_any_record(source / "A1981.hea"), example["signal"])


def test_read_any_record_rejects_other_files(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        read_any_record(path)
    with pytest.raises(ValueError, match="missing.hea"):
        read_any_record(tmp_path / "missing.hea")


# ---------------------------------------------------------------- WFDB formats off the fast path

@pytest.fixture()
def format212_record(tmp_path):
    """A 12-lead format-212 record (read through wfdb) with one invalid sample."""
    rng = np.random.default_rng(1)
    signal = rng.normal(0, 0.5, (1100, 12))
    signal[100, 3] = np.nan
    wfdb.wrsamp("r212", fs=100, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=signal,
                fmt=["212"] * 12, adc_gain=[200.0] * 12, baseline=[10] * 12,
                write_dir=str(tmp_path))
    return tmp_path / "r212.hea"


def test_format212_record_reads_like_wfdb(format212_record):
    from tfrecords_builder.wfdb_io import read_record

    expected, _ = wfdb.rdsamp(str(format212_record.with_suffix("")))
    assert np.isnan(expected[100, 3])
    data, fs, names = read_record(format212_record)
    assert (fs, names) == (100, list(STANDARD_LEADS))
    np.testing.assert_allclose(data, expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(data[100, 3])
    short, _, _ = read_record(format212_record, max_seconds=READ_SECONDS)
    np.testing.assert_allclose(short, expected[:1050], rtol=1e-12, atol=1e-12)


def test_read_any_record_refuses_invalid_samples_off_the_fast_path(format212_record):
    from tfrecords_builder.signal import RecordRejected

    with pytest.raises(RecordRejected, match="non-finite"):
        read_any_record(format212_record)
    repaired = read_any_record(format212_record, nan_policy="interpolate")
    assert np.isfinite(repaired).all()


def test_truncated_record_off_the_fast_path_names_the_file(format212_record):
    from tfrecords_builder.wfdb_io import HeaderError, read_record

    data_file = format212_record.with_suffix(".dat")
    data_file.write_bytes(data_file.read_bytes()[:5000])
    with pytest.raises(HeaderError, match="r212"):
        read_record(format212_record, max_seconds=READ_SECONDS)


def test_code_lead_order_and_scale_options(code_release, built, tmp_path):
    alternative = ("DI", "DII", "DIII", "AVL", "AVF", "AVR", "V1", "V2", "V3", "V4", "V5", "V6")
    quiet_build("ribeiro", code_release["source"], tmp_path, lead_order=alternative, scale=0.1)
    default = examples_by_id(built["ribeiro"][0])
    changed = examples_by_id(tmp_path / "ribeiro")
    assert set(changed) == set(default)
    for record_id, example in changed.items():
        # The file's columns 3, 4, 5 now are aVL, aVF, aVR.
        expected = default[record_id]["signal"][:, [0, 1, 2, 5, 3, 4, 6, 7, 8, 9, 10, 11]] * 0.1
        np.testing.assert_allclose(example["signal"], expected, rtol=1e-5, atol=1e-7)
