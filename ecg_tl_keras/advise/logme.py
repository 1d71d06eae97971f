"""LogME (You et al., ICML 2021): the log marginal evidence of a linear model on frozen features.

For features ``F`` (records x d) and one target ``y``, LogME fits Bayesian
linear regression ``y ~ N(F w, 1/beta)``, ``w ~ N(0, 1/alpha)`` by
maximizing the evidence over ``alpha, beta`` (MacKay's fixed-point updates on
the SVD of ``F``) and returns the maximized log evidence per record. A
multi-label target is scored as the mean over its labels (0/1 targets), as in
the paper. **Higher means better transfer.**

Example:
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, size=(200, 2))
>>> useful = np.hstack([y + 0.1 * rng.normal(size=(200, 2)), rng.normal(size=(200, 6))])
>>> noise = rng.normal(size=(200, 8))
>>> logme(useful, y) > logme(noise, y)
True
"""

from __future__ import annotations

import numpy as np

MAX_ITERATIONS = 100
TOLERANCE = 1e-3


def _evidence(sigma: np.ndarray, projected: np.ndarray, residual_floor: float, n: int,
              d: int) -> float:
    """Maximized log evidence per record for one target.

    Args:
        sigma: squared singular values of the features (length k = min(n, d)).
        projected: the target projected on the left singular vectors (length k).
        residual_floor: the part of ``|y|^2`` outside the features' column space.
        n, d: records and feature dimensions.
    """
    alpha, beta = 1.0, 1.0
    x2 = projected ** 2
    for _ in range(MAX_ITERATIONS):
        t = alpha / beta
        gamma = float(np.sum(sigma / (sigma + t)))
        m2 = float(np.sum(sigma * x2 / (sigma + t) ** 2))
        res2 = float(np.sum(x2 / (1.0 + sigma / t) ** 2)) + residual_floor
        alpha = gamma / (m2 + 1e-5)
        beta = (n - gamma) / (res2 + 1e-5)
        if abs(alpha / beta - t) / t < TOLERANCE:
            break
    t = alpha / beta
    m2 = float(np.sum(sigma * x2 / (sigma + t) ** 2))
    res2 = float(np.sum(x2 / (1.0 + sigma / t) ** 2)) + residual_floor
    log_det = float(np.sum(np.log(alpha + beta * sigma))) + (d - len(sigma)) * np.log(alpha)
    evidence = (n * np.log(beta) + d * np.log(alpha) - n * np.log(2 * np.pi)
                - beta * res2 - alpha * m2 - log_det) / 2
    return float(evidence / n)


def logme(features: np.ndarray, targets: np.ndarray) -> float:
    """LogME of frozen features for a multi-label target (mean over labels; higher is better).

    Args:
        features: ``(records, d)`` frozen features of the target's training records.
        targets: ``(records, labels)`` multi-hot labels.

    Raises:
        ValueError: shapes that do not match.
    """
    f = np.asarray(features, np.float64)
    y = np.asarray(targets, np.float64)
    if f.ndim != 2 or y.ndim != 2 or len(f) != len(y) or not len(y):
        raise ValueError(f"features {f.shape} and targets {y.shape} must be (records, d) and "
                         f"(records, labels) with the same records")
    n, d = f.shape
    u, singular, _ = np.linalg.svd(f, full_matrices=False)
    sigma = singular ** 2
    keep = sigma > sigma.max(initial=0.0) * 1e-12
    u, sigma = u[:, keep], sigma[keep]
    scores = []
    for label in range(y.shape[1]):
        projected = u.T @ y[:, label]
        residual_floor = max(float(y[:, label] @ y[:, label] - projected @ projected), 0.0)
        scores.append(_evidence(sigma, projected, residual_floor, n, d))
    return float(np.mean(scores))
