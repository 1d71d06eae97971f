"""The training budget of ``advise``'s fine-tune and from-scratch runs, fitted to the data.

The study's settings (batch 256, 100 epochs, Adam at lr 0.01) were chosen for tens of
thousands of records. On a small set they give one optimizer step per epoch: 130 training
records and ``--epochs 5`` are five steps, too few for the weights to move or for BatchNorm's
moving statistics to follow the data (ResNet1d's momentum 0.9 leaves 0.9^5 = 59% of their
initial values); on the demo's small set such runs predict alike for every record (macro AUC
0.5 on the selection split). The budget is therefore counted in optimizer steps:

* **batch size**: the study's 256, or less, so that an epoch has at least
  :data:`MIN_STEPS_PER_EPOCH` steps and the run at least :data:`MIN_TOTAL_STEPS`; never below
  :data:`MIN_BATCH_SIZE` (nor above the number of training records);
* **epochs**: the study's 100;
* **learning rate**: the study's 0.01 scaled by the square root of the batch size's share of
  256 (never above 0.01), the square-root scaling rule for Adam (Malladi et al., NeurIPS 2022),
  so a smaller batch takes smaller steps.

With the default epochs, on a set large enough for the study's batch (at least 8 x 256
training records) this is exactly the study's setting. A value the user gives
(``--batch-size``, ``--epochs``, ``--lr``) is kept as given; the others are fitted around it.

Example:
    >>> budget = fit_budget(130, epochs=5)
    >>> budget.batch_size, budget.steps_per_epoch, budget.total_steps, round(budget.lr, 5)
    (8, 17, 85, 0.00177)
    >>> fit_budget(17000).batch_size, fit_budget(17000).lr
    (256, 0.01)
"""

from __future__ import annotations

import dataclasses
import math

from ecg_tl_keras.training.config import TrainConfig

_STUDY = TrainConfig(data="-", model="-", out="-")
#: The study's settings, for data large enough to use them.
STUDY_BATCH_SIZE, STUDY_EPOCHS, STUDY_LR = _STUDY.batch_size, _STUDY.epochs, _STUDY.lr
#: Fewest optimizer steps in one epoch.
MIN_STEPS_PER_EPOCH = 8
#: Fewest optimizer steps in a whole run.
MIN_TOTAL_STEPS = 80
#: Smallest batch the rule chooses (BatchNorm statistics of fewer records are noise).
MIN_BATCH_SIZE = 8


@dataclasses.dataclass(frozen=True)
class Budget:
    """The settings of every fine-tune and scratch run of one ``advise``.

    Attributes:
        train_records: the records a run trains on (train minus the validation fold).
        batch_size, epochs, lr: the settings used.
        given: the names of the settings the user gave (kept as given).
    """

    train_records: int
    batch_size: int
    epochs: int
    lr: float
    given: tuple[str, ...] = ()

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_records / self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def to_json(self) -> dict:
        """The fields and the step counts, for ``advice.json``."""
        return {**dataclasses.asdict(self), "given": list(self.given),
                "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps}

    @classmethod
    def from_json(cls, stored: dict) -> "Budget":
        """The budget :meth:`to_json` stored."""
        return cls(stored["train_records"], stored["batch_size"], stored["epochs"],
                   stored["lr"], tuple(stored["given"]))

    def short(self) -> str:
        """``batch 16, 5 epochs, 45 optimizer steps, learning rate 0.0025``."""
        return (f"batch {self.batch_size}, {_count(self.epochs, 'epoch')}, "
                f"{_count(self.total_steps, 'optimizer step')}, learning rate {self.lr:.3g}")

    def text(self) -> str:
        """The budget and where each value comes from, in one sentence for ``advice.md``."""
        return (f"{self.train_records} training records, batch {self.batch_size} "
                f"({self._origin('batch_size', self._batch_rule())}), {self.epochs} epochs "
                f"({self._origin('epochs', 'the study default')}): "
                f"{_count(self.steps_per_epoch, 'optimizer step')} per epoch, "
                f"{self.total_steps} in all; learning rate "
                f"{self.lr:.3g} ({self._origin('lr', self._lr_rule())})")

    def _origin(self, name: str, rule: str) -> str:
        return f"--{name.replace('_', '-')}" if name in self.given else rule

    def _batch_rule(self) -> str:
        return (f"the study's {STUDY_BATCH_SIZE} or less, for at least {MIN_STEPS_PER_EPOCH} "
                f"steps per epoch and {MIN_TOTAL_STEPS} in all; never below {MIN_BATCH_SIZE}")

    def _lr_rule(self) -> str:
        return (f"the study's {STUDY_LR:g} x sqrt(batch / {STUDY_BATCH_SIZE}), square-root "
                f"scaling for Adam")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def fit_budget(train_records: int, *, batch_size: int | None = None, epochs: int | None = None,
               lr: float | None = None) -> Budget:
    """The budget for ``train_records`` records; values given are kept, None ones fitted.

    Args:
        train_records: records a run trains on.
        batch_size, epochs, lr: the user's values, or None for the rule's.

    Raises:
        ValueError: ``train_records`` below 1.

    Example:
        >>> fit_budget(130).batch_size  # 100 epochs: 8 steps per epoch suffice
        16
        >>> fit_budget(130, batch_size=256).text().split(": ")[1][:28]
        '1 optimizer step per epoch, '
    """
    if not isinstance(train_records, int) or train_records < 1:
        raise ValueError(f"the training budget needs at least 1 training record, "
                         f"got {train_records!r}")
    given = tuple(name for name, value in (("batch_size", batch_size), ("epochs", epochs),
                                           ("lr", lr)) if value is not None)
    epochs = STUDY_EPOCHS if epochs is None else epochs
    if batch_size is None:
        steps_wanted = max(MIN_STEPS_PER_EPOCH, math.ceil(MIN_TOTAL_STEPS / epochs))
        batch_size = min(STUDY_BATCH_SIZE, train_records,
                         max(MIN_BATCH_SIZE, train_records // steps_wanted))
    if lr is None:
        lr = STUDY_LR * math.sqrt(min(batch_size, STUDY_BATCH_SIZE) / STUDY_BATCH_SIZE)
    return Budget(train_records, batch_size, epochs, lr, given)
