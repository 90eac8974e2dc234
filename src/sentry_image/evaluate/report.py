"""Render an :class:`EvalReport`: canonical JSON, Markdown, a self-contained HTML page and matplotlib plots.

Everything here is generated from the JSON (never edited by hand): the plots are ROC curves per subset on the
clean condition, a reliability diagram, and a subset x degradation heatmap of accuracy at the stored threshold
and of AUC. :func:`write_leaderboard` turns several reports into one results table. A metric that is undefined
(AUC, AP, EER without real or without AI images) is shown as ``n/a``, never as a number.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import roc_curve
from .protocol import EvalReport

SHOWN = ("auc", "ap", "eer", "tpr_at_fpr_0_01", "tpr_at_fpr_0_05", "ece", "brier")
LABELS = {"auc": "AUC", "ap": "AP", "eer": "EER", "tpr_at_fpr_0_01": "TPR@1%FPR", "tpr_at_fpr_0_05": "TPR@5%FPR",
          "ece": "ECE", "brier": "Brier"}


NA = "n/a"


def _fmt(value: Any) -> str:
    return NA if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"


def reference(report: EvalReport) -> str:
    """The condition the single-condition views use: ``clean`` when the suite has it, else its first."""
    return "clean" if "clean" in report.results else report.conditions[0]


def subset_order(report: EvalReport) -> list[str]:
    """``all`` first, then the subsets by name (the canonical JSON sorts keys, which would put ``all`` anywhere)."""
    names = report.results[report.conditions[0]]
    return [n for n in ("all",) if n in names] + sorted(n for n in names if n != "all")


def _params_text(params: dict[str, Any]) -> str:
    rest = ", ".join(f"{k}={v}" for k, v in params.items() if k != "op")
    return f"{params.get('op', '?')}({rest})"


def condition_table(report: EvalReport) -> list[list[str]]:
    """Header + one row per condition: its op and parameters as applied (older reports: not recorded)."""
    return [["condition", "applied to both classes"]] + [
        [c, _params_text(report.condition_params[c]) if c in report.condition_params else "not recorded"]
        for c in report.conditions]


def summary_lines(report: EvalReport) -> list[str]:
    """Model, data, suite and speed facts shown above the tables (one line each)."""
    cal, data, tp = report.calibration, report.data, report.throughput
    source = f"`{data['source']}`" + (f" under `{data['root']}`" if data.get("root") not in (None, "", ".") else "")
    source += f" with real images from `{data['real']}`" if data.get("real") else ""
    return [
        f"Model: {report.model} ({report.architecture}), {report.num_parameters:,} parameters, preprocessing "
        f"{preprocessing_summary(report.preprocessing)}; checkpoint `{report.checkpoint}`.",
        f"Data: {source}, split `{data['split']}`, {data['n']} images ({len(data['skipped'])} skipped), subsets by "
        f"`{data['subset_key']}`.",
        f"Threshold {cal['threshold']:.3f} from: {cal.get('fitted_on') or 'not recorded'} (never refitted here).",
        f"Suite: {report.suite}, {len(report.conditions)} conditions, each applied alike to real and AI images.",
        f"Speed: {tp.get('forward_images_per_s', 0):.1f} images/s (preprocessing + forward, fixed 640x480 input, "
        f"batch 1); {tp.get('images_per_s', 0):.1f} images/s over the evaluated files (decode included); "
        f"{tp.get('torch_threads')} torch threads on this CPU.",
    ]


def one_class_note(report: EvalReport) -> str:
    """A warning sentence when the data hold one class only (AUC and friends undefined), else ``""``."""
    ref = report.results[reference(report)]["all"]
    if ref["n_real"] and ref["n_ai"]:
        return ""
    return (f"Only {'AI' if ref['n_ai'] else 'real'} images were evaluated: AUC, AP, EER and TPR@FPR are undefined "
            "(n/a); pair the AI subsets with real images (eval --real).")


def metric_table(report: EvalReport, condition: str | None = None) -> list[list[str]]:
    """Header + one row per subset: n, accuracies at the stored threshold, threshold-free metrics."""
    rows = [["subset", "n (real/AI)", "acc real", "acc AI", "acc", *(LABELS[k] for k in SHOWN)]]
    results = report.results[condition or reference(report)]
    for subset, m in ((name, results[name]) for name in subset_order(report)):
        acc = m["accuracy"]
        rows.append([subset, f"{m['n']} ({m['n_real']}/{m['n_ai']})", _fmt(acc["real"]), _fmt(acc["fake"]),
                     _fmt(acc["overall"]), *(_fmt(m.get(k)) for k in SHOWN)])
    return rows


def grid_table(report: EvalReport, metric: str) -> list[list[str]]:
    """Header + one row per subset, one column per condition (``metric``: ``auc`` or ``accuracy``)."""
    subsets = subset_order(report)
    rows = [["subset", *report.conditions]]
    for s in subsets:
        cells = [report.results[c][s].get(metric) for c in report.conditions]
        rows.append([s, *(_fmt(v["overall"] if isinstance(v, dict) else v) for v in cells)])
    return rows


def _markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def to_markdown(report: EvalReport) -> str:
    note = one_class_note(report)
    return "\n\n".join([
        f"# Evaluation of {report.model} ({report.architecture})",
        "\n".join(f"- {line}" for line in summary_lines(report)), *([f"**Note:** {note}"] if note else []),
        f"## {reference(report).capitalize()} images, per subset", _markdown_table(metric_table(report)),
        "## AUC per subset x degradation", _markdown_table(grid_table(report, "auc")),
        "## Accuracy at the stored threshold per subset x degradation", _markdown_table(grid_table(report, "accuracy")),
        "## Conditions", _markdown_table(condition_table(report)),
    ]) + "\n"


def plot_figures(report: EvalReport, out: Path) -> list[Path]:
    """ROC per subset, reliability diagram and heatmaps as PNG files in ``out``."""
    import matplotlib

    matplotlib.use("Agg")  # no display here; and never a GUI backend inside a library call
    import matplotlib.pyplot as plt

    ref = reference(report)
    pred = report.predictions
    y = np.asarray(pred["label"])
    p = np.asarray(pred["p"][ref])
    subsets = np.asarray(pred["subset"])
    paths = []
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, res in ((n, report.results[ref][n]) for n in subset_order(report)):
        mask = np.ones_like(y, dtype=bool) if name == "all" else (y == 0) | ((subsets == name) & (y == 1))
        if "auc" in res:
            fpr, tpr, _ = roc_curve(y[mask], p[mask])
            ax.plot(fpr, tpr, label=f"{name} (AUC {res['auc']:.3f})", lw=2 if name == "all" else 1)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    if "auc" not in report.results[ref]["all"]:
        ax.text(0.5, 0.5, "ROC undefined:\none class only", ha="center", va="center", fontsize=12)
    else:
        ax.legend(fontsize=7, loc="lower right", title="AI subset vs all real")
    ax.set(xlabel="false-positive rate (real called AI)", ylabel="true-positive rate (AI caught)",
           title=f"ROC per subset, {ref} images")
    paths.append(_save(fig, out / "roc.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0, 1, 11)
    bins = np.minimum((p * 10).astype(int), 9)
    centres = [(edges[b] + edges[b + 1]) / 2 for b in range(10) if (bins == b).any()]
    freq = [y[bins == b].mean() for b in range(10) if (bins == b).any()]
    counts = [int((bins == b).sum()) for b in range(10) if (bins == b).any()]
    ax.bar(centres, freq, width=0.09, alpha=0.7, label="share AI in bin (label: images)")
    for c, f, n in zip(centres, freq, counts, strict=True):
        ax.annotate(str(n), (c, f), ha="center", va="bottom", fontsize=7)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="perfect calibration")
    ax.axvline(report.calibration["threshold"], color="C3", lw=0.8, ls="--", label="stored threshold")
    ax.set(xlabel="predicted probability (AI)", ylabel="observed share of AI images", xlim=(0, 1), ylim=(0, 1.05),
           title=f"Reliability, {ref} (ECE {report.results[ref]['all']['ece']:.3f})")
    # below the axes: bars may stand anywhere inside them
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    paths.append(_save(fig, out / "reliability.png"))

    for metric in ("accuracy", "auc"):
        table = grid_table(report, metric)
        values = np.array([[float(v) if v != NA else np.nan for v in r[1:]] for r in table[1:]])
        # wide enough for the title even with two or three conditions
        fig, ax = plt.subplots(figsize=(max(6.5, 2.0 + 0.75 * len(report.conditions)), 1.2 + 0.45 * len(values)))
        im = ax.imshow(values, vmin=0.0 if metric == "accuracy" else 0.5, vmax=1.0, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(report.conditions)), report.conditions, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(values)), [r[0] for r in table[1:]], fontsize=8)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, NA if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.03)
        ax.set_title(f"{'Accuracy at the stored threshold' if metric == 'accuracy' else 'AUC'}: "
                     "subset (rows) x degradation (columns)", fontsize=10)
        paths.append(_save(fig, out / f"heatmap_{metric}.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


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
            + fig("heatmap_accuracy", "Accuracy at the stored threshold (real and AI pooled) per subset and condition.")
            + fig("heatmap_auc", "AUC per subset and condition (n/a: one class only).")
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
    images = plot_figures(report, out)
    page = out / "report.html"
    page.write_text(to_html(report, images))
    return [js, md, page, *images]


def read_report(path: str | Path) -> EvalReport:
    return EvalReport.from_dict(json.loads(Path(path).read_text()))


def preprocessing_summary(pre: dict[str, Any]) -> str:
    """``resize 256 -> crop 224`` or ``native, crop 224`` (xN crops)."""
    text = (f"resize {pre['resize_short']} -> " if pre.get("resize_short") else "native, ") + f"crop {pre['crop_size']}"
    return text + (f" x{pre['num_crops']}" if pre.get("num_crops", 1) > 1 else "")


def leaderboard_rows(reports: Sequence[EvalReport]) -> list[dict[str, Any]]:
    """One row per report, best clean AUC first; the mean and worst AUC are over the degraded conditions."""
    rows = []
    for r in reports:
        ref = reference(r)
        clean = r.results[ref]["all"]
        degraded = [float(r.results[c]["all"]["auc"]) for c in r.conditions
                    if c != ref and r.results[c]["all"].get("auc") is not None]
        rows.append({"model": r.model, "architecture": r.architecture, "parameters": r.num_parameters,
                     "preprocessing": preprocessing_summary(r.preprocessing), "data": r.data["source"],
                     "split": r.data["split"], "suite": r.suite, "n": clean["n"], "auc": clean.get("auc"),
                     "ap": clean.get("ap"),
                     "accuracy": clean["accuracy"]["overall"],
                     "auc_format_matched": r.results.get("format_matched", {}).get("all", {}).get("auc"),
                     "auc_mean_degraded": float(np.mean(degraded)) if degraded else None,
                     "auc_worst_degraded": float(np.min(degraded)) if degraded else None,
                     "checkpoint": r.checkpoint, "images_per_s": r.throughput.get("images_per_s"),
                     "forward_images_per_s": r.throughput.get("forward_images_per_s"),
                     "torch_threads": r.throughput.get("torch_threads")})
    return sorted(rows, key=lambda row: -(row["auc"] or 0.0))


def write_leaderboard(paths: Sequence[str | Path], out: str | Path) -> list[Path]:
    """Regenerate ``leaderboard.json`` and ``leaderboard.md`` in ``out`` from report JSON files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = leaderboard_rows([read_report(p) for p in paths])
    js = out / "leaderboard.json"
    js.write_text(json.dumps({"sources": [str(p) for p in paths], "rows": rows}, indent=1) + "\n")
    cols = ["model", "architecture", "parameters", "preprocessing", "auc", "ap", "accuracy", "auc_format_matched",
            "auc_mean_degraded", "auc_worst_degraded", "forward_images_per_s", "n", "data", "split", "suite",
            "checkpoint"]

    def cell(key: str, value: Any) -> str:
        if key == "parameters":
            return f"{value:,}"
        if key == "forward_images_per_s" and value is not None:
            return f"{value:.1f}"
        return _fmt(value) if isinstance(value, float) or value is None else str(value)

    table = [cols] + [[cell(c, row.get(c)) for c in cols] for row in rows]
    md = out / "leaderboard.md"
    md.write_text("# Results (generated by `sentry-image leaderboard`; do not edit)\n\n" + _markdown_table(table)
                  + "\n\nAUC columns: all subsets pooled; degraded = the suite's conditions other than clean (compare"
                  " rows of the same data, split and suite only); n/a: undefined (one class only);"
                  " forward images/s: preprocessing + forward of one fixed 640x480 image, batch 1, on the evaluating"
                  " CPU.\n")
    return [js, md]


__all__ = ["NA", "condition_table", "grid_table", "leaderboard_rows", "metric_table", "plot_figures", "read_report",
           "reference", "summary_lines", "to_html", "to_markdown", "write_leaderboard", "write_report"]
