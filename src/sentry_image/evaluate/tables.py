"""The tables of an evaluation report, generated from its JSON: summary lines, per-subset metrics, subset x
condition grids, and the Markdown page. A metric that is undefined (AUC, AP, EER without real or without AI
images) is shown as ``n/a``, never as a number; AUC, AP and accuracy carry their bootstrap interval
(``0.862 [0.801, 0.918]``), and a subset with too few images of a class is marked ``n too small: 4 AI``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..data.preprocess import describe
from .protocol import EvalReport
from .uncertainty import IntervalConfig, interval_text, small_note

SHOWN = ("auc", "ap", "eer", "tpr_at_fpr_0_01", "tpr_at_fpr_0_05", "ece", "brier")
WITH_INTERVAL = ("auc", "ap")
LABELS = {"auc": "AUC", "ap": "AP", "eer": "EER", "tpr_at_fpr_0_01": "TPR@1%FPR", "tpr_at_fpr_0_05": "TPR@5%FPR",
          "ece": "ECE", "brier": "Brier"}


NA = "n/a"


def fmt(value: Any) -> str:
    return NA if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"


def reference(report: EvalReport) -> str:
    """The condition the single-condition views use: ``clean`` when the suite has it, else its first."""
    return "clean" if "clean" in report.results else report.conditions[0]


def subset_order(report: EvalReport) -> list[str]:
    """``all`` first, then the subsets by name (the canonical JSON sorts keys, which would put ``all`` anywhere)."""
    names = report.results[report.conditions[0]]
    return [n for n in ("all",) if n in names] + sorted(n for n in names if n != "all")


def min_per_class(report: EvalReport) -> int:
    """The report's ``small`` rule (reports written before it existed: the default)."""
    return int(report.uncertainty.get("min_per_class", IntervalConfig.min_per_class))


def note(report: EvalReport, cell: dict[str, Any]) -> str:
    """``n too small: 4 AI`` for a small cell, else ``""`` (older reports without the flag: computed alike)."""
    return small_note(cell, min_per_class(report)) if cell.get("small", True) else ""


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
        intervals_line(report),
        f"Speed: {tp.get('forward_images_per_s', 0):.1f} images/s (preprocessing + forward, fixed 640x480 input, "
        f"batch 1); {tp.get('images_per_s', 0):.1f} images/s over the evaluated files (decode included); "
        f"backend {tp.get('backend', 'torch')} on this CPU.",
    ]


def intervals_line(report: EvalReport) -> str:
    """How the bracketed intervals were computed and which subsets are too small to read."""
    u = report.uncertainty
    text = (f"Intervals: {u['level']:.0%} {u['method']}, {u['replicates']} replicates, seed {u['seed']}."
            if u.get("replicates") else "Intervals: none (not computed for this report).")
    small = [s for s in subset_order(report) if note(report, report.results[reference(report)][s])]
    rule = f"fewer than {min_per_class(report)} real or AI images"
    return text + (f" Subsets with {rule}: {', '.join(small)} (marked n too small; kept in the tables, left out of "
                   "the heatmaps)." if small else f" No subset has {rule}.")


def one_class_note(report: EvalReport) -> str:
    """A warning sentence when the data hold one class only (AUC and friends undefined), else ``""``."""
    ref = report.results[reference(report)]["all"]
    if ref["n_real"] and ref["n_ai"]:
        return ""
    return (f"Only {'AI' if ref['n_ai'] else 'real'} images were evaluated: AUC, AP, EER and TPR@FPR are undefined "
            "(n/a); pair the AI subsets with real images (eval --real).")


def metric_table(report: EvalReport, condition: str | None = None) -> list[list[str]]:
    """Header + one row per subset: n, accuracies at the stored threshold, threshold-free metrics."""
    rows = [["subset", "n (real/AI)", "acc real", "acc AI", "acc", *(LABELS[k] for k in SHOWN), "note"]]
    results = report.results[condition or reference(report)]
    for subset, m in ((name, results[name]) for name in subset_order(report)):
        acc, ci = m["accuracy"], m.get("ci", {})
        rows.append([subset, f"{m['n']} ({m['n_real']}/{m['n_ai']})", fmt(acc["real"]), fmt(acc["fake"]),
                     interval_text(acc["overall"], ci.get("accuracy")),
                     *(interval_text(m.get(k), ci.get(k)) if k in WITH_INTERVAL else fmt(m.get(k)) for k in SHOWN),
                     note(report, m)])
    return rows


def _value(cell: dict[str, Any], metric: str) -> float | None:
    value = cell.get(metric)
    return value["overall"] if isinstance(value, dict) else value


def grid_table(report: EvalReport, metric: str) -> list[list[str]]:
    """Header + one row per subset, one column per condition (``metric``: ``auc`` or ``accuracy``), each value
    with its interval, and the subset's note (small subsets are kept here, marked)."""
    rows = [["subset", *report.conditions, "note"]]
    for s in subset_order(report):
        cells = [report.results[c][s] for c in report.conditions]
        rows.append([s, *(interval_text(_value(m, metric), m.get("ci", {}).get(metric)) for m in cells),
                     next((n for n in (note(report, m) for m in cells) if n), "")])
    return rows


def grid_values(report: EvalReport, metric: str) -> tuple[list[str], NDArray[np.float64], NDArray[np.bool_]]:
    """The heatmap data: subsets (rows), values per condition (columns) and which cells are small. A small or
    undefined cell is nan: a heatmap colour would read as a finding that a handful of images cannot support."""
    subsets = subset_order(report)
    cells = [[report.results[c][s] for c in report.conditions] for s in subsets]
    small = np.array([[bool(note(report, m)) for m in row] for row in cells], dtype=bool).reshape(len(subsets), -1)
    raw = [[_value(m, metric) for m in row] for row in cells]
    values = np.array([[np.nan if v is None else float(v) for v in row] for row in raw]).reshape(len(subsets), -1)
    return subsets, np.where(small, np.nan, values), small


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def to_markdown(report: EvalReport) -> str:
    note = one_class_note(report)
    return "\n\n".join([
        f"# Evaluation of {report.model} ({report.architecture})",
        "\n".join(f"- {line}" for line in summary_lines(report)), *([f"**Note:** {note}"] if note else []),
        f"## {reference(report).capitalize()} images, per subset", markdown_table(metric_table(report)),
        "## AUC per subset x degradation", markdown_table(grid_table(report, "auc")),
        "## Accuracy at the stored threshold per subset x degradation", markdown_table(grid_table(report, "accuracy")),
        "## Conditions", markdown_table(condition_table(report)),
    ]) + "\n"


def preprocessing_summary(pre: dict[str, Any]) -> str:
    """``resize 256 -> crop 224`` or ``native, crop 224`` (xN crops); a fusion's branches joined by ``+``."""
    if "crop_size" not in pre:  # a fusion: one preprocessing per branch
        return " + ".join(f"{name}: {preprocessing_summary(branch)}" for name, branch in pre.items())
    return describe(pre)


__all__ = ["LABELS", "NA", "SHOWN", "condition_table", "fmt", "grid_table", "grid_values", "intervals_line",
           "markdown_table", "metric_table", "min_per_class", "note", "one_class_note", "preprocessing_summary",
           "reference", "subset_order", "summary_lines", "to_markdown"]
