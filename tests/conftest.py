"""Shared fixtures: the real samples in ../shared/data and a built PTB-XL sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SAMPLE_DATA = PROJECT_ROOT / "ecg_tl_keras" / "sample_data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real dataset extracts beside the project (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not found: the real samples live beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The bundled sample shipped inside the package (250 PTB-XL + 10 Georgia records)."""
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def ptbxl_built(tmp_path_factory, sample_data) -> Path:
    """The bundled PTB-XL sample built once per session; returns ``OUT/ptbxl``."""
    from tfrecords_builder import build_dataset

    out = tmp_path_factory.mktemp("built")
    build_dataset("ptbxl", sample_data / "ptbxl", out, workers=0, progress=False, log=lambda _: None)
    return out / "ptbxl"


@pytest.fixture(scope="session")
def georgia_built(tmp_path_factory, sample_data) -> Path:
    """The bundled Georgia sample built once per session; returns ``OUT/georgia``."""
    from tfrecords_builder import build_dataset

    out = tmp_path_factory.mktemp("built")
    build_dataset("georgia", sample_data / "georgia", out, workers=0, progress=False, log=lambda _: None)
    return out / "georgia"
