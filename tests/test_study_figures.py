"""Every report figure renders, draws the best constant predictor where it plots scores, and
has no text box (title, axis labels, tick labels, legend) overlapping another."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from matplotlib.text import Text

from ecg_tl_keras.study.figures import CONSTANT_STYLE, figures_of
from ecg_tl_keras.study.findings import analyse
from ecg_tl_keras.study.tables import diagnosis_table, gain_table
from study_simulation import result_files, simulate

LABELS = ("NORM", "MI", "STTC", "CD", "HYP")


def simulated_results(seeds: int = 2) -> list[dict]:
    """The simulated grid with per-label F1, 3-epoch curves and a size sweep
    (georgia -> ptbxl at 3 sizes)."""
    rng = np.random.default_rng(0)
    results = result_files(*simulate(rng, 1, seeds, effect={"ptb": 0.03}))
    for result in results:
        score = result["metrics"]["test_weighted_f1"]
        result["metrics"]["per_label_f1"] = {label: float(score + rng.normal(0, 0.05))
                                             for label in LABELS}
        result["history"] = [{"val_weighted_f1": score * f, "test_weighted_f1": score * f}
                             for f in (0.5, 0.8, 1.0)]
        result["metrics"]["best_epoch"] = 3
    sweep = []
    for size in (500, 1000, 2000):
        for result in results:
            cell = result["cell"]
            if cell["dataset"] == "ptbxl" and cell["upstream"] in (None, "georgia") \
                    and cell["model"].startswith("resnet"):
                extra = copy.deepcopy(result)
                extra["cell"].update(train_size=size, key=cell["key"].replace(
                    "ptbxl__", f"ptbxl-n{size}__"))
                extra["metrics"]["test_weighted_f1"] += float(rng.normal(0, 0.01))
                sweep.append(extra)
    return results + sweep


def text_boxes(figure):
    """Window extents of every visible text and of every legend (a legend as one box)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = figure.findobj(Legend)
    inside = {id(text) for legend in legends for text in legend.findobj(Text)}
    inside |= {id(text) for text in hidden_tick_labels(figure)}
    boxes = [(f"legend {i}", legend.get_window_extent(renderer))
             for i, legend in enumerate(legends)]
    boxes += [(repr(text.get_text()), text.get_window_extent(renderer))
              for text in figure.findobj(Text)
              if text.get_visible() and text.get_text().strip() and id(text) not in inside]
    return boxes


def hidden_tick_labels(figure) -> list[Text]:
    """Tick labels outside their axis's view limits (kept by matplotlib, never drawn)."""
    hidden = []
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            margin = 1e-9 * max(1.0, abs(high - low))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - margin <= tick.get_loc() <= high + margin:
                    hidden += [tick.label1, tick.label2]
    return hidden


def overlaps(boxes) -> list[str]:
    found = []
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
        height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
        if width > 1 and height > 1:  # more than a pixel each way
            found.append(f"{a} overlaps {b}")
    return found


@pytest.fixture(scope="module")
def drawn():
    analysis = analyse(simulated_results())
    found = analysis.by_key()
    gains = gain_table(analysis.groups, found)
    return figures_of(analysis.rows, gains, labels=diagnosis_table(analysis.findings),
                      fig5_models=["resnet1d18", "gru"])


def test_every_figure_is_drawn(drawn):
    names = [name for name, _, _ in drawn]
    assert names == ["fig2_finetune_vs_scratch_by_upstream", "fig3_finetune_vs_scratch_scatter",
                     "fig4_gain_vs_train_size", "fig5_f1_per_epoch", "fig5_f1_per_epoch_gru",
                     "fig6_gain_per_label"]


def test_no_text_box_overlaps_another(drawn):
    for name, figure, _ in drawn:
        assert overlaps(text_boxes(figure)) == [], name


def test_the_overlap_check_sees_an_overlap(drawn):
    _, figure, _ = drawn[3]  # Fig 5: a legend drawn over the title, as it used to be
    figure.legend(["x"], loc="upper center")
    assert overlaps(text_boxes(figure))


def test_score_figures_draw_the_best_constant_predictor(drawn):
    for name, figure, caption in drawn:
        if name.startswith(("fig2", "fig3", "fig5")):
            dotted = [line for axis in figure.axes for line in axis.get_lines() + [
                segment for segment in axis.collections]
                if getattr(line, "get_linestyle", lambda: None)() in (":", "dotted")
                or (hasattr(line, "get_linestyles") and
                    any(style[1] for style in line.get_linestyles() if style[1] is not None))]
            assert dotted, name
            assert "constant predictor" in caption, name
    assert CONSTANT_STYLE["linestyle"] == ":"
