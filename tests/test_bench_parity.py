"""The parity benches' arithmetic: ``bench_train_command``'s ratios and must-show checks,
``bench_precision_backends``' per-round verdicts and ``profile_train_step``'s oneDNN log
summary (fast: no training; the benches themselves run for minutes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_precision_backends  # noqa: E402
import bench_train_command  # noqa: E402
import profile_train_step  # noqa: E402

MEDIANS = {"train_auto": 200.0, "train_float32": 140.0, "train_jax_auto": 120.0,
           "train_jax_float32": 110.0, "torch_float32": 130.0, "torch_bfloat16": 230.0}


def test_auto_is_compared_with_the_faster_pytorch_setting():
    ratios = bench_train_command.comparisons(MEDIANS, ["tensorflow", "jax"], ["auto", "float32"])
    assert ratios["train_auto_vs_torch_fastest"] == round(200 / 230, 3)
    assert ratios["train_jax_auto_vs_torch_fastest"] == round(120 / 230, 3)
    assert ratios["train_float32_vs_torch"] == round(140 / 130, 3)
    assert ratios["train_jax_auto_vs_train_jax_float32"] == round(120 / 110, 3)
    assert "train_float32_vs_torch_fastest" not in ratios  # the issue compares auto there

    checks = bench_train_command.must_show(MEDIANS)
    assert checks["backend"] == "tensorflow" and checks["torch_fastest"] == "torch_bfloat16"
    assert checks["auto_reached"] is False and checks["float32_reached"] is True
    faster_float32 = {**MEDIANS, "torch_bfloat16": 100.0}
    assert bench_train_command.must_show(faster_float32)["torch_fastest"] == "torch_float32"
    assert bench_train_command.must_show(faster_float32)["auto_reached"] is True
    assert bench_train_command.must_show({"train_auto": 1.0, "torch_float32": 1.0}) is None


def test_variant_names_keep_the_tensorflow_keys():
    assert bench_train_command.variant_name("tensorflow", "auto") == "train_auto"
    assert bench_train_command.variant_name("jax", "auto") == "train_jax_auto"


def test_a_mixed_policy_counts_as_faster_only_in_every_round():
    by_round = {"jax/resnet1d18/float32": [100.0, 100.0, 100.0],
                "jax/resnet1d18/mixed_bfloat16": [120.0, 90.0, 130.0],
                "tensorflow/resnet1d18/float32": [100.0, 100.0],
                "tensorflow/resnet1d18/mixed_bfloat16": [140.0, 101.0]}
    jax = bench_precision_backends.fastest_over_float32(
        by_round, "jax", "resnet1d18", ["float32", "mixed_bfloat16"])["mixed_bfloat16"]
    assert jax == {"ratio_by_round": [1.2, 0.9, 1.3], "median_ratio": 1.2,
                   "faster_every_round": False}
    tensorflow = bench_precision_backends.fastest_over_float32(
        by_round, "tensorflow", "resnet1d18", ["float32", "mixed_bfloat16"])
    assert tensorflow["mixed_bfloat16"]["faster_every_round"] is True
    assert bench_precision_backends.fastest_over_float32(
        by_round, "torch", "resnet1d18", ["float32", "mixed_bfloat16"]) == {}


def test_profile_summary_counts_only_executed_primitives():
    log = [
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,"
        "src:f32,,alg,mb256,30",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,"
        "forward_training,src:f32,,alg,mb256,10",
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32,,,2x3,5",
        "onednn_verbose,v1,primitive,create:cache_miss,cpu,reorder,jit:uni,undef,,,,,99",
        "some framework line",
    ]
    summary = profile_train_step.summarize(log, seconds=0.1, steps=1)
    assert summary["step_ms"] == 100.0 and summary["onednn_ms_per_step"] == 45.0
    assert summary["onednn_share"] == 0.45 and summary["outside_onednn_share"] == 0.55
    assert summary["by_kind"][0] == {"name": "convolution", "ms_per_step": 40.0, "share": 0.4}
    assert summary["by_kernel"][0]["name"] == "convolution jit:avx512_core backward_weights"
    assert summary["calls_per_step"] == {"convolution": 2, "reorder": 1}


@pytest.mark.parametrize("line", ["", "onednn_verbose,info,cpu,runtime:OpenMP",
                                  "onednn_verbose,v1,primitive,exec,cpu,reorder,x,y,z,notanumber"])
def test_profile_parser_skips_lines_that_are_not_timed_executions(line):
    assert profile_train_step.onednn_exec(line) is None
