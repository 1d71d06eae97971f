"""Training in separate processes: determinism of the command, MirroredStrategy, multi-worker."""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fast_backbone import NAME as FAST_MODEL
from fast_backbone import registered, write_module

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# 96 training records and a backbone whose epochs take milliseconds (with dropout): determinism
# and replicas show on any amount of data and any model.
TRAIN = ["--model", FAST_MODEL, "--epochs", "2", "--batch-size", "64", "--train-size", "96"]
TWO_CPU_DEVICES = (
    "import sys, tensorflow as tf; "
    "cpu = tf.config.list_physical_devices('CPU')[0]; "
    "devices = [tf.config.LogicalDeviceConfiguration()] * 2; "
    "tf.config.set_logical_device_configuration(cpu, devices); "
    "from ecg_tl_keras.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def imports(tmp_path):
    """``--import`` of the module registering ``FAST_MODEL``, for the command lines below."""
    return ["--import", str(write_module(tmp_path))]


def _start(args, extra_env=None, python_code=None):
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(PROJECT_ROOT),
        **(extra_env or {}),
    }
    command = (
        [sys.executable, "-c", python_code, *args]
        if python_code
        else [sys.executable, "-m", "ecg_tl_keras.cli", *args]
    )
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def _metrics(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in ("wall_time_s", "train_time_s")}


def _losses(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def test_same_command_gives_same_metrics(ptbxl_built, tmp_path, imports):
    from ecg_tl_keras.cli import main

    runs = [tmp_path / "first", tmp_path / "second"]
    command = [["train", "--data", str(ptbxl_built), "--out", str(run), *TRAIN] for run in runs]
    child = _start([*imports, *command[0]])
    # the second run in this process: it shares nothing with the child, and whatever this
    # process ran before must not change its result either
    with registered(tmp_path):
        assert main(command[1]) == 0
    _finish(child)
    assert _metrics(runs[0]) == _metrics(runs[1])
    assert _losses(runs[0]) == _losses(runs[1])
    with (
        np.load(runs[0] / "predictions_test.npz") as first,
        np.load(runs[1] / "predictions_test.npz") as second,
    ):
        np.testing.assert_array_equal(first["y_prob"], second["y_prob"])


def test_mirrored_strategy_on_two_cpu_devices(ptbxl_built, tmp_path, imports):
    output = _finish(
        _start(
            [
                *imports,
                "train",
                "--data",
                str(ptbxl_built),
                "--out",
                str(tmp_path / "run"),
                *TRAIN,
                "--strategy",
                "mirrored",
            ],
            python_code=TWO_CPU_DEVICES,
        )
    )
    assert "2 replica(s), global batch 64" in output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["replicas"] == 2
    assert len(_losses(tmp_path / "run")) == 2 and _metrics(tmp_path / "run")["epochs"] == 2


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.slow
def test_multiworker_with_two_local_workers(ptbxl_built, tmp_path, imports):
    from ecg_tl_keras.training.checkpoints import load_checkpoint

    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            _start(
                [
                    *imports,
                    "train",
                    "--data",
                    str(ptbxl_built),
                    "--out",
                    str(tmp_path / "run"),
                    *TRAIN,
                    "--strategy",
                    "multiworker",
                ],
                {"TF_CONFIG": json.dumps(tf_config)},
            )
        )
    outputs = [_finish(process) for process in processes]
    assert "2 replica(s)" in outputs[0] and "best epoch" in outputs[0]
    assert "best epoch" not in outputs[1]  # only the chief reports
    chief, other = tmp_path / "run", tmp_path / "run" / "workers" / "worker-1"
    assert _metrics(chief)["epochs"] == 2
    assert _losses(chief) == _losses(other)  # synchronous training: both workers saw the same model
    chief_model, _ = load_checkpoint(chief / "best.keras")
    other_model, _ = load_checkpoint(other / "best.keras")
    for a, b in zip(chief_model.get_weights(), other_model.get_weights()):
        np.testing.assert_array_equal(a, b)
