"""Native-rate datasets: the builder's `--rate`, `--seconds` and `--pad-to`, the manifest
that records them, and what reads the data back (training's loader, `read_any_record`)."""

import json

import numpy as np
import pytest
from scipy.signal import resample_poly

from builder_fixtures import quiet_build
from folder_fixtures import make_folder_release
from tfrecords_builder import read_any_record
from tfrecords_builder.cli import main as builder_main
from tfrecords_builder.signal import STANDARD_LEADS, RecordRejected, SignalConditioner


def _signal(seconds, fs, seed=0):
    return np.random.default_rng(seed).normal(0, 0.3, (int(seconds * fs), 12))


def test_native_rate_keeps_the_samples_and_crops_to_the_duration():
    raw = _signal(12, 500)
    out = SignalConditioner(500, rate=500, seconds=10)(raw, STANDARD_LEADS)
    assert out.shape == (5000, 12) and out.dtype == np.float32
    np.testing.assert_array_equal(out, raw[:5000].astype(np.float32))


def test_downsampling_to_another_rate_is_scipys_polyphase_resampler():
    raw = _signal(11, 500)
    out = SignalConditioner(500, rate=400, seconds=10)(raw, STANDARD_LEADS)
    expected = resample_poly(raw, 4, 5, axis=0)[:4000]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_pad_to_splits_the_zeros_before_and_after():
    raw = _signal(10.5, 400)
    out = SignalConditioner(400, rate=400, seconds=10, pad_to=4096)(raw, STANDARD_LEADS)
    assert out.shape == (4096, 12)
    assert not out[:48].any() and not out[-48:].any()
    np.testing.assert_array_equal(out[48:-48], raw[:4000].astype(np.float32))


def test_records_are_never_upsampled_and_short_ones_are_named():
    with pytest.raises(RecordRejected, match="below 500 Hz"):
        SignalConditioner(400, rate=500)
    with pytest.raises(RecordRejected, match="too short: 8.00 s < 10 s"):
        SignalConditioner(500, rate=500)(_signal(8, 500), STANDARD_LEADS)


def test_a_pad_shorter_than_the_signal_is_refused():
    with pytest.raises(ValueError, match="pad_to must be a whole number of samples >= 4000"):
        SignalConditioner(400, rate=400, pad_to=3999)


@pytest.fixture(scope="module")
def georgia_500(tmp_path_factory, sample_data):
    out = tmp_path_factory.mktemp("native")
    quiet_build("georgia", sample_data / "georgia", out, rate=500)
    return out


def test_a_500_hz_build_records_its_rate_and_length(georgia_500):
    manifest = json.loads((georgia_500 / "georgia" / "manifest.json").read_text())
    assert (manifest["fs"], manifest["samples"]) == (500, 5000)
    assert manifest["build_options"]["rate"] == 500
    from ecg_tl_keras.datasets import load_records

    signal, _ = next(iter(load_records(georgia_500 / "georgia", "train", cache=False)))
    assert tuple(signal.shape) == (5000, 12)


def test_a_rerun_at_another_rate_asks_for_overwrite(georgia_500, sample_data, capsys):
    status = builder_main(["georgia", "--source", str(sample_data / "georgia"), "--out",
                           str(georgia_500), "--no-progress", "--workers", "0"])
    assert status == 2 and "--overwrite" in capsys.readouterr().err


def test_a_default_build_manifest_is_unchanged(ptbxl_built):
    manifest = json.loads((ptbxl_built / "manifest.json").read_text())
    assert (manifest["fs"], manifest["samples"]) == (100, 1000)
    assert not {"seconds", "pad_to"} & set(manifest)
    assert not {"rate", "seconds", "pad_to"} & set(manifest["build_options"])


def test_read_any_record_conditions_like_a_native_rate_build(sample_data):
    record = next((sample_data / "georgia").glob("*.hea"))
    signal = read_any_record(record, rate=400, seconds=10, pad_to=4096)
    assert signal.shape == (4096, 12) and not signal[:48].any() and signal[48:-48].any()


def test_a_folder_of_own_records_builds_at_500_hz(tmp_path, sample_data):
    release = make_folder_release(tmp_path / "release", sample_data, ptbxl_count=4,
                                  fmt212_count=1, edf_count=2)
    manifest = quiet_build("folder", release.source, tmp_path / "out", labels=release.labels,
                           name="mine", rate=500, keep_unlabeled=True)
    kept = sum(split["records"] for split in manifest["splits"].values())
    georgia = int(release.rows["record"].str.startswith(("georgia/", "edf/")).sum())
    assert (manifest["fs"], manifest["samples"], kept) == (500, 5000, georgia)
    reasons = {entry["reason_class"] for entry in manifest["dropped"]}
    assert reasons == {"sampling rate N Hz is below N Hz"}, reasons
