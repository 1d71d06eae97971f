"""The study's builder settings (issue 9): ``--resample decimate``, ribeiro ``--keep-padding``.

Checked against independent computations: ``signal[::q]`` and the fixture's own padded tracings.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from builder_fixtures import CODE_FS, CODE_WIDTH, examples_by_id, make_code_release, quiet_build

from tfrecords_builder.signal import STANDARD_LEADS, RecordRejected, SignalConditioner


@pytest.mark.parametrize("fs, step", [(500, 5), (400, 4), (1000, 10), (100, 1)])
def test_decimation_is_every_qth_sample(fs, step):
    signal = np.random.default_rng(fs).normal(size=(fs * 11, 12))
    out = SignalConditioner(fs, resample="decimate")(signal, STANDARD_LEADS)
    np.testing.assert_array_equal(out, signal[::step][:1000].astype(np.float32))


def test_decimation_differs_from_the_anti_aliased_default():
    signal = np.random.default_rng(0).normal(size=(5000, 12))
    poly = SignalConditioner(500)(signal, STANDARD_LEADS)
    decimated = SignalConditioner(500, resample="decimate")(signal, STANDARD_LEADS)
    assert not np.allclose(poly, decimated, atol=1e-3)


@pytest.mark.parametrize("fs", [257, 250, 360])
def test_decimation_rejects_rates_that_are_not_multiples_of_100_hz(fs):
    with pytest.raises(RecordRejected, match=f"whole multiple of 100 Hz.*{fs} Hz.*--resample poly"):
        SignalConditioner(fs, resample="decimate")


def test_unknown_resampler():
    with pytest.raises(ValueError, match="resample must be one of"):
        SignalConditioner(500, resample="fft")


def test_georgia_build_decimates_and_records_it_in_the_manifest(sample_data, tmp_path):
    import wfdb

    manifest = quiet_build("georgia", sample_data / "georgia", tmp_path, resample="decimate")
    assert manifest["resample"] == "decimate"
    assert manifest["build_options"]["resample"] == "decimate"
    examples = examples_by_id(tmp_path / "georgia")
    assert examples
    for record_id, example in examples.items():
        raw, fields = wfdb.rdsamp(str(sample_data / "georgia" / record_id))
        names = [name.lower() for name in fields["sig_name"]]
        order = [names.index(lead.lower()) for lead in STANDARD_LEADS]
        expected = raw[:, order][::5][:1000].astype(np.float32)
        np.testing.assert_allclose(example["signal"], expected, atol=1e-6)


def test_resample_flag_reaches_the_cli_and_bad_values_exit_2(sample_data, tmp_path):
    done = subprocess.run([sys.executable, "-m", "tfrecords_builder", "georgia", "--source",
                           str(sample_data / "georgia"), "--out", str(tmp_path), "--no-progress",
                           "--resample", "fft"], capture_output=True, text=True)
    assert done.returncode == 2 and "--resample" in done.stderr


@pytest.mark.parametrize("keep_padding", [False, True])
def test_ribeiro_keep_padding_keeps_7s_exams_with_their_zeros(shared_data, tmp_path, keep_padding):
    release = make_code_release(tmp_path / "code", shared_data / "ribeiro")
    manifest = quiet_build("ribeiro", release["source"], tmp_path / "out",
                           keep_padding=keep_padding)
    examples = examples_by_id(tmp_path / "out" / "ribeiro")
    short = [i for i, exam in release["exams"].items() if len(exam) < 10 * CODE_FS]
    assert short
    kept = {int(record_id) for record_id in examples}
    width = len(str(len(release["exams"])))
    if not keep_padding:
        assert kept.isdisjoint(short)
        assert len(manifest["dropped"]) == len(short)
        return
    assert kept == set(release["exams"]) and manifest["dropped"] == []
    assert manifest["build_options"]["reader_options"]["keep_padding"] is True
    for index in short:
        exam = release["exams"][index]
        padded = np.zeros((CODE_WIDTH, 12), dtype=np.float32)
        start = (CODE_WIDTH - len(exam)) // 2
        padded[start:start + len(exam)] = exam
        signal = examples[f"{index:0{width}d}"]["signal"]
        expected = SignalConditioner(CODE_FS)(padded[:4100].astype(np.float64), STANDARD_LEADS)
        np.testing.assert_allclose(signal, expected, atol=1e-5)
        assert np.all(signal[: start // 4 - 10] == 0)  # the leading padding is kept
