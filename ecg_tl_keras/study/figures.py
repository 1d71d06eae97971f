"""The study's figures (PNG and SVG), drawn from the report's cell rows and gain table.

* Fig 2: per upstream dataset, mean test weighted F1 over the models for each downstream
  dataset, scratch vs fine-tune bars, with each model's point.
* Fig 3: fine-tune (y) vs scratch (x) weighted F1 per model and downstream dataset, with the
  identity line.
* Fig 4: fine-tune minus scratch vs downstream train size (the size sweep), per model, with
  an error bar only where the comparison has an interval.
* Fig 5: test weighted F1 per epoch, scratch vs fine-tune, for one model (default ResNet1d18)
  as the paper lays it out: one row per upstream, one panel per downstream, shared y-axis
  within a row. Other models on request (``fig5_models``).
* Fig 6: per diagnosis (label) and downstream dataset, the fine-tune minus scratch test F1 of
  that label pooled over upstreams and models, with its unadjusted 95% interval.

Wherever scores are plotted (Figs 2, 3, 5) the best constant predictor (every label present)
is drawn as a dotted reference line: a run below it has no skill.

Every figure comes with a caption that states the seed count and the interval method. Each
model keeps one marker in every figure: the one its backbone spec names
(``register_backbone(..., marker=...)``), else a spare one (``model_markers``); CNNs are drawn
filled, other families hollow.

Example:
    >>> drawn = draw_all(rows, gain_table, Path("report/figures"))  # doctest: +SKIP
    >>> drawn[0].caption  # doctest: +SKIP
    'Fig 2. ...'
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ecg_tl_keras.study.cells import CellLabel
from ecg_tl_keras.study.comparisons import model_rank

SCRATCH_COLOR = "#8c8c8c"
CONSTANT_STYLE = dict(color="#d62728", linestyle=":", linewidth=1.2, zorder=3)
FINETUNE_COLOR = "#1f77b4"
#: Fig 5 is drawn for this model unless others are asked for (the paper's choice).
DEFAULT_FIG5_MODEL = "resnet1d18"
#: Markers, in order of use, for models whose spec names none and for variants (``lstm[flatten]``).
SPARE_MARKERS = ("X", "h", "<", ">", "d", "p", "8", "H", "*", "o", "s", "D", "^", "v", "P")


def _subplots(*args, figsize=None, **kwargs):
    """``pyplot.subplots`` without pyplot: a plain ``Figure`` (no GUI backend is chosen, so
    importing this module leaves the caller's matplotlib backend alone)."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*args, **kwargs)


@dataclasses.dataclass(frozen=True)
class ModelStyle:
    """How the figures draw each model.

    Attributes:
        markers: model (or cell label) -> matplotlib marker, see :func:`model_markers`.
        family: a model's family; ``"cnn"`` markers are filled, the others hollow.
        ranks: a model's sort key (registration order, variants after their model).
    """

    markers: Mapping[str, str]
    family: Callable[[str], str]
    ranks: Mapping[str, tuple] = dataclasses.field(default_factory=dict)

    def ordered(self, models: Iterable[str]) -> list[str]:
        """The distinct ``models`` in drawing order."""
        return sorted(set(models), key=lambda m: self.ranks.get(m, (len(self.ranks), m)))

    def __call__(self, model: str) -> dict:
        """The ``plot`` keywords of a model's marker."""
        filled = self.family(model) == "cnn"
        return dict(marker=self.markers[model], markerfacecolor=None if filled else "white")


@dataclasses.dataclass(frozen=True)
class Drawn:
    """A saved figure: its files (PNG and SVG) and its caption."""

    paths: tuple[Path, ...]
    caption: str


def draw_all(rows: Sequence[dict], gains: pd.DataFrame, folder: Path, *,
             labels: pd.DataFrame | None = None, fig5_models: Sequence[str] | None = None,
             marker: Callable[[str], str | None] = lambda model: None) -> list[Drawn]:
    """Draw the figures that the results allow and save each as PNG and SVG.

    Args:
        rows: the report's cell rows (``comparisons.read_cells``).
        gains: the fine-tune minus scratch table (``tables.gain_table``).
        folder: where to write.
        labels: the per-diagnosis gains (``tables.diagnosis_table``) for Fig 6.
        fig5_models: models to draw Fig 5 for (default: ResNet1d18, else the first model);
            the first is saved as ``fig5_f1_per_epoch``, others as ``fig5_f1_per_epoch_<model>``.
        marker: the marker a model's backbone spec names, or None.

    Returns:
        The saved figures with their captions.

    Raises:
        ValueError: a Fig 5 model without fine-tune cells on full train splits.
    """
    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, figure, caption in figures_of(rows, gains, labels=labels, fig5_models=fig5_models,
                                            marker=marker):
        paths = tuple(folder / f"{name}{suffix}" for suffix in (".png", ".svg"))
        for path in paths:
            figure.savefig(path, dpi=150, bbox_inches="tight")
        drawn.append(Drawn(paths, caption))
    return drawn


def figures_of(rows: Sequence[dict], gains: pd.DataFrame, *,
               labels: pd.DataFrame | None = None, fig5_models: Sequence[str] | None = None,
               marker: Callable[[str], str | None] = lambda model: None
               ) -> list[tuple[str, Figure, str]]:
    """The figures the results allow, unsaved: ``(file stem, figure, caption)`` each (the
    arguments as for :func:`draw_all`)."""
    full = [r for r in rows if r["train_size"] is None]
    seeds = _seeds_text(gains)
    families = {r["model"]: r["family"] for r in rows}
    style = ModelStyle(model_markers((r["label"] for r in rows), marker),
                       lambda model: families.get(model, "unknown"),
                       {r["model"]: model_rank(r["label"]) for r in rows})
    full_gains, sweep = gains[gains["train_size"].isna()], gains[gains["train_size"].notna()]
    drawings = [
        ("fig2_finetune_vs_scratch_by_upstream", fig2_bars(full, style),
         f"Fig 2. Test weighted F1 from scratch and fine-tuned, mean over models (bars) and per "
         f"model (points), each the mean over {seeds}; dotted: the best constant predictor "
         f"(no skill); no intervals drawn (see the gain table)."),
        ("fig3_finetune_vs_scratch_scatter", fig3_scatter(full_gains, style),
         f"Fig 3. Fine-tuned vs from-scratch test weighted F1 per model and downstream dataset, "
         f"each the mean over {seeds}; above the dashed line fine-tuning scored higher; dotted "
         "lines: each downstream dataset's best constant predictor. No intervals drawn (see the "
         "gain table)."),
        ("fig4_gain_vs_train_size", fig4_size_sweep(sweep_series(sweep, full_gains), style),
         f"Fig 4. Fine-tuned minus from-scratch test weighted F1 vs downstream train records "
         f"(the sweep's subsets and, where the grid has it, the full train split), mean over "
         f"{_seeds_text(sweep)}. Error bars: unadjusted 95% {_methods_text(sweep)}; points "
         "without an interval have no bar."),
    ]
    finetunes = [r for r in full if r["kind"] == "finetune"]
    available = style.ordered(r["model"] for r in finetunes)
    wanted = list(fig5_models or ([DEFAULT_FIG5_MODEL] if DEFAULT_FIG5_MODEL in available
                                  else available[:1]))
    for index, model in enumerate(wanted):
        if model not in available:
            raise ValueError(f"Fig 5: no fine-tune cells of model {model!r} on full train "
                             f"splits; models with some: {', '.join(available) or 'none'}")
        count = len({r["seed"] for r in finetunes if r["model"] == model})
        drawings.append((
            "fig5_f1_per_epoch" + ("" if index == 0 else f"_{model}"), fig5_curves(full, model),
            f"Fig 5. Test weighted F1 per epoch of {model}, from scratch (dashed) and "
            f"fine-tuned (solid): one row per upstream dataset, one panel per downstream "
            f"dataset, y-axis shared within a row; dotted: the best constant predictor; mean over "
            f"{count} seed{'s' if count != 1 else ''}, no intervals drawn."))
    if labels is not None and not labels.empty:
        drawings.append((
            "fig6_gain_per_label", fig6_labels(labels),
            f"Fig 6. Fine-tuned minus from-scratch test F1 per diagnosis (label) and downstream "
            f"dataset, pooled over upstreams and models, each over {seeds}; bars: unadjusted 95% "
            f"t-intervals over model x seed clusters (verdicts after the report's family "
            f"adjustment are in the per-label table)."))
    return [(name, figure, caption) for name, figure, caption in drawings if figure is not None]


def _seeds_text(gains: pd.DataFrame) -> str:
    counts = sorted(set(gains["seeds"].astype(int))) if len(gains) else [0]
    text = " to ".join(map(str, sorted({counts[0], counts[-1]})))
    return f"{text} seed{'s' if counts[-1] != 1 else ''}"


def _methods_text(gains: pd.DataFrame) -> str:
    """The interval methods of the table's rows, without their counts."""
    methods = dict.fromkeys(
        "t-interval over seeds" if method.startswith("t-interval") else method.split(":")[0]
        for method in gains["ci_method"] if isinstance(method, str))
    return "; ".join(methods) or "none"


def model_markers(labels: Iterable[CellLabel], marker: Callable[[str], str | None]
                  ) -> dict[str, str]:
    """One marker per model: the one its spec names, else the first spare one no model here uses.

    A variant (``gru[flatten]``) is drawn apart from its model, so it takes a spare one too.
    The result depends only on the labels given and their specs.

    Args:
        labels: the cells' labels (model and variant).
        marker: the marker a registered backbone's spec names, or None.

    Returns:
        ``{str(label): marker}`` in registration order.

    Example:
        >>> model_markers([CellLabel("tinycnn"), CellLabel("gru", ("flatten",)),
        ...                CellLabel("gru")], {"gru": "P"}.get)
        {'gru': 'P', 'gru[flatten]': 'X', 'tinycnn': 'h'}
    """
    ordered = sorted(set(labels), key=model_rank)
    own = {label: None if label.variant else marker(label.model) for label in ordered}
    spare = [choice for choice in SPARE_MARKERS if choice not in own.values()]
    spares = itertools.cycle(spare or SPARE_MARKERS)
    return {str(label): own[label] or next(spares) for label in ordered}


def _constant(rows: Sequence[dict], dataset: str) -> float:
    """The test weighted F1 of the dataset's best constant predictor (NaN: unknown)."""
    return next((r["baseline_constant"] for r in rows if r["dataset"] == dataset
                 and np.isfinite(r["baseline_constant"])), np.nan)


def _seed_mean(rows: Sequence[dict], **match) -> float:
    values = [r["weighted_f1"] for r in rows if all(r[k] == v for k, v in match.items())]
    return float(np.mean(values)) if values else np.nan


def fig2_bars(rows: Sequence[dict], style: ModelStyle):
    """Fig 2 (None when there is no fine-tune cell on a full train split)."""
    finetunes = [r for r in rows if r["kind"] == "finetune"]
    upstreams = list(dict.fromkeys(r["upstream"] for r in finetunes))
    if not upstreams:
        return None
    models = style.ordered(r["model"] for r in finetunes)
    figure, axes = _subplots(1, len(upstreams), figsize=(4.2 * len(upstreams), 3.6),
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
                          markersize=5, **style(model))
        for position, downstream in enumerate(downstreams):
            axis.hlines(_constant(rows, downstream), position - 0.45, position + 0.45,
                        **CONSTANT_STYLE)
        axis.set_xticks(np.arange(len(downstreams)), downstreams)
        axis.set_title(f"pre-trained on {upstream}")
        axis.set_xlabel("downstream dataset")
    axes[0][0].set_ylabel("test weighted F1 (mean over models)")
    handles = [Rectangle((0, 0), 1, 1, color=SCRATCH_COLOR, alpha=0.6),
               Rectangle((0, 0), 1, 1, color=FINETUNE_COLOR, alpha=0.6),
               Line2D([], [], **CONSTANT_STYLE)]
    handles += [Line2D([], [], linestyle="none", color="black", **style(m))
                for m in models]
    figure.legend(handles, ["from scratch", "fine-tuned", "best constant predictor"] + models,
                  loc="center left",
                  bbox_to_anchor=(1.0, 0.5), frameon=False)
    figure.suptitle("Fine-tuning vs training from scratch, per upstream dataset")
    figure.tight_layout()
    return figure


def fig3_scatter(gains: pd.DataFrame, style: ModelStyle):
    """Fig 3 (None without comparisons on full train splits)."""
    if gains.empty:
        return None
    upstreams = list(dict.fromkeys(gains["upstream"]))
    downstreams = list(dict.fromkeys(gains["downstream"]))
    colors = dict(zip(downstreams, matplotlib.colormaps["tab10"].colors))
    figure, axes = _subplots(1, len(upstreams), figsize=(4.0 * len(upstreams), 4.0),
                             squeeze=False)
    low = np.nanmin([gains["scratch_f1"].min(), gains["finetune_f1"].min(),
                     gains["baseline_constant"].min()])
    high = np.nanmax([gains["scratch_f1"].max(), gains["finetune_f1"].max(),
                      gains["baseline_constant"].max()])
    margin = 0.05 * max(high - low, 0.1)
    limits = (low - margin, high + margin)
    for axis, upstream in zip(axes[0], upstreams):
        axis.plot(limits, limits, color="black", linewidth=0.8, linestyle="--")
        part = gains[gains["upstream"] == upstream]
        for downstream, constant in part.groupby("downstream")["baseline_constant"].first().items():
            if np.isfinite(constant):
                axis.axvline(constant, **{**CONSTANT_STYLE, "color": colors[downstream]})
                axis.axhline(constant, **{**CONSTANT_STYLE, "color": colors[downstream]})
        for row in part.itertuples():
            axis.plot(row.scratch_f1, row.finetune_f1, linestyle="none", markersize=7,
                      color=colors[row.downstream], **style(row.model))
        axis.set(xlim=limits, ylim=limits, aspect="equal", title=f"pre-trained on {upstream}",
                 xlabel="from scratch: test weighted F1", ylabel="fine-tuned: test weighted F1")
    models = style.ordered(gains["model"])
    handles = [Line2D([], [], color=colors[d], linewidth=6) for d in downstreams]
    handles += [Line2D([], [], linestyle="none", color="black", **style(m))
                for m in models]
    labels = [f"downstream {d}" for d in downstreams]
    labels += [f"{m} ({style.family(m)})" for m in models]
    figure.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    figure.suptitle("Fine-tuned vs from scratch (above the line: fine-tuning helps)")
    figure.tight_layout()
    return figure


def sweep_series(sweep: pd.DataFrame, full: pd.DataFrame) -> pd.DataFrame:
    """The size sweep's comparisons plus, per series, the full-train-split comparison of the
    same upstream, downstream and model (its largest size)."""
    if sweep.empty:
        return sweep
    series = set(zip(sweep["upstream"], sweep["downstream"], sweep["model"]))
    largest = full[[key in series for key in zip(full["upstream"], full["downstream"],
                                                  full["model"])]]
    return pd.concat([sweep, largest], ignore_index=True)


def fig4_size_sweep(gains: pd.DataFrame, style: ModelStyle):
    """Fig 4 (None without size-sweep comparisons); bars only where there is an interval."""
    if gains.empty:
        return None
    figure, axis = _subplots(figsize=(6.0, 4.0))
    axis.axhline(0.0, color="black", linewidth=0.8)
    for (upstream, downstream, model), part in gains.groupby(["upstream", "downstream", "model"]):
        part = part.sort_values("train_records")
        sizes = part["train_records"].astype(float).to_numpy()
        gain = part["gain"].to_numpy(dtype=float)
        low, high = (part[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high"))
        line = axis.plot(sizes, gain, label=f"{model} ({upstream} -> {downstream})",
                         **style(model))[0]
        bounded = np.isfinite(low) & np.isfinite(high)
        if bounded.any():
            axis.errorbar(sizes[bounded], gain[bounded], capsize=3, linestyle="none",
                          color=line.get_color(),
                          yerr=np.vstack([gain - low, high - gain])[:, bounded])
    axis.set_xlabel("downstream train records")
    axis.set_ylabel("fine-tuned minus from scratch: test weighted F1")
    axis.set_title("Gain from fine-tuning vs downstream train size")
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return figure


def fig5_curves(rows: Sequence[dict], model: str):
    """Fig 5 of one model: a row per upstream, a panel per downstream, y shared in a row."""
    finetunes = [r for r in rows if r["kind"] == "finetune" and r["model"] == model]
    upstreams = list(dict.fromkeys(r["upstream"] for r in finetunes))
    downstreams = list(dict.fromkeys(r["dataset"] for r in finetunes))
    if not finetunes:
        return None
    figure, axes = _subplots(len(upstreams), len(downstreams), squeeze=False, sharey="row",
                             figsize=(2.8 * len(downstreams) + 0.6, 2.2 * len(upstreams) + 0.8))
    for upstream, axes_row in zip(upstreams, axes):
        for downstream, axis in zip(downstreams, axes_row):
            fine = [r["curve"] for r in finetunes
                    if r["upstream"] == upstream and r["dataset"] == downstream]
            if not fine:
                axis.set_axis_off()
                continue
            scratch = [r["curve"] for r in rows if r["kind"] == "scratch" and r["model"] == model
                       and r["dataset"] == downstream and r["train_size"] is None]
            for curves, style in ((fine, dict(color=FINETUNE_COLOR)),
                                  (scratch, dict(color=SCRATCH_COLOR, linestyle="--"))):
                if curves:
                    mean = _mean_curve(curves)
                    axis.plot(np.arange(1, len(mean) + 1), mean, **style)
            axis.axhline(_constant(rows, downstream), **CONSTANT_STYLE)
            axis.set_title(f"{upstream} -> {downstream}", fontsize=8)
            axis.tick_params(labelsize=7)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_xlabel("epoch", fontsize=8)
        first = next((axis for axis in axes_row if axis.axison), axes_row[0])
        first.yaxis.set_tick_params(labelleft=True)  # the row's first drawn panel
        first.set_ylabel(f"pre-trained on {upstream}\ntest weighted F1", fontsize=8)
    figure.suptitle(f"{model}: test weighted F1 per epoch")
    figure.legend([Line2D([], [], color=SCRATCH_COLOR, linestyle="--"),
                   Line2D([], [], color=FINETUNE_COLOR), Line2D([], [], **CONSTANT_STYLE)],
                  ["from scratch", "fine-tuned", "best constant predictor"],
                  loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0), frameon=False,
                  fontsize=8)
    # The legend sits below the panels, the title above them: neither covers the other.
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    return figure


def fig6_labels(labels: pd.DataFrame):
    """Fig 6: one panel per downstream dataset, one row per label: gain and interval."""
    downstreams = list(dict.fromkeys(labels["downstream"]))
    names = sorted(dict.fromkeys(labels["label"]))
    figure, axes = _subplots(1, len(downstreams), sharey=True, squeeze=False,
                             figsize=(2.6 * len(downstreams) + 1.2, 0.35 * len(names) + 1.6))
    for axis, downstream in zip(axes[0], downstreams):
        part = labels[labels["downstream"] == downstream].set_index("label")
        y = np.arange(len(names))
        gain = np.array([part["gain"].get(n, np.nan) for n in names], dtype=float)
        low = np.array([part["ci_low"].get(n, np.nan) for n in names], dtype=float)
        high = np.array([part["ci_high"].get(n, np.nan) for n in names], dtype=float)
        axis.axvline(0.0, color="black", linewidth=0.8)
        bounded = np.isfinite(low) & np.isfinite(high)
        axis.errorbar(gain[bounded], y[bounded], capsize=2, linestyle="none", marker="o",
                      color=FINETUNE_COLOR, xerr=np.vstack([gain - low, high - gain])[:, bounded])
        axis.plot(gain[~bounded], y[~bounded], linestyle="none", marker="o",
                  markerfacecolor="white", color=FINETUNE_COLOR)
        axis.set_title(downstream, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.xaxis.set_major_locator(MaxNLocator(nbins=3))
        axis.set_xlabel("F1 gain", fontsize=8)
    axes[0][0].set_yticks(np.arange(len(names)), names)
    figure.suptitle("Fine-tuned minus from scratch, per diagnosis")
    figure.tight_layout()
    return figure


def _mean_curve(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """The mean over seeds of per-epoch curves (cut to the shortest)."""
    length = min(len(curve) for curve in curves)
    return np.nanmean(np.array([curve[:length] for curve in curves], dtype=float), axis=0)
