"""Calibration fitted on the calibration split only: temperature scaling with a bias, or isotonic regression;
then a threshold and an uncertain band on the calibrated probabilities.

The guarantee, and how it is kept by construction:

* :func:`fit_calibration` is the only function that turns labelled data into a :class:`Calibration`, and it takes
  a :class:`ScoredSplit` (never bare arrays): logits bound to a :class:`~sentry_image.data.splits.Split`, whose
  role is validated when the split is built. Any role but ``calibration`` raises :class:`CalibrationSplitError`,
  so the test split cannot be passed by mistake, and labels come from the split's own rows rather than from a
  separate array that could be mismatched.
* A :class:`ScoredSplit` accepts only a real :class:`Split` (no look-alike object) and freezes its rows when it is
  built, so the rows whose labels are fitted are the rows the logits were computed for.
* What remains possible is deliberate: building ``Split("calibration", rows, ...)`` by hand from test rows. When
  the test split is at hand, pass it as ``held_out`` and any shared image (same path or sha256) is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..data.splits import Split
from ..models.calibration import Calibration, IsotonicKnots
from .calibration_checks import check_fit, warning_line
from .metrics import roc_curve

ThresholdRule = Literal["balanced", "fpr"]
CalibrationMethod = Literal["temperature", "isotonic"]

log = logging.getLogger(__name__)


@dataclass
class CalibrationConfig:
    """How raw logits become probabilities and a verdict, fitted on the calibration split only: the
    ``calibration`` section of a training config, and the options of ``sentry-image calibrate``.

    Attributes:
        enabled: fit after training (off: identity mapping, threshold 0.5).
        method: ``temperature`` (temperature and bias, smooth and monotone) or ``isotonic`` (pool-adjacent-violators
            step function; needs a few hundred calibration images to beat temperature scaling).
        threshold_rule: ``balanced`` (maximise TPR - FPR) or ``fpr`` (lowest threshold whose false-positive rate
            on real calibration images is at most ``target_fpr``).
        target_fpr: the false-positive rate of the ``fpr`` rule.
        band_halfwidth: the uncertain band is the threshold -/+ this, clipped to [0, 1].
        selective_accuracy: when above 0, the band is instead the narrowest one around the threshold outside
            which the calibration images are right at this rate (e.g. 0.95); its coverage is recorded.
    """

    enabled: bool = True
    method: Literal["temperature", "isotonic"] = "temperature"
    threshold_rule: Literal["balanced", "fpr"] = "balanced"
    target_fpr: float = 0.05
    band_halfwidth: float = 0.15
    selective_accuracy: float = 0.0


class CalibrationSplitError(ValueError):
    """Calibration was asked to fit on a split that is not the calibration split."""


@dataclass(frozen=True)
class ScoredSplit:
    """Raw model logits for every row of a split, in the split's row order."""

    split: Split
    logits: NDArray[np.float64]

    def __init__(self, split: Split, logits: ArrayLike) -> None:
        if not isinstance(split, Split):
            raise TypeError(f"ScoredSplit needs a sentry_image.data.splits.Split, not {type(split).__name__}")
        # rows given as a list could grow or be swapped after the length check; freeze them here
        split = replace(split, rows=tuple(split.rows), groups=tuple(split.groups))
        arr = np.asarray(logits, dtype=np.float64).reshape(-1)
        if arr.shape[0] != len(split):
            raise ValueError(f"{arr.shape[0]} logits for {len(split)} rows of the {split.role} split")
        if not np.isfinite(arr).all():
            raise ValueError(f"the {split.role} split has logits that are not finite")
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


def _isotonic(z: NDArray[np.float64], y: NDArray[np.int64]) -> IsotonicKnots:
    """Pool-adjacent-violators fit of ``P(AI | logit)``, kept as knots for ``np.interp`` at detection time."""
    try:
        from sklearn.isotonic import IsotonicRegression  # training time only: the `train` extra
    except ImportError as exc:
        raise ImportError("isotonic calibration needs scikit-learn: pip install 'sentry-image[train]'") from exc
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(z, y)
    # PAV's end blocks are raw frequencies of a few images: a block of k real images gets exactly 0, a certainty
    # that no finite sample supports (and an infinite log-loss for the next real image that lands there). Clip
    # to the rule-of-succession estimate 1/(n+2), the most extreme value n calibration images could justify even
    # if all of them agreed. Clipping is monotone, so the map stays non-decreasing; it only merges the extremes.
    eps = 1.0 / (y.size + 2)
    kx, ky = _clip_ramp(np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, float), eps)
    return IsotonicKnots(tuple(float(v) for v in kx), tuple(float(v) for v in ky))


def _clip_ramp(x: NDArray[np.float64], y: NDArray[np.float64], eps: float) -> tuple[NDArray[np.float64], ...]:
    """Knots of ``clip(interp(., x, y), eps, 1 - eps)``: a knot is added where a ramp crosses a bound, so that
    clipping the function (what the fitted model predicts, then clipped) and not merely its knots is stored."""
    xs, ys = [x[:1]], [y[:1]]
    for x0, x1, y0, y1 in zip(x[:-1], x[1:], y[:-1], y[1:], strict=True):
        cuts = sorted(x0 + (b - y0) * (x1 - x0) / (y1 - y0) for b in (eps, 1.0 - eps) if y0 < b < y1)
        xs.append(np.asarray([c for c in cuts if x0 < c < x1] + [x1]))
        ys.append(np.asarray([y0 + (c - x0) * (y1 - y0) / (x1 - x0) for c in cuts if x0 < c < x1] + [y1]))
    return np.concatenate(xs), np.clip(np.concatenate(ys), eps, 1.0 - eps)


def choose_threshold(y: NDArray[np.int64], p: NDArray[np.float64], rule: ThresholdRule = "balanced",
                     target_fpr: float = 0.05) -> float:
    """Probability threshold on calibration data (``p >= threshold`` means AI).

    ``balanced`` maximises TPR - FPR (Youden's J; the midpoint between neighbouring distinct scores, ties broken
    towards 0.5), ``fpr`` is the lowest threshold whose FPR on real images stays at or below ``target_fpr``.
    Tied probabilities (isotonic plateaus) are never split: every candidate is a distinct score, and all images
    at that score fall on the same side, so the FPR computed here is the FPR the stored threshold gives. When no
    threshold meets the target, ``fpr`` returns 1.0 (only a probability of exactly 1 is called AI; isotonic
    probabilities never reach it).
    """
    if rule not in get_args(ThresholdRule):
        raise ValueError(f"unknown threshold rule {rule!r}; expected one of {get_args(ThresholdRule)}")
    fpr, tpr, thr = roc_curve(y, p)
    finite = np.isfinite(thr)
    if rule == "fpr":
        ok = finite & (fpr <= target_fpr + 1e-12)
        if not ok.any():
            log.warning("no threshold reaches FPR <= %s on the calibration split; using 1.0", target_fpr)
            return 1.0
        return float(thr[ok].min())
    j = np.where(finite, tpr - fpr, -np.inf)
    best = np.flatnonzero(j >= j.max() - 1e-12)
    # the ROC point at index i is reached by thresholding at thr[i]; step halfway to the next lower score
    nxt = np.r_[thr[1:], 0.0]
    mids = 0.5 * (thr[best] + np.where(np.isfinite(nxt[best]), nxt[best], 0.0))
    return float(mids[np.argmin(np.abs(mids - 0.5))])


def decisions(y: NDArray[np.int64], p: NDArray[np.float64],
              calibration: Calibration) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per image: whether the plain decision at the threshold is right, and whether the band decides it (``p`` at
    or outside the band's edges; inside it the verdict is ``uncertain``)."""
    low, high = calibration.uncertain_band
    return (p >= calibration.threshold) == (y == 1), (p <= low) | (p >= high)


def selective_band(y: NDArray[np.int64], p: NDArray[np.float64], threshold: float, target: float,
                   grid: int = 400) -> tuple[tuple[float, float], float, float]:
    """The uncertain band ``(low, high)`` around ``threshold`` that decides the most images while those it decides
    (``p <= low`` called real, ``p >= high`` called AI) are right at ``target`` or better; returns ``(band, coverage,
    selective accuracy)``. The two sides are chosen separately: errors rarely sit symmetrically around a threshold.

    Each side's cut is searched among the images on that side (at most ``grid`` cuts per side, spread by rank).
    When nothing reaches the target, the band is (0, 1) (only certainties decided) and a warning says so.
    """
    below, above = np.sort(p[p < threshold]), np.sort(p[p >= threshold])
    ok_below = (y[np.argsort(p)][: below.size] == 0)[::-1]  # right when called real, nearest the threshold first
    ok_above = y[np.argsort(p)][below.size:] == 1  # right when called AI, nearest the threshold first
    # abstain on the k nearest images of each side: cumulative counts of what stays decided
    kb = np.unique(np.linspace(0, below.size, min(grid, below.size + 1)).round().astype(int))
    ka = np.unique(np.linspace(0, above.size, min(grid, above.size + 1)).round().astype(int))
    right_b = ok_below.sum() - np.r_[0, np.cumsum(ok_below)][kb]
    right_a = ok_above.sum() - np.r_[0, np.cumsum(ok_above)][ka]
    decided = (below.size - kb)[:, None] + (above.size - ka)[None, :]
    right = right_b[:, None] + right_a[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(decided > 0, right / np.maximum(decided, 1), 0.0)
    feasible = (accuracy >= target) & (decided > 0)
    if not feasible.any():
        log.warning("no uncertain band reaches selective accuracy %.2f on the calibration data", target)
        return (0.0, 1.0), 0.0, float("nan")
    score = np.where(feasible, decided + accuracy * 1e-3, -1.0)  # most decided; then the more accurate
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    low = float(below[::-1][kb[i]]) if kb[i] < below.size else 0.0  # the highest probability still called real
    high = float(above[ka[j]]) if ka[j] < above.size else 1.0  # the lowest probability still called AI
    return (low, high), float(decided[i, j] / p.size), float(accuracy[i, j])


def _check_disjoint(split: Split, held_out: Sequence[Split]) -> None:
    def keys(s: Split) -> set[str]:
        return {str(r.path) for r in s.rows} | {f"sha256:{r.fields['sha256']}" for r in s.rows
                                                if r.fields.get("sha256")}

    mine = keys(split)
    for other in held_out:
        shared = mine & keys(other)
        if shared:
            raise CalibrationSplitError(f"the calibration split shares {len(shared)} image(s) with the "
                                        f"{other.role} split, e.g. {sorted(shared)[0]}")


def fit_calibration(scored: ScoredSplit, *, method: CalibrationMethod = "temperature", rule: ThresholdRule = "balanced",
                    target_fpr: float = 0.05, band_halfwidth: float = 0.15, prior: float = 1.0,
                    held_out: Sequence[Split] = (), selective_accuracy: float = 0.0) -> Calibration:
    """Fit the logit -> probability map, threshold and uncertain band on the calibration split.

    Args:
        scored: logits of the calibration split (any other role raises :class:`CalibrationSplitError`).
        method: ``temperature`` (``sigmoid(a*z + b)``, smooth, two parameters) or ``isotonic`` (monotone
            pool-adjacent-violators fit stored as knots; needs a few hundred images to beat temperature).
        rule: how the threshold is chosen on the calibrated probabilities (see :func:`choose_threshold`).
        target_fpr: false-positive rate on real images for ``rule="fpr"``.
        band_halfwidth: the uncertain band is ``threshold -/+ band_halfwidth`` clipped to ``[0, 1]``.
        prior: strength of the temperature fit's pull towards the identity mapping (see :func:`_platt`).
        held_out: splits (e.g. the test split) that must share no image with the calibration split.
        selective_accuracy: above 0, the band comes from :func:`selective_band` at this target instead.

    A fit on too few images, or with a degenerate band, is made, logged as one warning line and recorded in
    ``extra["warnings"]`` (see :mod:`.calibration_checks`).
    """
    if not isinstance(scored, ScoredSplit):
        raise TypeError("fit_calibration takes a ScoredSplit (logits bound to the calibration Split)")
    split = scored.split
    if split.role != "calibration":
        raise CalibrationSplitError(f"calibration must be fitted on the calibration split, not {split.role!r}")
    if method not in get_args(CalibrationMethod):
        raise ValueError(f"unknown calibration method {method!r}; expected one of {get_args(CalibrationMethod)}")
    if not 0.0 <= target_fpr <= 1.0 or band_halfwidth < 0.0:
        raise ValueError(f"need 0 <= target_fpr <= 1 and band_halfwidth >= 0, got {target_fpr}, {band_halfwidth}")
    _check_disjoint(split, held_out)
    y, z = scored.labels, scored.logits
    # np.unique, not min == max with initial values: those let an empty split through to the fit, which then failed
    # deep inside it (scikit-learn's "0 sample(s)" for isotonic) instead of saying what is wrong here
    if np.unique(y).size < 2:
        raise ValueError("the calibration split needs both real and AI images")
    if method == "isotonic":
        cal = Calibration(isotonic=_isotonic(z, y))
        how = f"isotonic (PAV, clipped to [1/(n+2), 1-1/(n+2)], {len(cal.isotonic.x) if cal.isotonic else 0} knots)"
    else:
        a, b = _platt(z, y, prior)
        cal = Calibration(temperature=1.0 / a, bias=b)
        how = f"temperature+bias (Newton, L2 pull {prior} to identity)"
    threshold = choose_threshold(y, cal.probability(z), rule, target_fpr)
    counts = split.label_counts()
    cal.threshold = threshold
    band_fit: dict[str, float] = {}
    if selective_accuracy > 0.0:
        cal.uncertain_band, coverage, right = selective_band(y, cal.probability(z), threshold, selective_accuracy)
        band_fit = {"selective_accuracy_target": selective_accuracy, "coverage": round(coverage, 4),
                    "selective_accuracy": round(right, 4)}
    else:
        cal.uncertain_band = (max(0.0, threshold - band_halfwidth), min(1.0, threshold + band_halfwidth))
    cal.method = f"{how}; threshold rule {rule!r}" + (f" at FPR <= {target_fpr}" if rule == "fpr" else "")
    cal.fitted_on = (f"calibration split: {len(split)} images ({counts.get(0, 0)} real, {counts.get(1, 0)} AI) "
                     f"from {len(split.groups)} groups; {split.description}")
    cal.extra = {"fit": {"method": method, "threshold_rule": rule, "band_halfwidth": band_halfwidth, "n": len(split)}
                 | ({"target_fpr": target_fpr} if rule == "fpr" else {}) | band_fit}
    issues = check_fit(method, y, cal.probability(z), cal)
    if issues:  # kept with the checkpoint, so a later reader sees what the fit's author was told
        cal.extra["warnings"] = issues
        log.warning("%s", warning_line(method, y, cal, issues))
    return cal


__all__ = ["CalibrationConfig", "CalibrationSplitError", "ScoredSplit", "choose_threshold", "decisions",
           "fit_calibration", "selective_band"]
