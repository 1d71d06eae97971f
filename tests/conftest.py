"""Shared fixtures: the real dataset extracts and built samples.

``shared_data`` is the development checkout's ``../shared/data`` when it exists; on a
fresh clone it is a tree assembled from the real records that ship with the project:
PTB-XL and Georgia from the package's bundled sample (``ecg_tl_keras/sample_data``),
CPSC 2018 (original ``.mat``), PTB and the CODE label tables from ``tests/data``
(see ``tests/data/README.md``). The tests run the same way on either.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import doctest

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SAMPLE_DATA = PROJECT_ROOT / "ecg_tl_keras" / "sample_data"
TEST_DATA = Path(__file__).resolve().parent / "data"
#: Where each dataset's real records come from when ``../shared/data`` is absent.
BUNDLED_SOURCES = {
    "ptbxl": SAMPLE_DATA / "ptbxl",
    "georgia": SAMPLE_DATA / "georgia",
    "cpsc2018": TEST_DATA / "cpsc2018",
    "ptb": TEST_DATA / "ptb",
    "ribeiro": TEST_DATA / "ribeiro",
}
#: The PTB-XL rows the built-sample fixtures use (the first rows of ptbxl_database.csv), so
#: the training tests stay small whatever the size of the bundled sample.
PTBXL_BUILT_RECORDS = 250


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Deselects docstrings whose examples are all ``+SKIP``, groups the tests that share a
    module-scoped fixture, and runs the slow files first.

    Under pytest-xdist (``--dist loadgroup``) every worker would build a module-scoped fixture
    (a trained checkpoint, a reference run) for the tests it got; a test that uses one gets an
    ``xdist_group`` named after its file (unless it has one), so one worker builds it once.
    Files holding a ``slow`` test come first (keeping each file's order and its tests
    together): the long tests start early instead of leaving one worker busy at the end.
    """
    _deselect_empty_doctests(config, items)
    for item in items:
        if _uses_a_module_fixture(item) and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(f"module_{item.path.stem}"))
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept otherwise


def pytest_collection_finish(session):
    """Warns when ``--dist loadgroup`` is on but pytest-xdist did not group the tests (it names
    a test's group in its node id, which pytest 9.2 no longer lets it change: every worker then
    rebuilds each shared trained fixture, and again whenever its tests are split up)."""
    if not session.config.getoption("loadgroup", default=False):  # set on xdist workers
        return
    ungrouped = [item.nodeid for item in session.items
                 if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if ungrouped:
        warnings.warn(pytest.PytestWarning(
            f"pytest-xdist did not group {len(ungrouped)} tests marked xdist_group (e.g. "
            f"{ungrouped[0]}) under pytest {pytest.__version__}: the suite runs, slower; "
            "install the test extra's pytest (pip install -e '.[test]')"))


def _uses_a_module_fixture(item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(
        definitions[-1].scope == "module" for definitions in info.name2fixturedefs.values())


def _deselect_empty_doctests(config, items):
    """Deselect docstrings whose examples are all ``+SKIP``: they hold nothing to run."""
    from _pytest.doctest import DoctestItem

    def runs_nothing(item) -> bool:
        return isinstance(item, DoctestItem) and all(
            example.options.get(doctest.SKIP) for example in item.dtest.examples)

    empty = [item for item in items if runs_nothing(item)]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if not runs_nothing(item)]


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """One persistent JAX compilation cache for the child processes of this test run.

    Under ``KERAS_BACKEND=jax`` most of a small child's CPU time goes to XLA compiling the
    same training and prediction steps that an earlier child (the reference run of a
    kill-and-resume pair, the TensorFlow-free commands run one after the other) already
    compiled. Every child of this run, on every pytest-xdist worker, shares one cache folder
    under this run's temporary root, so a later run starts empty (a fresh clone's figures stay
    honest) and pytest prunes the folder with its old runs. XLA compiles the same program to the
    same executable, so a cached one computes what a fresh compile would.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    settings = {"JAX_COMPILATION_CACHE_DIR": str(root / "jax-compilation-cache"),
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update({name: value for name, value in settings.items() if before[name] is None})
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)


@pytest.fixture
def as_in_a_terminal() -> dict:
    """``subprocess.Popen`` keywords that give the child Ctrl-C's default handling, as in a terminal.

    A shell's background job (``pytest &``, some CI runners) starts with SIGINT ignored, and a
    child inherits that: Python then never raises KeyboardInterrupt, and a Ctrl-C test would
    see a run that ignored the signal.
    """
    return {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}


def assemble_real_samples(dest: Path) -> Path:
    """A ``shared/data``-shaped tree of the project's own real records (links, else copies)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, source in BUNDLED_SOURCES.items():
        try:
            (dest / name).symlink_to(source, target_is_directory=True)
        except OSError:  # pragma: no cover - file systems without symbolic links
            shutil.copytree(source, dest / name)
    return dest


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory) -> Path:
    """The real dataset extracts: ``../shared/data``, or the same layout from shipped records."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    return assemble_real_samples(tmp_path_factory.mktemp("real_samples") / "data")


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The bundled sample shipped inside the package (987 PTB-XL + 10 Georgia records)."""
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def ptbxl_built(tmp_path_factory, sample_data) -> Path:
    """The first 250 records of the bundled PTB-XL sample, built once; returns ``OUT/ptbxl``."""
    import pandas as pd

    from builder_fixtures import make_ptbxl_subset
    from tfrecords_builder import build_dataset

    table = pd.read_csv(sample_data / "ptbxl" / "ptbxl_database.csv", usecols=["ecg_id"])
    source = make_ptbxl_subset(sample_data / "ptbxl", tmp_path_factory.mktemp("src") / "ptbxl",
                               table["ecg_id"][:PTBXL_BUILT_RECORDS].tolist())
    out = tmp_path_factory.mktemp("built")
    build_dataset("ptbxl", source, out, workers=0, progress=False, log=lambda _: None)
    return out / "ptbxl"


@pytest.fixture(scope="session")
def georgia_built(tmp_path_factory, sample_data) -> Path:
    """The bundled Georgia sample built once per session; returns ``OUT/georgia``."""
    from tfrecords_builder import build_dataset

    out = tmp_path_factory.mktemp("built")
    build_dataset("georgia", sample_data / "georgia", out, workers=0, progress=False,
                  log=lambda _: None)
    return out / "georgia"


#: The xdist group of every test that uses :func:`quick_demo` (one worker runs the demo once).
QUICK_DEMO_GROUP = "quick_demo"


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory):
    """``python -m ecg_tl_keras demo --quick --out OUT`` as a user runs it (a child process
    without the test session's TF_CPP_* settings, Python's default warnings), run once per
    test process; mark the tests that use it ``xdist_group(QUICK_DEMO_GROUP)``.

    Returns:
        ``(OUT, the finished process, its stdout and stderr as text)``.
    """
    out = tmp_path_factory.mktemp("quick_demo") / "demo"
    command = [sys.executable, "-m", "ecg_tl_keras", "demo", "--quick", "--out", str(out)]
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("TF_CPP") and key != "PYTHONWARNINGS"}
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=900)
    return out, result, (result.stdout + result.stderr).decode()


@pytest.fixture
def fast_backbone(tmp_path):
    """The fast test backbone (``tests/fast_backbone.py``) registered in this process for the
    test; yields the module that registers it (for ``--import`` in a child)."""
    from fast_backbone import registered

    with registered(tmp_path) as module:
        yield module


@pytest.fixture
def data_root(tmp_path, ptbxl_built, georgia_built) -> Path:
    """A ``--data-root`` folder holding the built PTB-XL and Georgia samples (links)."""
    root = tmp_path / "data"
    root.mkdir()
    for built in (ptbxl_built, georgia_built):
        (root / built.name).symlink_to(built, target_is_directory=True)
    return root


def comparable_run(run_dir: Path) -> tuple[dict, list[dict]]:
    """A finished run's ``metrics.json`` and ``history.csv`` rows without their timings: what
    two runs of the same settings (one interrupted and resumed, say) must share exactly."""
    import csv
    import json

    metrics = json.loads((run_dir / "metrics.json").read_text())
    with open(run_dir / "history.csv", newline="") as handle:
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]
    return {k: v for k, v in metrics.items() if k not in ("wall_time_s", "train_time_s")}, rows


def copy_with_a_damaged_shard(built: Path, destination: Path) -> Path:
    """A copy of the built dataset ``built`` at ``destination`` whose first training shard has
    one byte flipped in its middle (its CRC no longer matches); returns that shard's path."""
    shutil.copytree(built, destination)
    shard = sorted(destination.glob("train-*.tfrecord"))[0]
    content = bytearray(shard.read_bytes())
    content[len(content) // 2] ^= 0xFF
    shard.write_bytes(bytes(content))
    return shard


#: A user's module registering a metric (the Brier score, lower is better).
BRIER_MODULE = '''"""A user's metric: the Brier score (mean squared error of the probabilities)."""
import numpy as np

from ecg_tl_keras.metrics import register_metric


def brier(y_true, y_prob):
    return float(np.mean((y_prob - y_true) ** 2))


register_metric("brier", brier, higher_is_better=False)
'''


@pytest.fixture
def brier_module(tmp_path):
    """The path of a module registering the metric ``brier`` (loaded with ``--import``);
    unregistered and unloaded after."""
    import sys

    from ecg_tl_keras.metrics import METRICS, unregister_metric

    path = tmp_path / "user_brier.py"
    path.write_text(BRIER_MODULE)
    yield path
    if "brier" in METRICS:
        unregister_metric("brier")
    sys.modules.pop("user_brier", None)
