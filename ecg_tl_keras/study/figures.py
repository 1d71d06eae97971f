"""The study's figures (PNG and SVG), drawn from the report's cell rows and gain table.

* Fig 2: per upstream dataset, mean test weighted F1 over the models for each downstream
  dataset, scratch vs fine-tune bars, with each model's point.
* Fig 3: fine-tune (y) vs scratch (x) weighted F1 per model and downstream dataset, with the
  identity line; CNNs filled markers, RNNs hollow.
* Fig 4: fine-tune minus scratch vs downstream train size (the size sweep), per model.
* Fig 5: test weighted F1 per epoch, scratch vs fine-tune, per upstream/downstream pair and model.

Example:
    >>> paths = draw_all(rows, gain_table, Path("report/figures"))  # doctest: +SKIP
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ecg_tl_keras.study.cells import model_family  # noqa: E402

SCRATCH_COLOR = "#8c8c8c"
FINETUNE_COLOR = "#1f77b4"
MODEL_MARKERS = {"resnet1d18": "o", "resnet1d50": "s", "resnet1d101": "D",
                 "lstm": "^", "bilstm": "v", "gru": "P"}


def draw_all(rows: Sequence[dict], gains: pd.DataFrame, folder: Path) -> list[Path]:
    """Draw the figures that the results allow and save each as PNG and SVG.

    Args:
        rows: the report's cell rows (``report.cell_rows``).
        gains: the fine-tune minus scratch table (``report.gain_table``).
        folder: where to write.

    Returns:
        The written files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    full = [r for r in rows if r["train_size"] is None]
    drawings = {
        "fig2_finetune_vs_scratch_by_upstream": fig2_bars(full),
        "fig3_finetune_vs_scratch_scatter": fig3_scatter(gains[gains["train_size"].isna()]),
        "fig4_gain_vs_train_size": fig4_size_sweep(gains[gains["train_size"].notna()]),
        "fig5_f1_per_epoch": fig5_curves(full),
    }
    paths = []
    for name, figure in drawings.items():
        if figure is None:
            continue
        for suffix in (".png", ".svg"):
            paths.append(folder / f"{name}{suffix}")
            figure.savefig(paths[-1], dpi=150, bbox_inches="tight")
        plt.close(figure)
    return paths


_SPARE_MARKERS = ("X", "P", "*", "h", "<", ">", "d")


def _marker(model: str) -> dict:
    """Marker style of a model: its own shape, filled for CNNs, hollow for RNNs."""
    filled = model_family(model) == "CNN"
    # A variant (lstm[flatten]) or an unknown model gets a spare marker of its own.
    marker = MODEL_MARKERS.get(model) or _SPARE_MARKERS[zlib.crc32(model.encode()) % 7]
    return dict(marker=marker, markerfacecolor=None if filled else "white")


def model_rank(model: str) -> tuple[int, str]:
    """Sort key of model names in the paper's order (ResNets by depth, LSTM, BiLSTM, GRU)."""
    order = list(MODEL_MARKERS)
    return (order.index(model) if model in order else len(order), model)


def _ordered_models(models) -> list[str]:
    return sorted(set(models), key=model_rank)


def _seed_mean(rows: Sequence[dict], **match) -> float:
    values = [r["weighted_f1"] for r in rows if all(r[k] == v for k, v in match.items())]
    return float(np.mean(values)) if values else np.nan


def fig2_bars(rows: Sequence[dict]):
    """Fig 2 (None when there is no fine-tune cell on a full train split)."""
    finetunes = [r for r in rows if r["kind"] == "finetune"]
    upstreams = list(dict.fromkeys(r["upstream"] for r in finetunes))
    if not upstreams:
        return None
    models = _ordered_models(r["model"] for r in finetunes)
    figure, axes = plt.subplots(1, len(upstreams), figsize=(4.2 * len(upstreams), 3.6),
                                sharey=True, squeeze=False)
    for axis, upstream in zip(axes[0], upstreams):
        downstreams = list(dict.fromkeys(r["dataset"] for r in finetunes
                                         if r["upstream"] == upstream))
        for offset, kind, color in ((-0.2, "scratch", SCRATCH_COLOR),
                                    (0.2, "finetune", FINETUNE_COLOR)):
            extra = {} if kind == "scratch" else {"upstream": upstream}
            per_model = np.array([[_seed_mean(rows, kind=kind, dataset=d, model=m, **extra)
                                   for m in models] for d in downstreams])
            x = np.arange(len(downstreams)) + offset
            axis.bar(x, np.nanmean(per_model, axis=1), width=0.4, color=color, alpha=0.6,
                     label="from scratch" if kind == "scratch" else "fine-tuned")
            for column, model in enumerate(models):
                axis.plot(x, per_model[:, column], linestyle="none", color="black",
                          markersize=5, **_marker(model))
        axis.set_xticks(np.arange(len(downstreams)), downstreams)
        axis.set_title(f"pre-trained on {upstream}")
        axis.set_xlabel("downstream dataset")
    axes[0][0].set_ylabel("test weighted F1 (mean over models)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=SCRATCH_COLOR, alpha=0.6),
               plt.Rectangle((0, 0), 1, 1, color=FINETUNE_COLOR, alpha=0.6)]
    handles += [Line2D([], [], linestyle="none", color="black", **_marker(m)) for m in models]
    figure.legend(handles, ["from scratch", "fine-tuned"] + models, loc="center left",
                  bbox_to_anchor=(1.0, 0.5), frameon=False)
    figure.suptitle("Fine-tuning vs training from scratch, per upstream dataset")
    figure.tight_layout()
    return figure


def fig3_scatter(gains: pd.DataFrame):
    """Fig 3 (None without comparisons on full train splits)."""
    if gains.empty:
        return None
    upstreams = list(dict.fromkeys(gains["upstream"]))
    downstreams = list(dict.fromkeys(gains["downstream"]))
    colors = dict(zip(downstreams, plt.get_cmap("tab10").colors))
    figure, axes = plt.subplots(1, len(upstreams), figsize=(4.0 * len(upstreams), 4.0),
                                squeeze=False)
    low = min(gains["scratch_f1"].min(), gains["finetune_f1"].min())
    high = max(gains["scratch_f1"].max(), gains["finetune_f1"].max())
    margin = 0.05 * max(high - low, 0.1)
    limits = (low - margin, high + margin)
    for axis, upstream in zip(axes[0], upstreams):
        axis.plot(limits, limits, color="black", linewidth=0.8, linestyle="--")
        for row in gains[gains["upstream"] == upstream].itertuples():
            axis.plot(row.scratch_f1, row.finetune_f1, linestyle="none", markersize=7,
                      color=colors[row.downstream], **_marker(row.model))
        axis.set(xlim=limits, ylim=limits, aspect="equal", title=f"pre-trained on {upstream}",
                 xlabel="from scratch: test weighted F1", ylabel="fine-tuned: test weighted F1")
    models = _ordered_models(gains["model"])
    handles = [Line2D([], [], color=colors[d], linewidth=6) for d in downstreams]
    handles += [Line2D([], [], linestyle="none", color="black", **_marker(m)) for m in models]
    labels = [f"downstream {d}" for d in downstreams]
    labels += [f"{m} ({model_family(m)})" for m in models]
    figure.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    figure.suptitle("Fine-tuned vs from scratch (above the line: fine-tuning helps)")
    figure.tight_layout()
    return figure


def fig4_size_sweep(gains: pd.DataFrame):
    """Fig 4 (None without size-sweep comparisons)."""
    if gains.empty:
        return None
    figure, axis = plt.subplots(figsize=(6.0, 4.0))
    axis.axhline(0.0, color="black", linewidth=0.8)
    for (upstream, downstream, model), part in gains.groupby(["upstream", "downstream", "model"]):
        part = part.sort_values("train_size")
        sizes = part["train_size"].astype(float).to_numpy()
        gain = part["gain"].to_numpy(dtype=float)
        errors = np.abs(np.vstack([gain - part["ci_low"].to_numpy(dtype=float),
                                   part["ci_high"].to_numpy(dtype=float) - gain]))
        axis.errorbar(sizes, gain, yerr=np.nan_to_num(errors), capsize=3,
                      label=f"{model} ({upstream} -> {downstream})", **_marker(model))
    axis.set_xlabel("downstream train records")
    axis.set_ylabel("fine-tuned minus from scratch: test weighted F1")
    axis.set_title("Gain from fine-tuning vs downstream train size (95% CI)")
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return figure


def fig5_curves(rows: Sequence[dict]):
    """Fig 5 (None without fine-tune cells on full train splits)."""
    finetunes = [r for r in rows if r["kind"] == "finetune"]
    pairs = list(dict.fromkeys((r["upstream"], r["dataset"]) for r in finetunes))
    if not pairs:
        return None
    models = _ordered_models(r["model"] for r in finetunes)
    figure, axes = plt.subplots(len(pairs), len(models), squeeze=False, sharex=True,
                                figsize=(2.6 * len(models) + 1.0, 2.0 * len(pairs) + 0.8))
    for (upstream, downstream), axes_row in zip(pairs, axes):
        for model, axis in zip(models, axes_row):
            for kind, style, extra in (
                    ("finetune", dict(color=FINETUNE_COLOR), {"upstream": upstream}),
                    ("scratch", dict(color=SCRATCH_COLOR, linestyle="--"), {})):
                curves = [r["curve"] for r in rows if r["kind"] == kind and r["model"] == model
                          and r["dataset"] == downstream
                          and all(r[k] == v for k, v in extra.items())]
                if curves:
                    axis.plot(np.arange(1, len(curves[0]) + 1), _mean_curve(curves), **style)
            axis.set_title(f"{model}: {upstream} -> {downstream}", fontsize=8)
            axis.tick_params(labelsize=7)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in axes[-1]:
        axis.set_xlabel("epoch", fontsize=8)
    for axis in axes[:, 0]:
        axis.set_ylabel("test weighted F1", fontsize=8)
    figure.legend([Line2D([], [], color=SCRATCH_COLOR, linestyle="--"),
                   Line2D([], [], color=FINETUNE_COLOR)],
                  ["from scratch", "fine-tuned"], loc="lower center", ncol=2,
                  bbox_to_anchor=(0.5, 1.0), frameon=False)
    figure.tight_layout()
    return figure


def _mean_curve(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """The mean over seeds of per-epoch curves (cut to the shortest)."""
    length = min(len(curve) for curve in curves)
    return np.nanmean(np.array([curve[:length] for curve in curves], dtype=float), axis=0)
