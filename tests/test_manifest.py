"""The typed manifest of a built dataset: written by the builder, read by everything else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ecg_tl_keras.built import BuiltDataset
from tfrecords_builder.manifest import MANIFEST_VERSION, Manifest, markdown_table, write_manifest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_builder_writes_the_current_format_with_every_documented_key(ptbxl_built):
    written = json.loads((ptbxl_built / "manifest.json").read_text())
    assert written["manifest_version"] == MANIFEST_VERSION
    manifest = BuiltDataset.open(ptbxl_built).manifest
    assert isinstance(manifest, Manifest) and manifest.extra == {}
    assert list(written) == list(manifest.to_dict())  # every key the builder writes is a field
    assert manifest.resample == "poly" and manifest.input_shape == (1000, 12)
    assert manifest.records("train") == written["splits"]["train"]["records"]


def test_unknown_keys_survive_a_round_trip(tmp_path, ptbxl_built):
    values = {**json.loads((ptbxl_built / "manifest.json").read_text()),
              "future_key": {"ch1": "I"}, "user_note": [["RESP", "ohm"]]}
    written = write_manifest(tmp_path, values)
    assert written == values
    manifest = Manifest.read(tmp_path)
    assert manifest.extra == {"future_key": {"ch1": "I"}, "user_note": [["RESP", "ohm"]]}
    assert manifest["future_key"] == {"ch1": "I"} and manifest.get("nope") is None
    assert Manifest.from_dict(manifest.to_dict()) == manifest


def _copy_built(source: Path, dest: Path, edit) -> Path:
    shutil.copytree(source, dest)
    path = dest / "manifest.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return dest


def test_a_manifest_of_an_older_build_still_opens(tmp_path, ptbxl_built):
    def format_1(values):  # before manifest_version and resample existed
        del values["manifest_version"], values["resample"]
        return values

    data = BuiltDataset.open(_copy_built(ptbxl_built, tmp_path / "old", format_1))
    assert data.manifest.manifest_version == 1 and data.manifest.resample == "poly"
    assert data.input_shape == (1000, 12) and data.records("test") > 0
    data.verify(["test"])


@pytest.mark.parametrize("edit, message", [
    (lambda v: {**v, "manifest_version": MANIFEST_VERSION + 1},
     rf"has manifest format {MANIFEST_VERSION + 1}; this version reads formats up to "
     rf"{MANIFEST_VERSION}: upgrade"),
    (lambda v: {key: value for key, value in v.items() if key != "leads"},
     r"lacks required keys \['leads'\]: rebuild it with python -m tfrecords_builder"),
])
def test_a_newer_or_incomplete_manifest_is_one_line(tmp_path, ptbxl_built, edit, message):
    folder = _copy_built(ptbxl_built, tmp_path / "bad", edit)
    with pytest.raises(ValueError, match=message) as error:
        BuiltDataset.open(folder)
    assert "\n" not in str(error.value) and str(folder / "manifest.json") in str(error.value)


def test_the_readme_key_table_is_the_manifests():
    assert markdown_table() in README.read_text()
