"""LEEP (Nguyen et al., ICML 2020) for multi-label sources and targets, as MELEP.

MELEP (Nguyen, Duong & Do, J Healthc Inform Res 2024) treats each sigmoid
output ``z`` of the pre-trained model as a binary dummy label and each target
label ``y`` as a binary task. For every pair ``(y, z)`` it builds LEEP's
empirical joint distribution ``P(y, z) = 1/n sum_i theta_i(z) [y_i = y]``
over ``y, z in {0, 1}``, the conditional ``P(y | z)``, and the expected log of
the empirical predictor, ``1/n sum_i log sum_z P(y_i | z) theta_i(z)``
(a log-likelihood, at most 0). MELEP is minus the mean of these over the
source outputs, averaged over target labels weighted by their prevalence.

MELEP is a negative log-likelihood: **lower means better transfer**.

Example:
>>> import numpy as np
>>> y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
>>> informative = np.array([[0.9], [0.8], [0.1], [0.2]])
>>> uninformative = np.array([[0.5], [0.5], [0.5], [0.5]])
>>> melep(informative, y) < melep(uninformative, y)
True
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-12


def pairwise_leep(source_probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """LEEP of every (target label, source output) pair, shape ``(labels, outputs)``.

    Args:
        source_probs: the pre-trained model's sigmoid outputs, ``(records, outputs)``.
        targets: the target's multi-hot labels, ``(records, labels)``.

    Returns:
        Expected log empirical predictions (<= 0; higher is better).
    """
    theta = np.clip(np.asarray(source_probs, np.float64), 0.0, 1.0)
    y = np.asarray(targets, np.float64)
    if theta.ndim != 2 or y.ndim != 2 or len(theta) != len(y) or not len(y):
        raise ValueError(f"source_probs {theta.shape} and targets {y.shape} must be "
                         f"(records, outputs) and (records, labels) with the same records")
    n = len(y)
    # joint[a, b, label, output] = P(y = a, z = b) for each (label, output) pair
    z_given = np.stack([1.0 - theta, theta])            # (2, records, outputs)
    y_given = np.stack([1.0 - y, y])                    # (2, records, labels)
    joint = np.einsum("arl,bro->ablo", y_given, z_given) / n
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), _TINY)  # P(y | z)
    # empirical prediction for each record's own label: sum_b P(y_i | z = b) theta_i(b)
    prediction = np.einsum("arl,ablo,bro->rlo", y_given, conditional, z_given)
    return np.log(np.maximum(prediction, _TINY)).mean(axis=0)


def melep(source_probs: np.ndarray, targets: np.ndarray) -> float:
    """MELEP of a pre-trained model's outputs on a target's training records (lower is better).

    Target labels with no positive record get weight 0 (their prevalence).

    Raises:
        ValueError: shapes that do not match, or no positive label at all.
    """
    y = np.asarray(targets, np.float64)
    per_label = -pairwise_leep(source_probs, y).mean(axis=1)
    weights = y.mean(axis=0)
    if not weights.sum() > 0:
        raise ValueError("MELEP needs at least one positive label in the target records")
    return float(np.average(per_label, weights=weights))
