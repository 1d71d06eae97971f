"""A user's own dataset reader, registered in a separate module and loaded with `--import`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from builder_fixtures import examples_by_id
from ecg_tl_keras.testing import check_reader
from tfrecords_builder.extensions import import_modules
from tfrecords_builder.readers import READERS, get_reader, register_reader, unregister_reader

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: Records as NAME.npy (samples x 12 standard leads, mV, 500 Hz) with a labels.json.
NPY_READER = textwrap.dedent('''
    import json

    import numpy as np

    from tfrecords_builder.readers import RawSignal, Reader, RecordRef, register_reader
    from tfrecords_builder.signal import STANDARD_LEADS


    @register_reader
    class NpyEcgReader(Reader):
        """Records as NAME.npy (samples x 12, mV, 500 Hz) and labels.json {NAME: [labels]}."""

        name = "npyecg"
        label_names = ("AF", "NORM")
        label_codes = {"AF": ("AF",), "NORM": ("NORM",)}
        release_format = "npy-500hz"
        labels_are_complete = True

        def records(self):
            table = json.loads((self.source / "labels.json").read_text())
            return [RecordRef(record_id=name, patient_id=name, location=f"{name}.npy",
                              labels=tuple(l for l in self.label_names if l in table[name]))
                    for name in sorted(table)]

        def read_signal(self, ref, max_seconds):
            data = np.load(self.source / ref.location)
            return RawSignal(data[: int(500 * max_seconds)], 500.0, STANDARD_LEADS)
''')


@pytest.fixture
def npy_release(tmp_path, shared_data):
    """The real Georgia records (500 Hz) saved as .npy, labelled alternately AF / NORM."""
    module = tmp_path / "npy_ecg_reader.py"
    module.write_text(NPY_READER)
    source = tmp_path / "npy"
    source.mkdir()
    labels = {}
    for index, header in enumerate(sorted((shared_data / "georgia").glob("*.hea"))[:8]):
        signal, fields = wfdb.rdsamp(str(header.with_suffix("")))
        assert fields["fs"] == 500
        np.save(source / f"{header.stem}.npy", signal.astype(np.float32))
        labels[header.stem] = ["AF"] if index % 2 else ["NORM"]
    (source / "labels.json").write_text(json.dumps(labels))
    yield module, source, labels
    if "npyecg" in READERS:
        unregister_reader("npyecg")
    sys.modules.pop("npy_ecg_reader", None)


def test_a_user_reader_builds_through_the_command_with_worker_processes(npy_release, tmp_path):
    module, source, labels = npy_release
    done = subprocess.run(
        [sys.executable, "-m", "tfrecords_builder", "--import", str(module), "npyecg",
         "--source", str(source), "--out", str(tmp_path / "out"), "--workers", "2",
         "--no-progress"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / "npyecg" / "manifest.json").read_text())
    assert (manifest["dataset"], manifest["release_format"]) == ("npyecg", "npy-500hz")
    examples = examples_by_id(tmp_path / "out" / "npyecg")
    assert sorted(examples) == sorted(labels)
    for name, example in examples.items():
        raw = np.load(source / f"{name}.npy").astype(np.float64)
        expected = resample_poly(raw[:5250], 1, 5, axis=0)[:1000]
        np.testing.assert_allclose(example["signal"], expected, atol=1e-5)
        assert list(example["labels"]) == [int(label in labels[name]) for label in ("AF", "NORM")]


def test_a_registered_reader_passes_the_harness_and_names_are_guarded(npy_release):
    module, source, _ = npy_release
    assert import_modules([str(module)]) == ["npy_ecg_reader"]
    reader = get_reader("npyecg")(source)
    assert check_reader(reader)["read"] == 8
    with pytest.raises(ValueError, match="already registered"):
        register_reader(type("Other", (get_reader("georgia"),), {"name": "npyecg"}))
    with pytest.raises(ValueError, match="lower-case word"):
        register_reader(type("Bad", (get_reader("georgia"),), {"name": "Has Space"}))
    with pytest.raises(ValueError, match="built-in"):
        unregister_reader("ptbxl")


def test_a_missing_import_is_one_line(tmp_path, capsys):
    from tfrecords_builder.cli import main

    assert main(["--import", str(tmp_path / "nope.py"), "ptbxl", "--source", str(tmp_path),
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.py: FileNotFoundError" in err
