"""The study's report, from the result files alone: findings, tables, figures.

``make_report(STUDY, REPORT)`` reads ``STUDY/results/*.json`` (and, for single-seed
intervals, the ``predictions_test.npz`` they name) and writes::

    REPORT/report.md
    REPORT/findings.json
    REPORT/tables/{cells,baselines,per_label_f1,transfer_gain,per_label_gain,diagnosis_gain,
                   convergence,cost}.{csv,md}
    REPORT/figures/fig{2,3,4,5,6}_*.{png,svg}

The report is made of parts: :mod:`~ecg_tl_keras.study.comparisons` (cell rows and the
fine-tune vs scratch pairs), :mod:`~ecg_tl_keras.study.inference` (every test),
:mod:`~ecg_tl_keras.study.findings` (the family's verdicts: :func:`findings`),
:mod:`~ecg_tl_keras.study.tables`, :mod:`~ecg_tl_keras.study.cost` and
:mod:`~ecg_tl_keras.study.rendering` (Markdown); this module puts them together.

Example:
    >>> paths = make_report("study", "report")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['figures', 'findings', 'report', 'tables']
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ecg_tl_keras.study import figures
from ecg_tl_keras.study.comparisons import Comparison, comparisons, family_of
from ecg_tl_keras.study.curves import (
    NEVER, NO_CURVE, first_epoch_reaching, oriented_selection_curve)
from ecg_tl_keras.study.findings import Finding, analyse, findings
from ecg_tl_keras.study.rendering import report_text
from ecg_tl_keras.study.results import load_results
from ecg_tl_keras.study.tables import (
    baselines_table, cells_table, convergence_table, cost_table, diagnosis_table, gain_table,
    label_gain_table, markdown_table, per_label_table)
from ecg_tl_keras.training.rundir import write_json_atomic

__all__ = ["NEVER", "NO_CURVE", "Comparison", "Finding", "comparisons", "family_of",
           "findings", "first_epoch_reaching", "make_report", "marker_of", "markdown_table",
           "oriented_selection_curve"]


def marker_of(model: str) -> str | None:
    """The figure marker a backbone's spec names (None when it names none or is not registered).

    Example:
        >>> marker_of("resnet1d18"), marker_of("mystery")
        ('o', None)
    """
    from ecg_tl_keras.models import get_backbone_spec

    try:
        return get_backbone_spec(model).marker
    except ValueError:
        return None


def make_report(study: str | Path, out: str | Path, log=print, *,
                fig5_models: Sequence[str] | None = None, two_level: bool = False
                ) -> dict[str, Path]:
    """Write ``findings.json``, the tables, the figures and ``report.md`` of a study folder.

    Args:
        study: the ``--out`` folder of ``study run`` (holds ``results/``).
        out: the report folder to write.
        log: where progress lines go.
        fig5_models: the models to draw Fig 5 for (default ResNet1d18, else the first model).
        two_level: add a two-level bootstrap interval (seeds, then test records) to every
            comparison (``ci2_*`` columns); verdicts stay with the t-interval.

    Returns:
        ``{"report": report.md, "findings": findings.json, "tables": folder,
        "figures": folder}``.

    Raises:
        ValueError: no result files in ``study``, or a Fig 5 model without fine-tunes.
    """
    study, out = Path(study), Path(out)
    analysis = analyse(load_results(study), study)
    log(f"report: {len(analysis.rows)} cells ({len(analysis.incomplete)} incomplete), "
        f"{len(analysis.groups)} fine-tune vs scratch comparisons, "
        f"{analysis.family_size} tests in one family")
    found = analysis.by_key()
    tables = dict(cells=cells_table(analysis.rows), baselines=baselines_table(analysis.rows),
                  per_label_f1=per_label_table(analysis.rows),
                  transfer_gain=gain_table(analysis.groups, found, two_level),
                  per_label_gain=label_gain_table(analysis.groups, found),
                  diagnosis_gain=diagnosis_table(analysis.findings),
                  convergence=convergence_table(analysis.groups),
                  cost=cost_table(analysis.groups))
    table_dir = out / "tables"
    table_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(table_dir / f"{name}.csv", index=False)
        (table_dir / f"{name}.md").write_text(markdown_table(table) + "\n")
    findings_file = out / "findings.json"
    write_json_atomic(findings_file, [finding.to_dict() for finding in analysis.findings])
    log(f"report: tables in {table_dir}, findings in {findings_file}")
    drawn = figures.draw_all(analysis.rows, tables["transfer_gain"], out / "figures",
                             labels=tables["diagnosis_gain"], fig5_models=fig5_models,
                             marker=marker_of)
    log(f"report: {len(drawn)} figures in {out / 'figures'}")
    report = out / "report.md"
    report.write_text(report_text(study, analysis, tables, drawn, out))
    log(f"report: {report}")
    return {"report": report, "findings": findings_file, "tables": table_dir,
            "figures": out / "figures"}

