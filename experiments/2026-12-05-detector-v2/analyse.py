"""Tables from the out-of-fold logits of ``cv.py``: AUC with bootstrap intervals per scheme, branch, aggregation and
copy; the stacker cross-fitted over folds; calibration, threshold and the selective band cross-fitted likewise;
per-family AUC; the metadata-only shortcut baseline on the same folds.

    .venv/bin/python experiments/2026-12-05-detector-v2/analyse.py experiments/2026-12-05-detector-v2/oof.npz
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from cv import group_key
from sklearn.linear_model import LogisticRegression

from sentry_image.evaluate.metrics import auc
from sentry_image.evaluate.metrics import bootstrap_auc as _bootstrap

CONDITIONS = ("original", "size_matched", "native_crop", "social")
MANIFEST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "manifest.csv"


def aggregate(tiles: np.ndarray, rule: str) -> np.ndarray:
    """Image logits from ``[n, 16]`` tile logits (4x4 grid order)."""
    if rule == "mean16":
        return tiles.mean(1)
    if rule == "mean4":  # the 2x2 corners-and-centre subset: the cheap knob (4 tiles)
        return tiles[:, [0, 3, 12, 15]].mean(1)
    if rule == "top4":
        return np.sort(tiles, 1)[:, -4:].mean(1)
    if rule == "median":
        return np.median(tiles, 1)
    raise ValueError(rule)


def crossfit(x: dict[str, np.ndarray], y: np.ndarray, fold: np.ndarray, fit_on: str) -> dict[str, np.ndarray]:
    """Stacked logits: for each fold a class-balanced logistic regression fitted on the other folds' ``fit_on``
    copies, applied to this fold's copies of every condition."""
    out = {c: np.zeros(len(y)) for c in x}
    for f in np.unique(fold):
        tr = fold != f
        lr = LogisticRegression(class_weight="balanced", C=1.0).fit(x[fit_on][tr], y[tr])
        for c in x:
            out[c][fold == f] = lr.decision_function(x[c][fold == f])
    return out


def temperature_threshold(z: np.ndarray, y: np.ndarray) -> tuple[LogisticRegression, float]:
    lr = LogisticRegression(C=1e6).fit(z[:, None], y)  # Platt: a, b on the logit
    p = lr.predict_proba(z[:, None])[:, 1]
    grid = np.unique(p)
    bal = [0.5 * ((p[y == 1] >= t).mean() + (p[y == 0] < t).mean()) for t in grid]
    return lr, float(grid[int(np.argmax(bal))])


def selective_band(p: np.ndarray, y: np.ndarray, t: float, target: float = 0.95) -> tuple[float, float]:
    """The narrowest band around ``t`` (symmetric in rank around the threshold, grown one step at a time) whose
    decided images are right at ``target``."""
    for half in np.linspace(0.0, 0.49, 99):
        lo, hi = max(0.0, t - half), min(1.0, t + half)
        decided = (p <= lo) | (p >= hi)
        if decided.sum() and ((p[decided] >= t) == y[decided]).mean() >= target:
            return lo, hi
    return 0.0, 1.0


def calibrated(z: dict[str, np.ndarray], y: np.ndarray, fold: np.ndarray) -> dict[str, dict[str, float]]:
    """Accuracy at the threshold, coverage and selective accuracy of the band: calibration, threshold and band
    fitted on the other folds' original copies, judged on this fold's copies."""
    res: dict[str, dict[str, list[float]]] = {c: {"right": [], "decided": [], "dright": []} for c in z}
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        lr, t = temperature_threshold(z["original"][tr], y[tr])
        lo, hi = selective_band(lr.predict_proba(z["original"][tr][:, None])[:, 1], y[tr], t)
        for c in z:
            p = lr.predict_proba(z[c][te][:, None])[:, 1]
            decided = (p <= lo) | (p >= hi)
            right = (p >= t) == y[te]
            res[c]["right"] += right.tolist()
            res[c]["decided"] += decided.tolist()
            res[c]["dright"] += right[decided].tolist()
    return {c: {"accuracy": float(np.mean(v["right"])), "coverage": float(np.mean(v["decided"])),
                "selective_accuracy": float(np.mean(v["dright"])) if v["dright"] else float("nan")}
            for c, v in res.items()}


def metadata_baseline(y: np.ndarray, fold: np.ndarray) -> float:
    rows = list(csv.DictReader(MANIFEST.open()))
    fmts = sorted({r["format"] for r in rows})
    x = np.array([[r["format"] == f for f in fmts] + [np.log(int(r["width"])), np.log(int(r["height"])),
                  np.log(int(r["bytes"]) / (int(r["width"]) * int(r["height"]))),
                  int(r["width"]) == int(r["height"])] for r in rows], dtype=float)
    z = np.zeros(len(y))
    for f in np.unique(fold):
        lr = LogisticRegression(class_weight="balanced", max_iter=2000).fit(x[fold != f], y[fold != f])
        z[fold == f] = lr.decision_function(x[fold == f])
    return auc(y, z)


def main() -> None:
    data = dict(np.load(sys.argv[1]))
    y = data["labels"]
    manifest = list(csv.DictReader(MANIFEST.open()))
    families = np.array([r["family"] for r in manifest])
    groups = np.array([group_key(r["path"]) for r in manifest])

    def bootstrap_auc(yy: np.ndarray, s: np.ndarray) -> dict[str, float]:  # intervals by source group
        return _bootstrap(yy, s, groups=groups, n=500)

    report: dict[str, object] = {}
    for scheme in ("grouped", "generator", "family"):
        if f"{scheme}:fold" not in data:
            continue
        fold = data[f"{scheme}:fold"]
        sem = {c: data[f"{scheme}:semantic:{c}"] for c in CONDITIONS}
        tiles = {c: data[f"{scheme}:lowlevel:{c}"] for c in CONDITIONS}
        table: dict[str, dict[str, object]] = {}
        for c in CONDITIONS:
            table.setdefault("semantic", {})[c] = bootstrap_auc(y, sem[c])
            for rule in ("mean16", "mean4", "top4", "median"):
                table.setdefault(f"lowlevel:{rule}", {})[c] = bootstrap_auc(y, aggregate(tiles[c], rule))
        for rule in ("mean16", "mean4"):
            x = {c: np.stack([sem[c], aggregate(tiles[c], rule)], 1) for c in CONDITIONS}
            stacked = crossfit(x, y, fold, "original")
            for c in CONDITIONS:
                table.setdefault(f"fused:{rule}", {})[c] = bootstrap_auc(y, stacked[c])
                ranks = (np.argsort(np.argsort(sem[c])) + np.argsort(np.argsort(aggregate(tiles[c], rule))))
                table.setdefault(f"rank_average:{rule}", {})[c] = bootstrap_auc(y, ranks.astype(float))
            table[f"fused:{rule}:decisions"] = calibrated(stacked, y, fold)
            if rule == "mean16":
                per_family = {}
                for fam in ("diffusion", "gan", "autoregressive"):
                    m = (families == fam) | (y == 0)
                    per_family[fam] = {c: round(auc(y[m], stacked[c][m]), 3) for c in CONDITIONS}
                table["fused:mean16:per_family"] = per_family
        table["metadata_only:original"] = {"auc": round(metadata_baseline(y, fold), 3)}
        report[scheme] = table
    out = Path(sys.argv[1]).with_name("report.json")
    out.write_text(json.dumps(report, indent=1) + "\n")
    for scheme, table in report.items():
        print(f"== {scheme}")
        for name, row in table.items():  # type: ignore[attr-defined]
            print(f"  {name:28s}", json.dumps(row))


if __name__ == "__main__":
    main()
