"""Simulated studies with the real grid's sharing, as result-file dicts and as arrays.

The grid: 3 upstream and 5 downstream datasets (the upstreams among them; no fine-tune onto its
own upstream), 6 models (3 CNNs, 3 RNNs). A scratch run (downstream, model, seed) is the
partner of every fine-tune onto that downstream; a pre-train (upstream, model, seed) is the
start of every fine-tune from it, and is itself the scratch run on its upstream dataset (one
run, used twice). Scores: scratch ``0.6 + sd * z``; fine-tune ``0.6 + effect[downstream] +
pretrain + sd * z``, where the pre-train's effect is half its own deviation as a scratch run,
shared by every fine-tune from it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

from ecg_tl_keras.study.stats import t_p_values

UPSTREAMS = ("ptbxl", "cpsc2018", "georgia")
DOWNSTREAMS = ("ptbxl", "cpsc2018", "georgia", "ptb", "ribeiro")
MODELS = ("resnet1d18", "resnet1d50", "resnet1d101", "lstm", "bilstm", "gru")
PAIRS = [(u, d) for u in UPSTREAMS for d in DOWNSTREAMS if u != d]
SD = 0.02


def simulate(rng: np.random.Generator, studies: int, seeds: int,
             effect: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scratch scores (studies, downstream, model, seed) and fine-tune scores
    (studies, pair, model, seed)."""
    shape = (studies, len(MODELS), seeds)
    scratch = 0.6 + SD * rng.standard_normal((studies, len(DOWNSTREAMS)) + shape[1:])
    pretrain = 0.5 * (scratch[:, [DOWNSTREAMS.index(u) for u in UPSTREAMS]] - 0.6)
    shift = np.array([(effect or {}).get(d, 0.0) for _, d in PAIRS])
    finetune = (0.6 + shift[None, :, None, None]
                + pretrain[:, [UPSTREAMS.index(u) for u, _ in PAIRS]]
                + SD * rng.standard_normal((studies, len(PAIRS)) + shape[1:]))
    return scratch, finetune


def gains_of(scratch: np.ndarray, finetune: np.ndarray) -> np.ndarray:
    """Paired gains (studies, pair, model, seed)."""
    return finetune - scratch[:, [DOWNSTREAMS.index(d) for _, d in PAIRS]]


def family_p_values(gains: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The report's tests on arrays: per comparison, per downstream, per upstream,
    convergence (here the same gains: one-epoch curves), CNNs vs RNNs. Returns the keys and
    the (studies, tests) p-values."""
    studies, _, models, seeds = gains.shape
    keys, columns = [], []
    for index, (up, down) in enumerate(PAIRS):
        for model_index, model in enumerate(MODELS):
            keys.append(f"comparison:{up}>{down}:{model}")
            columns.append(t_p_values(gains[:, index, model_index])[2])
    for name, field in [(d, 1) for d in DOWNSTREAMS] + [(u, 0) for u in UPSTREAMS]:
        chosen = [i for i, pair in enumerate(PAIRS) if pair[field] == name]
        if not chosen:
            continue
        keys.append(f"{'downstream' if field else 'upstream'}:{name}")
        clusters = gains[:, chosen].mean(axis=1).reshape(studies, models * seeds)
        columns.append(t_p_values(clusters)[2])
    clusters = gains.mean(axis=1)  # (studies, model, seed): all pairs of a model and seed
    keys.append("convergence")
    columns.append(t_p_values(clusters.reshape(studies, -1))[2])
    keys.append("families:cnn-rnn")
    cnn, rnn = clusters[:, :3].reshape(studies, -1), clusters[:, 3:].reshape(studies, -1)
    columns.append(scipy_stats.ttest_ind(cnn, rnn, axis=1, equal_var=False).pvalue)
    return keys, np.stack(columns, axis=1)


def holm_rows(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values of each row (no NaN)."""
    order = np.argsort(p_values, axis=1)
    ranked = np.take_along_axis(p_values, order, axis=1)
    count = p_values.shape[1]
    adjusted = np.minimum(np.maximum.accumulate(ranked * (count - np.arange(count)), axis=1), 1)
    result = np.empty_like(adjusted)
    np.put_along_axis(result, order, adjusted, axis=1)
    return result


def result_files(scratch: np.ndarray, finetune: np.ndarray, study: int = 0) -> list[dict]:
    """One simulated study as the result-file dicts ``study report`` reads."""
    results = []
    seeds = scratch.shape[-1]

    def result(kind, dataset, model, seed, score, upstream=None):
        key = (f"{kind}__{dataset if upstream is None else f'{upstream}-to-{dataset}'}"
               f"__{model}__seed{seed}")
        return {"format": 1,
                "cell": {"key": key, "kind": kind, "roles": [kind], "upstream": upstream,
                         "dataset": dataset, "model": model, "variant": {}, "seed": seed,
                         "train_size": None, "select_on": "val"},
                "metrics": {"test_weighted_f1": float(score), "best_epoch": 1,
                            "selection_metric": "val_weighted_f1", "train_time_s": 10.0},
                "history": [{"val_weighted_f1": float(score), "test_weighted_f1": float(score)}],
                "selection": {"split": "val", "weighted_f1": float(score), "macro_auc": 0.9,
                              "constant_weighted_f1": 0.4},
                "baselines": {"constant": 0.4, "random": 0.3}}

    for d, dataset in enumerate(DOWNSTREAMS):
        for m, model in enumerate(MODELS):
            for seed in range(seeds):
                results.append(result("scratch", dataset, model, seed, scratch[study, d, m, seed]))
    for p, (up, down) in enumerate(PAIRS):
        for m, model in enumerate(MODELS):
            for seed in range(seeds):
                results.append(result("finetune", down, model, seed,
                                      finetune[study, p, m, seed], upstream=up))
    return results
