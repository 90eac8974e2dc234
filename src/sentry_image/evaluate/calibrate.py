"""Calibration fitted on the calibration split only: temperature scaling with a bias, threshold, uncertain band.

The API takes a :class:`ScoredSplit`, i.e. logits bound to a :class:`~sentry_image.data.splits.Split`, and
refuses any split whose role is not ``calibration``: the test split cannot be passed by mistake, and labels
come from the split's own rows rather than from a separate array that could be mismatched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..data.splits import Split
from ..models.base import Calibration
from .metrics import roc_curve

ThresholdRule = Literal["balanced", "fpr"]
CalibrationMethod = Literal["temperature", "isotonic"]


class CalibrationSplitError(ValueError):
    """Calibration was asked to fit on a split that is not the calibration split."""


@dataclass(frozen=True)
class ScoredSplit:
    """Raw model logits for every row of a split, in the split's row order."""

    split: Split
    logits: NDArray[np.float64]

    def __init__(self, split: Split, logits: ArrayLike) -> None:
        arr = np.asarray(logits, dtype=np.float64).reshape(-1)
        if arr.shape[0] != len(split):
            raise ValueError(f"{arr.shape[0]} logits for {len(split)} rows of the {split.role} split")
        object.__setattr__(self, "split", split)
        object.__setattr__(self, "logits", arr)

    @property
    def labels(self) -> NDArray[np.int64]:
        """Ground truth from the split's rows (0 real, 1 AI)."""
        return np.array([int(r.label) for r in self.split.rows], dtype=np.int64)


def _platt(z: NDArray[np.float64], y: NDArray[np.int64], prior: float, iters: int = 100) -> tuple[float, float]:
    """Fit ``sigmoid(a*z + b)`` by damped Newton steps, pulled towards ``a=1, b=0`` with an L2 weight ``prior``.

    The pull keeps the fit finite when the calibration split is perfectly separated (plain Platt scaling would
    then send the slope to infinity and every probability to 0 or 1). Backtracking on the penalised loss keeps
    Newton stable for logits far from the unit scale.
    """

    def loss(a: float, b: float) -> float:
        t = a * z + b
        nll = float(np.sum(np.logaddexp(0.0, t) - y * t))
        return nll + 0.5 * prior * ((a - 1.0) ** 2 + b**2)

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(iters):
        p = 0.5 * (1.0 + np.tanh(0.5 * (a * z + b)))  # overflow-free sigmoid
        w = p * (1 - p)
        g = np.array([np.sum((p - y) * z) + prior * (a - 1.0), np.sum(p - y) + prior * b])
        h = np.array([[np.sum(w * z * z) + prior, np.sum(w * z)], [np.sum(w * z), np.sum(w) + prior]])
        step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        scale = 1.0
        while scale > 1e-6 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale *= 0.5
        a, b = a - scale * float(step[0]), b - scale * float(step[1])
        new = loss(a, b)
        if abs(current - new) < 1e-12 * max(1.0, abs(current)):
            break
        current = new
    return max(a, 1e-3), b


def choose_threshold(y: NDArray[np.int64], p: NDArray[np.float64], rule: ThresholdRule = "balanced",
                     target_fpr: float = 0.05) -> float:
    """Probability threshold on calibration data: ``balanced`` maximises TPR - FPR (Youden's J; the midpoint
    between neighbouring scores, ties broken towards 0.5), ``fpr`` is the lowest threshold whose FPR on real
    images stays at or below ``target_fpr``."""
    fpr, tpr, thr = roc_curve(y, p)
    finite = np.isfinite(thr)
    if rule == "fpr":
        ok = finite & (fpr <= target_fpr + 1e-12)
        return float(thr[ok].min()) if ok.any() else 1.0
    j = np.where(finite, tpr - fpr, -np.inf)
    best = np.flatnonzero(j >= j.max() - 1e-12)
    # the ROC point at index i is reached by thresholding at thr[i]; step halfway to the next lower score
    nxt = np.r_[thr[1:], 0.0]
    mids = 0.5 * (thr[best] + np.where(np.isfinite(nxt[best]), nxt[best], 0.0))
    return float(mids[np.argmin(np.abs(mids - 0.5))])


def fit_calibration(scored: ScoredSplit, *, method: CalibrationMethod = "temperature", rule: ThresholdRule = "balanced",
                    target_fpr: float = 0.05, band_halfwidth: float = 0.15, prior: float = 1.0) -> Calibration:
    """Fit temperature, bias, threshold and uncertain band on the calibration split.

    Args:
        scored: logits of the calibration split (any other role raises :class:`CalibrationSplitError`).
        rule: how the threshold is chosen (see :func:`choose_threshold`).
        target_fpr: false-positive rate on real images for ``rule="fpr"``.
        band_halfwidth: the uncertain band is ``threshold -/+ band_halfwidth`` clipped to ``[0, 1]``.
        prior: strength of the pull towards the identity mapping (see :func:`_platt`).
    """
    if not isinstance(scored, ScoredSplit):
        raise TypeError("fit_calibration takes a ScoredSplit (logits bound to the calibration Split)")
    split = scored.split
    if split.role != "calibration":
        raise CalibrationSplitError(f"calibration must be fitted on the calibration split, not {split.role!r}")
    if method != "temperature":
        raise NotImplementedError(f"calibration method {method!r}")
    y, z = scored.labels, scored.logits
    if y.min(initial=1) == y.max(initial=0):
        raise ValueError("the calibration split needs both real and AI images")
    a, b = _platt(z, y, prior)
    p = 0.5 * (1.0 + np.tanh(0.5 * (a * z + b)))
    threshold = choose_threshold(y, p, rule, target_fpr)
    band = (max(0.0, threshold - band_halfwidth), min(1.0, threshold + band_halfwidth))
    counts = split.label_counts()
    return Calibration(
        temperature=1.0 / a, bias=b, threshold=threshold, uncertain_band=band,
        method=f"temperature+bias (Newton, L2 pull {prior} to identity); threshold rule {rule!r}"
               + (f" at FPR <= {target_fpr}" if rule == "fpr" else ""),
        fitted_on=f"calibration split: {len(split)} images ({counts.get(0, 0)} real, {counts.get(1, 0)} AI) "
                  f"from {len(split.groups)} groups; {split.description}",
    )


__all__ = ["CalibrationSplitError", "ScoredSplit", "choose_threshold", "fit_calibration"]
