"""Detection metrics in plain numpy (no scikit-learn at runtime): ``y`` = 1 for AI, scores higher = more AI.

Threshold-free metrics (AUC, AP, EER) are kept apart from operating-point metrics (accuracy at a threshold).
Ties are handled as scikit-learn does (AUC counts a tie as half; AP steps over tied scores together).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .bootstrap import percentile, replicate_metrics


def _check(y: ArrayLike, s: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    raw = np.asarray(y).reshape(-1)
    st = np.asarray(s, dtype=np.float64).reshape(-1)
    if raw.shape != st.shape:
        raise ValueError(f"labels and scores differ in length: {raw.shape[0]} vs {st.shape[0]}")
    # checked before the cast: 0.7 cast to an integer would pass as 0 (real)
    if not np.isin(raw, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (AI)")
    yt = raw.astype(np.int64)
    if not np.isfinite(st).all():
        raise ValueError("scores must be finite")
    return yt, st


def _both_classes(y: NDArray[np.int64]) -> None:
    if y.min(initial=1) == y.max(initial=0) or y.size == 0:
        raise ValueError("needs both classes (real and AI) among the labels")


def roc_curve(y: ArrayLike, s: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``(fpr, tpr, thresholds)`` at every distinct score, from the strictest threshold (``+inf``) down."""
    yt, st = _check(y, s)
    _both_classes(yt)
    order = np.argsort(-st, kind="mergesort")
    ys, ss = yt[order], st[order]
    last = np.r_[np.nonzero(np.diff(ss))[0], ys.size - 1]  # last index of each run of equal scores
    tp = np.cumsum(ys)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    return fpr, tpr, np.r_[np.inf, ss[last]]


def auc(y: ArrayLike, s: ArrayLike) -> float:
    """Area under the ROC curve (probability that a random AI image outscores a random real one)."""
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.trapezoid(tpr, fpr))


def bootstrap_auc(y: ArrayLike, s: ArrayLike, *, n: int = 1000, level: float = 0.95, seed: int = 0,
                  groups: ArrayLike | None = None) -> dict[str, float]:
    """AUC with a percentile bootstrap interval: ``{"auc", "low", "high", "n"}``.

    Resamples within each class (so every replicate has both), or, with ``groups``, whole groups within each class
    (images of one source are not independent: resampling them one by one would make the interval too narrow).
    """
    yt, st = _check(y, s)
    _both_classes(yt)
    keys = None if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
    values = replicate_metrics(yt, st, replicates=n, seed=seed, groups=keys)["auc"]
    low, high = percentile(values, level)
    return {"auc": round(auc(yt, st), 4), "low": round(low, 4), "high": round(high, 4), "n": int(yt.size)}


def average_precision(y: ArrayLike, s: ArrayLike) -> float:
    """Average precision with AI as the positive class (step-wise, as scikit-learn computes it)."""
    yt, st = _check(y, s)
    _both_classes(yt)
    order = np.argsort(-st, kind="mergesort")
    ys, ss = yt[order], st[order]
    last = np.r_[np.nonzero(np.diff(ss))[0], ys.size - 1]
    tp = np.cumsum(ys)[last].astype(np.float64)
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def eer(y: ArrayLike, s: ArrayLike) -> float:
    """Equal error rate: where the false-positive rate meets the false-negative rate (linear interpolation)."""
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1.0 - tpr
    diff = fpr - fnr
    i = int(np.argmax(diff >= 0))  # first point where FPR has caught up with FNR
    if i == 0:
        return float(fpr[0])
    d0, d1 = diff[i - 1], diff[i]
    t = d0 / (d0 - d1) if d1 != d0 else 0.0
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def tpr_at_fpr(y: ArrayLike, s: ArrayLike, max_fpr: float) -> float:
    """Highest true-positive rate reachable with a false-positive rate at most ``max_fpr``."""
    fpr, tpr, _ = roc_curve(y, s)
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def accuracy_at(y: ArrayLike, p: ArrayLike, threshold: float) -> dict[str, float]:
    """Accuracy on real images, on AI images, overall, and balanced, predicting AI when ``p >= threshold``."""
    yt, pt = _check(y, p)
    pred = pt >= threshold
    out: dict[str, float] = {"overall": float(np.mean(pred == yt.astype(bool)))} if yt.size else {}
    real, fake = yt == 0, yt == 1
    out["real"] = float(np.mean(~pred[real])) if real.any() else float("nan")
    out["fake"] = float(np.mean(pred[fake])) if fake.any() else float("nan")
    out["balanced"] = float(np.nanmean([out["real"], out["fake"]]))
    return out


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of probabilities ``p`` against the labels."""
    yt, pt = _check(y, p)
    return float(np.mean((pt - yt) ** 2))


def ece(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error over ``n_bins`` equal-width probability bins (weighted by bin size)."""
    yt, pt = _check(y, p)
    if ((pt < 0) | (pt > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    bins = np.minimum((pt * n_bins).astype(np.int64), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            total += sel.sum() * abs(pt[sel].mean() - yt[sel].mean())
    return float(total / max(1, yt.size))


def summary(y: ArrayLike, p: ArrayLike, threshold: float) -> dict[str, Any]:
    """Every metric above for probabilities ``p`` (AUC/AP/EER need both classes, else they are omitted)."""
    yt, pt = _check(y, p)
    out: dict[str, Any] = {"n": int(yt.size), "n_real": int((yt == 0).sum()), "n_ai": int((yt == 1).sum())}
    if yt.size and yt.min() != yt.max():
        out.update(auc=auc(yt, pt), ap=average_precision(yt, pt), eer=eer(yt, pt),
                   tpr_at_fpr_0_05=tpr_at_fpr(yt, pt, 0.05), tpr_at_fpr_0_01=tpr_at_fpr(yt, pt, 0.01))
    out["accuracy"] = accuracy_at(yt, pt, threshold)
    out.update(threshold=float(threshold), ece=ece(yt, pt), brier=brier(yt, pt))
    return out


__all__ = ["accuracy_at", "auc", "average_precision", "bootstrap_auc", "brier", "ece", "eer", "roc_curve", "summary",
           "tpr_at_fpr"]
