"""Whether a training run learned: one rule for the study's report and ``advise``.

A run *did not learn* when its selected epoch, on the **selection split** (never the test
set), neither beats the best constant predictor by sample-weighted F1 nor ranks the records
better than chance by macro AUC (above 0.5 by :data:`AUC_MARGIN`). Requiring both keeps a run
that ranks well but is badly thresholded (macro AUC 0.97, F1 below the constant predictor)
among the runs that learned.

Example:
    >>> did_not_learn(weighted_f1=0.41, constant_f1=0.54, macro_auc=0.97)
    False
    >>> did_not_learn(weighted_f1=0.41, constant_f1=0.54, macro_auc=0.52)
    True
    >>> did_not_learn(weighted_f1=0.60, constant_f1=0.54, macro_auc=float("nan"))
    False
"""

from __future__ import annotations

import math

#: How far above 0.5 a selection-split macro AUC must be for a run to count as ranking better
#: than chance.
AUC_MARGIN = 0.05

#: The rule, in words, for reports and advice.
RULE = (f"a run did not learn when its selected epoch, on the selection split, neither beats "
        f"the best constant predictor by weighted F1 nor has a macro AUC above "
        f"{0.5 + AUC_MARGIN:.2f} (0.5 + {AUC_MARGIN})")


def did_not_learn(weighted_f1: float, constant_f1: float, macro_auc: float, *,
                  auc_margin: float = AUC_MARGIN) -> bool:
    """True when a run's selected epoch shows no skill on the selection split.

    Args:
        weighted_f1: the selected epoch's sample-weighted F1 on the selection split.
        constant_f1: the best constant predictor's weighted F1 on the same split.
        macro_auc: the selected epoch's macro ROC AUC on the same split; NaN (not computed)
            counts as no evidence of ranking.
        auc_margin: how far above 0.5 the AUC must be.

    Raises:
        ValueError: ``weighted_f1`` or ``constant_f1`` is NaN (nothing to judge), or
            ``auc_margin`` is outside [0, 0.5).
    """
    if not 0 <= auc_margin < 0.5:
        raise ValueError(f"auc_margin must be in [0, 0.5), got {auc_margin}")
    if math.isnan(weighted_f1) or math.isnan(constant_f1):
        raise ValueError(f"did_not_learn needs both weighted F1 values, got "
                         f"{weighted_f1} and {constant_f1}")
    beats_constant = weighted_f1 > constant_f1
    ranks = not math.isnan(macro_auc) and macro_auc > 0.5 + auc_margin
    return not (beats_constant or ranks)
