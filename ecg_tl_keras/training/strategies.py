"""Fine-tuning strategies (``--finetune``): what trains, and at which rate, epoch by epoch.

A strategy is a function ``(n_stages, epochs) -> [Phase, ...]``: from each phase's
``start_epoch`` on, the ``stages`` backbone stages nearest the output train (None: the
whole backbone; the new head always trains) and the learning rate is multiplied by
``lr_factor`` (through the optimizer's schedule, so it composes with any schedule).
Phases depend only on the epoch number, so a resumed run is in the same phase as an
uninterrupted one. Built in, all starting from a checkpoint whose head is replaced:

- ``full`` (the study's): every layer trains at ``lr`` from the first epoch.
- ``linear``: the backbone stays frozen (BatchNorm in inference mode); only the head trains.
- ``gradual``: the epochs are split into ``S + 1`` equal phases, ``S`` being the number of
  backbone stages. Phase 0 trains the head alone at ``lr``; phase ``k`` also trains the
  ``k`` stages nearest the output, at ``lr * GRADUAL_LR_FACTOR``. Needs ``epochs >= S + 1``.
- ``lp-ft`` (Kumar et al., ICLR 2022): a linear probe (head alone, at ``lr``) for the first
  ``LPFT_PROBE_SHARE`` of the epochs, then the whole network at ``lr * LPFT_LR_FACTOR``.
  The probe length is fixed in advance (not detected from the loss) so that a resumed run
  switches at the same epoch. Needs ``epochs >= 2``.

Add one with :func:`register_finetune_strategy`. This module does not import TensorFlow.

Example:
    >>> [(p.start_epoch, p.stages, p.lr_factor) for p in finetune_phases("lp-ft", 5, 10)]
    [(0, 0, 1.0), (5, None, 0.1)]
"""

from __future__ import annotations

import dataclasses
from typing import Callable

GRADUAL_LR_FACTOR = 0.1
LPFT_LR_FACTOR = 0.1
LPFT_PROBE_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class Phase:
    """From ``start_epoch`` (0-based): ``stages`` trained (None: all), rate times ``lr_factor``."""

    start_epoch: int
    stages: int | None
    lr_factor: float = 1.0


Strategy = Callable[[int, int], "list[Phase]"]
_STRATEGIES: dict[str, Strategy] = {}


def register_finetune_strategy(name: str) -> Callable[[Strategy], Strategy]:
    """Registers ``fn(n_stages, epochs) -> [Phase, ...]`` as ``--finetune name``.

    Example:
        >>> @register_finetune_strategy("head-then-all")
        ... def head_then_all(n_stages, epochs):
        ...     return [Phase(0, 0), Phase(1, None, 0.5)]
        >>> "head-then-all" in strategy_names()
        True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a strategy name must be a non-empty string, got {name!r}")

    def register(fn: Strategy) -> Strategy:
        _STRATEGIES[name] = fn
        return fn

    return register


def strategy_names() -> tuple[str, ...]:
    """The registered strategy names, built-in first.

    Example:
        >>> strategy_names()[:4]
        ('full', 'linear', 'gradual', 'lp-ft')
    """
    return tuple(_STRATEGIES)


def finetune_phases(name: str, n_stages: int, epochs: int) -> list[Phase]:
    """The phases of strategy ``name`` for a backbone of ``n_stages`` stages.

    Raises:
        ValueError: unknown strategy, too few epochs, or malformed phases.

    Example:
        >>> [(p.start_epoch, p.stages) for p in finetune_phases("gradual", 2, 7)]
        [(0, 0), (2, 1), (4, 2)]
    """
    if name not in _STRATEGIES:
        raise ValueError(f"unknown fine-tuning strategy {name!r}; available: "
                         f"{', '.join(_STRATEGIES)}")
    phases = list(_STRATEGIES[name](n_stages, epochs))
    starts = [phase.start_epoch for phase in phases]
    if not phases or starts[0] != 0 or starts != sorted(set(starts)):
        raise ValueError(f"strategy {name!r} must give phases with increasing start epochs "
                         f"beginning at 0, got {starts}")
    return phases


@register_finetune_strategy("full")
def _full(n_stages: int, epochs: int) -> list[Phase]:
    return [Phase(0, None)]


@register_finetune_strategy("linear")
def _linear(n_stages: int, epochs: int) -> list[Phase]:
    return [Phase(0, 0)]


@register_finetune_strategy("gradual")
def gradual_phases(n_stages: int, epochs: int) -> list[Phase]:
    """The phases of ``--finetune gradual`` (see the module docstring).

    Raises:
        ValueError: fewer epochs than phases.

    Example:
        >>> [(p.start_epoch, p.stages, p.lr_factor) for p in gradual_phases(1, 2)]
        [(0, 0, 1.0), (1, 1, 0.1)]
    """
    phases = n_stages + 1
    if epochs < phases:
        raise ValueError(
            f"--finetune gradual needs at least {phases} epochs for this backbone "
            f"(head alone, then {n_stages} stage(s) unfrozen one by one); got {epochs}"
        )
    return [Phase((k * epochs) // phases, k, 1.0 if k == 0 else GRADUAL_LR_FACTOR)
            for k in range(phases)]


@register_finetune_strategy("lp-ft")
def lpft_phases(n_stages: int, epochs: int) -> list[Phase]:
    """The phases of ``--finetune lp-ft``: linear probe, then the whole network.

    Raises:
        ValueError: fewer than 2 epochs.

    Example:
        >>> [(p.start_epoch, p.stages) for p in lpft_phases(5, 3)]
        [(0, 0), (1, None)]
    """
    if epochs < 2:
        raise ValueError(f"--finetune lp-ft needs at least 2 epochs (probe, then the whole "
                         f"network); got {epochs}")
    probe = min(epochs - 1, max(1, int(epochs * LPFT_PROBE_SHARE)))
    return [Phase(0, 0), Phase(probe, None, LPFT_LR_FACTOR)]
