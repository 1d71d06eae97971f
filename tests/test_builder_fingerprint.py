"""The fingerprint of a build's inputs: what changes it and what does not."""

from __future__ import annotations

import os

from tfrecords_builder.fingerprint import source_fingerprint
from tfrecords_builder.layout import is_build_output


def _tree(root):
    (root / "records").mkdir(parents=True)
    (root / "records" / "r1.hea").write_text("r1 12 100 1000\n")
    (root / "labels.csv").write_text("record,labels\nr1,AF\n")
    return root


def test_same_state_same_fingerprint_and_any_change_differs(tmp_path):
    root = _tree(tmp_path / "src")
    before = source_fingerprint([root])
    assert source_fingerprint([root]) == before
    (root / "records" / "r2.hea").write_text("r2 12 100 1000\n")
    added = source_fingerprint([root])
    assert added != before
    (root / "records" / "r2.hea").unlink()
    assert source_fingerprint([root]) == before
    stat = (root / "labels.csv").stat()
    os.utime(root / "labels.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert source_fingerprint([root]) != before


def test_a_file_given_apart_counts_and_build_outputs_do_not(tmp_path):
    root = _tree(tmp_path / "src")
    table = tmp_path / "table.csv"
    table.write_text("a\n")
    with_table = source_fingerprint([root, table])
    table.write_text("ab\n")
    assert source_fingerprint([root, table]) != with_table
    skip = is_build_output
    before = source_fingerprint([root], skip=skip)
    (root / "out" / "ptbxl").mkdir(parents=True)
    (root / "out" / "ptbxl" / "manifest.json").write_text("{}")
    (root / "train-00000-of-00001.tfrecord").write_bytes(b"x")
    assert source_fingerprint([root], skip=skip) == before
    (root / "out" / "ptbxl" / "notes.txt").write_text("a user's file")
    assert source_fingerprint([root], skip=skip) != before


def test_link_loops_and_dangling_links_end(tmp_path):
    root = _tree(tmp_path / "src")
    (root / "records" / "loop").symlink_to(root, target_is_directory=True)
    (root / "gone.hea").symlink_to(tmp_path / "missing.hea")
    first = source_fingerprint([root])
    assert source_fingerprint([root]) == first
