"""A linear probe on frozen features: logistic regression per label, regularization chosen on val.

The probe is what ``--finetune linear`` trains (a new sigmoid head on a
frozen backbone, BatchNorm in inference mode), fitted in closed form by
scikit-learn on features computed once, so it takes seconds instead of
epochs. The inverse regularization ``C`` is chosen by weighted F1 on the
validation fold; the test split is only reported.

Example:
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, size=(120, 2))
>>> x = y + 0.3 * rng.normal(size=(120, 2))
>>> result = linear_probe(x[:80], y[:80], x[80:100], y[80:100], x[100:], y[100:])
>>> result.val_weighted_f1 > 0.8, result.val_macro_auc > 0.9
(True, True)
"""

from __future__ import annotations

import dataclasses
import math
import warnings

from ecg_tl_keras.metrics import macro_auc, weighted_f1

C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """A fitted probe's scores.

    Attributes:
        val_weighted_f1: weighted F1 on the validation fold at the chosen ``c``.
        test_weighted_f1: weighted F1 on the test split at the chosen ``c`` (reported only).
        c: the chosen inverse regularization strength.
        val_macro_auc: macro ROC AUC on the validation fold at the chosen ``c`` (NaN when no
            label has both classes there): with ``val_weighted_f1``, what tells whether the
            probe learned (:func:`ecg_tl_keras.study.learning.did_not_learn`).
    """

    val_weighted_f1: float
    test_weighted_f1: float
    c: float
    val_macro_auc: float = math.nan


def _fit_predict(c: float, x_train, y_train, x_eval: list) -> list:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), OneVsRestClassifier(
        LogisticRegression(C=c, max_iter=1000)))
    with warnings.catch_warnings():  # a label absent from train is predicted constant, as it should
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x_train, y_train)
        return [model.predict_proba(x) for x in x_eval]


def linear_probe(x_train, y_train, x_val, y_val, x_test, y_test, c_grid=C_GRID) -> ProbeResult:
    """Fits one logistic regression per label for each ``C`` and keeps the best on val.

    Args:
        x_train, x_val, x_test: frozen features, ``(records, d)``.
        y_train, y_val, y_test: multi-hot labels, ``(records, labels)``.
        c_grid: inverse regularization strengths tried.

    Raises:
        ValueError: an empty split.
    """
    for name, x in (("train", x_train), ("val", x_val), ("test", x_test)):
        if not len(x):
            raise ValueError(f"the linear probe needs records in its {name} split")
    best = None
    for c in c_grid:
        val_prob, test_prob = _fit_predict(c, x_train, y_train, [x_val, x_test])
        score = weighted_f1(y_val, val_prob)
        if best is None or score > best.val_weighted_f1:
            auc = macro_auc(y_val, val_prob)["macro_auc"]
            best = ProbeResult(score, weighted_f1(y_test, test_prob), c,
                               math.nan if auc is None else auc)
    return best
