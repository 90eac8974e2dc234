"""Render an :class:`EvalReport`: canonical JSON, Markdown, a self-contained HTML page and matplotlib plots.

Everything here is generated from the JSON (never edited by hand): the plots are ROC curves per subset on the
clean condition, a reliability diagram, and a subset x degradation heatmap of accuracy at the stored threshold
and of AUC. :func:`write_leaderboard` (from :mod:`.leaderboard`) turns several reports into one results table. A
metric that is undefined (AUC, AP, EER without real or without AI images) is shown as ``n/a``, never as a number;
AUC, AP and accuracy carry bootstrap intervals, and subsets too small to read are marked (:mod:`.uncertainty`).
"""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from .leaderboard import leaderboard_rows, write_leaderboard
from .plots import plot_figures
from .protocol import EvalReport
from .tables import (
    condition_table,
    grid_table,
    metric_table,
    min_per_class,
    one_class_note,
    reference,
    summary_lines,
    to_markdown,
)

log = logging.getLogger(__name__)

def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(report: EvalReport, images: Sequence[Path]) -> str:
    """A single page with every image inlined (base64), readable offline and attachable as one file."""
    def fig(name: str, caption: str) -> str:
        path = next((p for p in images if p.stem == name), None)
        if path is None:
            return ""
        return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
                f'{base64.b64encode(path.read_bytes()).decode()}"><figcaption>{html.escape(caption)}</figcaption>'
                "</figure>")

    title = html.escape(f"Evaluation of {report.model} ({report.architecture})")
    ref = reference(report)
    note = one_class_note(report)
    small = f"; hatched: fewer than {min_per_class(report)} real or AI images, left out (see the tables)"
    facts = "".join(f"<li>{html.escape(line).replace('`', '')}</li>" for line in summary_lines(report))
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:.5em;"
             "vertical-align:top}figcaption{font-size:12px;color:#555;max-width:560px}img{max-width:100%}"
             ".note{background:#fff3cd;border:1px solid #e0c36b;padding:.5em 1em}"
             "table.conditions td,table.conditions th{text-align:left}table.conditions td{font-family:monospace}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{style}</style></head><body><h1>{title}</h1><ul>{facts}</ul>"
            + (f'<p class="note">{html.escape(note)}</p>' if note else "")
            + f"<h2>{html.escape(ref.capitalize())} images, per subset</h2>{_html_table(metric_table(report))}"
            + fig("roc", "ROC: each AI subset against every real image; 'all' pools the subsets.")
            + fig("reliability", "Reliability: predicted probability against the observed share of AI images "
                                 "(bar labels: images per bin).")
            + "<h2>Subset x degradation</h2><p>Conditions, each applied alike to real and AI images:</p>"
            + _html_table(condition_table(report)).replace("<table>", '<table class="conditions">', 1)
            + fig("heatmap_accuracy", "Accuracy at the stored threshold (real and AI pooled) per subset and condition"
                                      f"{small}.")
            + fig("heatmap_auc", f"AUC per subset and condition (n/a: one class only){small}.")
            + f"<h3>AUC</h3>{_html_table(grid_table(report, 'auc'))}"
            + f"<h3>Accuracy at the stored threshold</h3>{_html_table(grid_table(report, 'accuracy'))}"
            + "</body></html>\n")


def write_report(report: EvalReport, out: str | Path) -> list[Path]:
    """Write ``report.json`` (canonical), ``report.md``, the PNG plots and ``report.html`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js = out / "report.json"
    js.write_text(json.dumps(report.to_dict(), indent=1, sort_keys=True) + "\n")
    md = out / "report.md"
    md.write_text(to_markdown(report))
    try:
        images = plot_figures(report, out)
    except ImportError as exc:  # the core install has no plotting library: tables only
        log.warning("no plots in %s: they need matplotlib (pip install 'sentry-image[report]'; %s)", out, exc)
        images = []
    page = out / "report.html"
    page.write_text(to_html(report, images))
    return [js, md, page, *images]


def read_report(path: str | Path) -> EvalReport:
    return EvalReport.read(path)


__all__ = ["leaderboard_rows", "read_report", "to_html", "write_leaderboard", "write_report"]
