"""From out-of-fold logits to the cross-validated comparison's ``report.json`` and generated ``README.md``.

Everything fitted here is cross-fitted over the same folds: the fusion's stacker (class-balanced logistic regression
on the two branch logits) and its calibration, threshold and selective band (the product's own
:func:`~sentry_image.evaluate.calibrate.fit_calibration`) are fitted on the other folds' ``original`` copies and
judged on this fold's copies. AUC intervals resample whole source folders (2.5 and 97.5 percentiles).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from ..data.manifest import ManifestRow
from ..data.splits import Split, folder_key
from ..evaluate.calibrate import ScoredSplit, decisions, fit_calibration
from ..evaluate.metrics import auc, bootstrap_auc
from .fusion import stacker


def _corners(t: NDArray[np.float64]) -> NDArray[np.float64]:
    k = round(t.shape[1] ** 0.5)  # a k x k grid in row order: its four corners are a coarser 2 x 2 grid
    return np.nanmean(t[:, [0, k - 1, k * (k - 1), k * k - 1]], 1)


def _top_quarter(t: NDArray[np.float64]) -> NDArray[np.float64]:
    ordered = np.sort(t, 1)  # NaN (missing tiles) sort last: take the top quarter of each image's own tiles
    counts = np.sum(~np.isnan(t), 1)
    return np.array([row[max(0, n - max(1, n // 4)):n].mean() for row, n in zip(ordered, counts, strict=True)])


# Image logits from the tile logits of a k x k grid: the rule the detector uses (mean of all), the same grid at a
# quarter of the tiles (the speed knob), and the mean of the most AI-looking quarter (for partly generated images).
AGGREGATIONS = {"mean of all tiles": lambda t: np.nanmean(t, 1), "mean of the 4 corner tiles": _corners,
                "mean of the top quarter": _top_quarter}


def _stack(x: dict[str, NDArray[np.float64]], y: NDArray[np.int64], fold: NDArray[np.int64],
           fit_on: list[str]) -> dict[str, Any]:
    out = {c: np.zeros(len(y)) for c in x}
    for f in np.unique(fold):
        train = fold != f
        weights, bias = stacker(np.concatenate([x[c][train] for c in fit_on]), np.tile(y[train], len(fit_on)))
        for c in x:
            out[c][fold == f] = x[c][fold == f] @ weights + bias
    return out


def _decisions(z: dict[str, NDArray[np.float64]], rows: list[ManifestRow], fold: NDArray[np.int64],
               fit_on: list[str], target: float) -> dict[str, Any]:
    y = np.array([int(r.label) for r in rows])
    got: dict[str, dict[str, list[bool]]] = {c: {"right": [], "decided": [], "decided_right": []} for c in z}
    for f in np.unique(fold):
        train = [r for r, k in zip(rows, fold, strict=True) if k != f] * len(fit_on)  # each copy is a row
        split = Split("calibration", tuple(train), tuple(sorted({folder_key(r) for r in train})), "other folds")
        logits = np.concatenate([z[c][fold != f] for c in fit_on])
        cal = fit_calibration(ScoredSplit(split, logits), selective_accuracy=target)
        for c in z:
            right, decided = decisions(y[fold == f], cal.probability(z[c][fold == f]), cal)
            got[c]["right"] += right.tolist()
            got[c]["decided"] += decided.tolist()
            got[c]["decided_right"] += right[decided].tolist()
    return {c: {"accuracy": round(float(np.mean(v["right"])), 4), "coverage": round(float(np.mean(v["decided"])), 4),
                "selective_accuracy": round(float(np.mean(v["decided_right"])), 4) if v["decided_right"] else None}
            for c, v in got.items()}


def metadata_only(rows: list[ManifestRow], fold: NDArray[np.int64]) -> float:
    """AUC of a model that sees only the file's format, size and bytes per pixel: the shortcut to beat."""
    fmts = sorted({r.fields.get("format", "") for r in rows})

    def feats(r: ManifestRow) -> list[float]:
        w, h, b = (float(r.fields.get(k) or 1) for k in ("width", "height", "bytes"))
        return [float(r.fields.get("format", "") == f) for f in fmts] + [np.log(w), np.log(h), np.log(b / (w * h)),
                                                                          float(w == h)]

    x, y, z = np.array([feats(r) for r in rows]), np.array([int(r.label) for r in rows]), np.zeros(len(rows))
    for f in np.unique(fold):
        lr = LogisticRegression(class_weight="balanced", max_iter=5000).fit(x[fold != f], y[fold != f])
        z[fold == f] = lr.decision_function(x[fold == f])
    return round(auc(y, z), 4)


def scheme_report(scores: dict[str, Any], scheme: str, rows: list[ManifestRow], copies: list[str],
                  n_boot: int, target: float = 0.9) -> dict[str, Any]:
    y = scores["labels"].astype(np.int64)
    fold = scores[f"{scheme}/fold"].astype(np.int64)
    groups = np.array([folder_key(r) for r in rows])
    nets = sorted({k.split("/")[1] for k in scores if k.startswith(f"{scheme}/") and k != f"{scheme}/fold"} -
                  {"semantic"})
    logits = {"semantic": {c: scores[f"{scheme}/semantic/{c}"] for c in copies}}
    logits |= {n: {c: np.nanmean(scores[f"{scheme}/{n}/{c}"], 1) for c in copies} for n in nets}
    pair = {c: np.stack([logits["semantic"][c], logits["lowlevel"][c]], 1) for c in copies}
    logits["fusion"] = _stack(pair, y, fold, ["original"])
    logits["fusion fitted on all copies"] = _stack(pair, y, fold, copies)
    ci = {m: {c: bootstrap_auc(y, v[c], n=n_boot, groups=groups) for c in copies} for m, v in logits.items()}
    families = np.array([r.family for r in rows])
    masks = {fam: (families == fam) | (y == 0) for fam in sorted(set(families[y == 1]))}
    per_family = {fam: {c: round(auc(y[m], logits["fusion"][c][m]), 4) for c in copies} for fam, m in masks.items()}
    decisions = {"fitted on originals": _decisions(logits["fusion"], rows, fold, ["original"], target),
                 "fitted on all copies": _decisions(logits["fusion fitted on all copies"], rows, fold, copies, target)}
    out: dict[str, Any] = {"folds": np.bincount(fold).tolist(), "auc": ci, "fusion_decisions": decisions,
        "fusion_auc_per_family": per_family,
        "metadata_only_auc": metadata_only(rows, fold)}
    if scheme == "grouped":
        tiles = {c: scores[f"{scheme}/lowlevel/{c}"] for c in copies}
        out["tile_aggregation"] = {name: {c: round(auc(y, rule(tiles[c])), 4) for c in copies}
                                   for name, rule in AGGREGATIONS.items()}
    return out


def _fmt(a: dict[str, Any]) -> str:
    return f"{a['auc']:.3f} [{a['low']:.2f}, {a['high']:.2f}]"


def render(report: dict[str, Any]) -> str:
    copies = report["copies"]
    lines = ["# Cross-validated comparison (generated)", "", f"Command: `{report['command']}`; {report['images']} "
             f"images; {report['seconds']:.0f} s. Do not edit: regenerate with the command.", ""]
    for scheme, rep in report["schemes"].items():
        lines += [f"## {scheme} folds (sizes {rep['folds']})", "", "| model | " + " | ".join(copies) + " |",
                  "|---|" + "---|" * len(copies)]
        lines += [f"| {m} | " + " | ".join(_fmt(v[c]) for c in copies) + " |" for m, v in rep["auc"].items()]
        lines += ["", f"fusion at its cross-fitted threshold and band (target {report['target']:.0%} right when "
                  "decided), stacker and calibration fitted on the originals or on all copies of the other folds:", "",
                  "| fitted on | copy | accuracy | coverage | selective accuracy |", "|---|---|---|---|---|"]
        lines += [f"| {how} | {c} | {d[c]['accuracy']:.3f} | {d[c]['coverage']:.3f} | {d[c]['selective_accuracy']} |"
                  for how, d in rep["fusion_decisions"].items() for c in copies]
        lines += ["", f"metadata-only model (format, size, bytes per pixel) on the originals: AUC "
                  f"{rep['metadata_only_auc']:.3f}", ""]
    return "\n".join(lines) + "\n"


def write_report(out: Path, scores: dict[str, Any], rows: list[ManifestRow], cfg: Any, *, command: str,
                 seconds: float, target: float) -> dict[str, Any]:
    report = {"command": command, "images": len(rows), "seconds": round(seconds, 1), "copies": list(cfg.copies),
              "target": target, "schemes": {s: scheme_report(scores, s, rows, list(cfg.copies), cfg.bootstrap, target)
                                            for s in cfg.schemes}}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "README.md").write_text(render(report))
    return report


__all__ = ["metadata_only", "render", "scheme_report", "write_report"]
