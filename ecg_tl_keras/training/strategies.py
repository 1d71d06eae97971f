"""Fine-tuning strategies (``--finetune``): what trains, and at which rate, epoch by epoch.

A strategy is a function ``(n_stages, epochs) -> [Phase, ...]``: from each phase's
``start_epoch`` on, the ``stages`` backbone stages nearest the output train (None: the
whole backbone; the new head always trains) and the learning rate is multiplied by
``lr_factor`` (through the optimizer's schedule, so it composes with any schedule).
A phase may also end early, once it has converged (``until``, a :class:`Convergence`
rule on the monitored loss of its epochs): the next phase then starts at the following
epoch, and its ``start_epoch`` is the latest it may start. Phase starts are a function
of the logged losses only (:func:`phase_starts`), which are saved with each backup, so a
resumed run switches at the same epoch as an uninterrupted one. Built in, all starting
from a checkpoint whose head is replaced:

- ``full`` (the study's): every layer trains at ``lr`` from the first epoch.
- ``linear``: the backbone stays frozen (BatchNorm in inference mode); only the head trains.
- ``gradual``: the epochs are split into ``S + 1`` equal phases, ``S`` being the number of
  backbone stages. Phase 0 trains the head alone at ``lr``; phase ``k`` also trains the
  ``k`` stages nearest the output, at ``lr * GRADUAL_LR_FACTOR``. Needs ``epochs >= S + 1``.
- ``lp-ft`` (Kumar et al., ICLR 2022): a linear probe (head alone, at ``lr``) until the
  head converges, then the whole network at ``lr * LPFT_LR_FACTOR``. The probe has
  converged after the first epoch at which the loss (the trainer's: the validation
  split's, or the training loss when no validation split is held out) has not improved
  on the probe's best by more than ``LPFT_TOLERANCE`` (relative) for ``LPFT_PATIENCE``
  epochs in a row. It lasts at most ``LPFT_MAX_PROBE_SHARE`` of the epochs, and at least
  one epoch, leaving at least one for the whole network. Needs ``epochs >= 2``.

Add one with :func:`register_finetune_strategy` (a name is registered once; ``--help`` lists
every registered strategy). This module does not import TensorFlow.

Example:
    >>> phases = finetune_phases("lp-ft", 5, 10)
    >>> [(p.start_epoch, p.stages, p.lr_factor) for p in phases]
    [(0, 0, 1.0), (5, None, 0.1)]
    >>> phase_starts(phases, [0.9, 0.5, 0.4996, 0.4999])  # the probe converged in 4 epochs
    [0, 4]
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

from tfrecords_builder.registry import Registry

GRADUAL_LR_FACTOR = 0.1
LPFT_LR_FACTOR = 0.1
LPFT_TOLERANCE = 1e-3
LPFT_PATIENCE = 2
LPFT_MAX_PROBE_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class Convergence:
    """A phase has converged when its loss stopped improving (as Keras ``EarlyStopping``).

    An epoch improves when its loss is below the best of the phase's earlier epochs by
    more than ``tolerance`` times that best (a NaN loss never improves); the phase has
    converged after ``patience`` epochs in a row that did not improve. The defaults are
    lp-ft's (``LPFT_TOLERANCE``, ``LPFT_PATIENCE``).

    Raises:
        ValueError: a negative tolerance, or a patience that is not an integer >= 1.

    Example:
        >>> rule = Convergence(tolerance=0.01, patience=1)
        >>> rule.converged([1.0, 0.5]), rule.converged([1.0, 0.5, 0.499])
        (False, True)
    """

    tolerance: float = LPFT_TOLERANCE
    patience: int = LPFT_PATIENCE

    def __post_init__(self):
        if not self.tolerance >= 0:
            raise ValueError(f"a convergence tolerance must be >= 0, got {self.tolerance}")
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"a convergence patience must be an integer >= 1, "
                             f"got {self.patience!r}")

    def converged(self, losses: Sequence[float]) -> bool:
        """Whether a phase whose epochs had ``losses`` (in order) has converged after the last."""
        best, waited = math.inf, 0
        for loss in losses:
            if self._improves(loss, best):
                best, waited = loss, 0
            else:
                waited += 1
        return waited >= self.patience

    def _improves(self, loss: float, best: float) -> bool:
        if math.isinf(best):  # no finite loss yet
            return loss < best
        return loss < best - self.tolerance * abs(best)


@dataclasses.dataclass(frozen=True)
class Phase:
    """From ``start_epoch`` (0-based): ``stages`` trained (None: all), rate times ``lr_factor``.

    With ``until``, the phase ends early, after the first epoch at which it has
    converged; the next phase's ``start_epoch`` is then the latest that phase starts.
    """

    start_epoch: int
    stages: int | None
    lr_factor: float = 1.0
    until: Convergence | None = None


Strategy = Callable[[int, int], "list[Phase]"]
#: The registered strategies: name -> ``fn(n_stages, epochs) -> [Phase, ...]`` (the
#: entries carry no spec: a strategy is its function).
STRATEGIES: Registry[Strategy] = Registry(
    "fine-tuning strategy",
    hint="(a strategy registered in your own module needs `ecg-tl-keras --import MODULE`)")


def register_finetune_strategy(name: str, *,
                               override: bool = False) -> Callable[[Strategy], Strategy]:
    """Registers ``fn(n_stages, epochs) -> [Phase, ...]`` as ``--finetune name``.

    Raises:
        ValueError: an empty name, or one already registered (unless ``override=True``;
            a built-in strategy is never replaced).

    Example:
        >>> @register_finetune_strategy("head-then-all")
        ... def head_then_all(n_stages, epochs):
        ...     return [Phase(0, 0), Phase(1, None, 0.5)]
        >>> "head-then-all" in strategy_names()
        True
        >>> unregister_finetune_strategy("head-then-all")  # leave the registry as it was
    """
    STRATEGIES.check_name(name)

    def register(fn: Strategy) -> Strategy:
        return STRATEGIES.register(name, fn, override=override)

    return register


def unregister_finetune_strategy(name: str) -> None:
    """Removes a strategy added with :func:`register_finetune_strategy`.

    Raises:
        ValueError: an unknown or built-in strategy.
    """
    STRATEGIES.unregister(name)


def strategy_names() -> tuple[str, ...]:
    """The registered strategy names, built-in first.

    Example:
        >>> strategy_names()[:4]
        ('full', 'linear', 'gradual', 'lp-ft')
    """
    return STRATEGIES.names()


def finetune_phases(name: str, n_stages: int, epochs: int) -> list[Phase]:
    """The phases of strategy ``name`` for a backbone of ``n_stages`` stages.

    Raises:
        ValueError: unknown strategy, too few epochs, or malformed phases.

    Example:
        >>> [(p.start_epoch, p.stages) for p in finetune_phases("gradual", 2, 7)]
        [(0, 0), (2, 1), (4, 2)]
    """
    phases = list(STRATEGIES.lookup(name)(n_stages, epochs))
    starts = [phase.start_epoch for phase in phases]
    if not phases or starts[0] != 0 or starts != sorted(set(starts)):
        raise ValueError(f"strategy {name!r} must give phases with increasing start epochs "
                         f"beginning at 0, got {starts}")
    if phases[-1].until is not None:
        raise ValueError(f"strategy {name!r}: its last phase cannot end on convergence "
                         f"(`until`): no phase follows it")
    return phases


def phase_starts(phases: Sequence[Phase], losses: Sequence[float]) -> list[int]:
    """The epoch at which each phase starts, given the monitored loss of each epoch run so far.

    A phase with ``until`` ends after the first of its epochs at which its rule holds
    on the losses of its epochs, unless the next phase's ``start_epoch`` comes first.
    A start the losses do not decide yet is the phase's ``start_epoch``.

    Args:
        phases: the strategy's phases (from :func:`finetune_phases`).
        losses: the monitored loss of epochs 0, 1, ... (all the epochs run so far).

    Example:
        >>> phases = [Phase(0, 0, until=Convergence(0.01, 1)), Phase(3, None, 0.1)]
        >>> phase_starts(phases, [1.0]), phase_starts(phases, [1.0, 0.999])
        ([0, 3], [0, 2])
    """
    starts = [phase.start_epoch for phase in phases]
    for index, phase in enumerate(phases[:-1]):
        if phase.until is None:
            continue
        first = starts[index]
        for end in range(first + 1, min(len(losses), starts[index + 1] - 1) + 1):
            if phase.until.converged(losses[first:end]):
                starts[index + 1] = end
                break
    return starts


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
    """The phases of ``--finetune lp-ft``: linear probe until converged, then the whole network.

    The second phase's ``start_epoch`` is the probe's cap (see the module docstring).

    Raises:
        ValueError: fewer than 2 epochs.

    Example:
        >>> [(p.start_epoch, p.stages, p.until) for p in lpft_phases(5, 3)]
        [(0, 0, Convergence(tolerance=0.001, patience=2)), (1, None, None)]
    """
    if epochs < 2:
        raise ValueError(f"--finetune lp-ft needs at least 2 epochs (probe, then the whole "
                         f"network); got {epochs}")
    cap = min(epochs - 1, max(1, int(epochs * LPFT_MAX_PROBE_SHARE)))
    return [Phase(0, 0, until=Convergence(LPFT_TOLERANCE, LPFT_PATIENCE)),
            Phase(cap, None, LPFT_LR_FACTOR)]


STRATEGIES.mark_builtin()
