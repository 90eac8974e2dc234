"""The plots of an evaluation report (ROC per subset, reliability diagram, subset x condition heatmaps) as PNG.

matplotlib is imported when plotting (the ``report`` extra), so the inference core evaluates and writes the JSON,
Markdown and HTML tables without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .metrics import roc_curve
from .protocol import EvalReport
from .tables import NA, grid_values, min_per_class, reference, subset_order


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
        paths.append(_heatmap(plt, report, metric, out / f"heatmap_{metric}.png"))
    return paths


def _heatmap(plt: Any, report: EvalReport, metric: str, path: Path) -> Path:
    """Subset x condition colours; a small cell is hatched and unlabelled (no colour: no finding)."""
    subsets, values, small = grid_values(report, metric)
    # wide enough for the title even with two or three conditions
    fig, ax = plt.subplots(figsize=(max(6.5, 2.0 + 0.75 * len(report.conditions)), 1.4 + 0.45 * len(values)))
    im = ax.imshow(values, vmin=0.0 if metric == "accuracy" else 0.5, vmax=1.0, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(report.conditions)), report.conditions, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(values)), subsets, fontsize=8)
    for (i, j), v in np.ndenumerate(values):
        if small[i, j]:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6", lw=0))
        ax.text(j, i, "n too small" if small[i, j] else NA if np.isnan(v) else f"{v:.2f}", ha="center",
                va="center", fontsize=7 if small[i, j] else 8)
    fig.colorbar(im, ax=ax, fraction=0.03)
    title = (f"{'Accuracy at the stored threshold' if metric == 'accuracy' else 'AUC'}: subset (rows) x "
             "degradation (columns)")
    if small.any():
        title += f"\nhatched: fewer than {min_per_class(report)} real or AI images, left out"
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


__all__ = ["plot_figures"]
