"""The one registry type behind backbones, readers, fine-tuning strategies (and metrics)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ecg_tl_keras import cli
from ecg_tl_keras.models.registry import BACKBONES
from ecg_tl_keras.registry import Registry
from ecg_tl_keras.training.strategies import (
    STRATEGIES,
    Phase,
    finetune_phases,
    register_finetune_strategy,
    strategy_names,
    unregister_finetune_strategy,
)
from tfrecords_builder.readers import READERS


def test_a_duplicate_is_refused_in_one_line_unless_overridden():
    registry = Registry("widget")
    registry.register("a", 1, spec="first")
    with pytest.raises(ValueError) as error:
        registry.register("a", 2)
    assert str(error.value) == ("widget 'a' is already registered (1); "
                                "pass override=True to replace it")
    registry.register("a", 2, spec="second", override=True)
    assert registry["a"] == 2 and registry.spec("a") == "second"


def test_builtins_stay_and_unknown_names_list_the_entries():
    registry = Registry("widget", hint="(see the docs)")
    registry.register("a", 1)
    registry.mark_builtin()
    registry.register("b", 2)
    with pytest.raises(ValueError, match="built-in"):
        registry.unregister("a")
    with pytest.raises(ValueError, match="built in"):
        registry.register("a", 3, override=True)
    registry.unregister("b")
    with pytest.raises(ValueError, match=r"^unknown widget 'b'; available: a \(see the docs\)$"):
        registry.lookup("b")
    assert list(registry) == ["a"] and "b" not in registry and registry.describe() == "a"


def test_the_package_registries_share_the_type():
    for registry in (BACKBONES, READERS, STRATEGIES):
        assert isinstance(registry, Registry)
    assert BACKBONES.spec("resnet1d18").family == "cnn"
    assert {"ptbxl", "folder"} <= set(READERS) and READERS.entry("ptbxl").builtin


def test_the_registry_imports_without_tensorflow():
    code = ("import sys, tfrecords_builder.registry, tfrecords_builder.readers; "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


@pytest.fixture
def user_strategy():
    """A strategy registered by a user; removed afterwards."""
    def head_then_all(n_stages, epochs):
        return [Phase(0, 0), Phase(1, None, 0.5)]

    register_finetune_strategy("head-then-all")(head_then_all)
    yield head_then_all
    unregister_finetune_strategy("head-then-all")


def test_a_duplicate_strategy_is_refused(user_strategy):
    with pytest.raises(ValueError, match=r"fine-tuning strategy 'head-then-all' is already "
                                         r"registered .*override=True"):
        register_finetune_strategy("head-then-all")(lambda n_stages, epochs: [Phase(0, None)])
    with pytest.raises(ValueError, match="built in"):
        register_finetune_strategy("full", override=True)(user_strategy)
    assert [p.lr_factor for p in finetune_phases("head-then-all", 3, 4)] == [1.0, 0.5]


def test_train_help_lists_registered_strategies(user_strategy, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "fine-tuning strategy: full, linear, gradual, lp-ft, head-then-all" in help_text
    assert strategy_names()[-1] == "head-then-all"


@pytest.mark.parametrize("name", ["full", "linear", "gradual", "lp-ft"])
def test_the_builtin_strategies_pass_the_harness(name):
    from ecg_tl_keras.testing import check_strategy

    summary = check_strategy(name)
    assert len(summary) == 6 and all(phases[0][0] == 0 for phases in summary.values())


def test_a_strategy_with_a_bad_phase_is_named(user_strategy):
    from ecg_tl_keras.testing import check_strategy

    register_finetune_strategy("too-deep")(lambda n_stages, epochs: [Phase(0, n_stages + 1)])
    try:
        with pytest.raises(AssertionError, match=r"strategy 'too-deep' \(1 stages, 10 epochs\): "
                                                 r"stages must be None or 0-1, got 2"):
            check_strategy("too-deep")
    finally:
        unregister_finetune_strategy("too-deep")
