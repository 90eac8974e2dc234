"""Whether a fitted calibration can be trusted: too few images for its method, or a degenerate uncertain band.

A calibration fitted on 40 images still loads and runs, and refusing it would only push users to work around the
check; instead the fit is made loud. :func:`check_fit` lists the problems, and :func:`fit_calibration` logs them as
one warning line and records them in the calibration (``extra["warnings"]``, saved in ``config.json``), so whoever
loads the checkpoint later sees them too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from ..models.calibration import Calibration

# fewest calibration images for each method: isotonic fits a step per pooled block and overfits a small split
# (its own docs say a few hundred); temperature fits two parameters, but its threshold still rests on the split
MIN_IMAGES: Mapping[str, int] = {"temperature": 50, "isotonic": 300}
# fewest images of each class: below this one image moves the threshold's false-positive rate by over 3 %
MIN_PER_CLASS = 30
# a band wider than this leaves the verdict to the band rather than the detector
MAX_BAND_WIDTH = 0.5
# a band holding more than this share of the calibration images decides too few of them
MAX_UNDECIDED = 0.5


def _reachable(cal: Calibration) -> tuple[float, float]:
    """The lowest and highest probability the map can give: the end knots of an isotonic map; a temperature map
    approaches 0 and 1 without reaching them."""
    if cal.isotonic is not None:
        return float(min(cal.isotonic.y)), float(max(cal.isotonic.y))
    return 0.0, 1.0


def check_fit(method: str, y: NDArray[np.int64], p: NDArray[np.float64], cal: Calibration) -> list[str]:
    """Problems of a calibration fitted on labels ``y`` whose calibrated probabilities are ``p`` (empty: none)."""
    n_real, n_ai = int((y == 0).sum()), int((y == 1).sum())
    issues = []
    wanted = MIN_IMAGES.get(method, 0)
    if y.size < wanted or min(n_real, n_ai) < MIN_PER_CLASS:
        issues.append(f"too few images for {method} (it wants >= {wanted} in all and >= {MIN_PER_CLASS} of each "
                      "class)")
    low, high = cal.uncertain_band
    p_min, p_max = _reachable(cal)
    if cal.threshold > p_max or (cal.threshold >= 1.0 and cal.isotonic is None):
        issues.append(f"the threshold {cal.threshold:.3f} is above every probability the map gives (at most "
                      f"{p_max:.3f}): no image is called AI")
    elif high > p_max or (high >= 1.0 and cal.isotonic is None):
        issues.append(f"the band's upper edge {high:.3f} is above every probability the map gives (at most "
                      f"{p_max:.3f}): no image is called AI outside the band")
    if low < p_min or (low <= 0.0 and cal.isotonic is None):
        issues.append(f"the band's lower edge {low:.3f} is below every probability the map gives (at least "
                      f"{p_min:.3f}): no image is called real outside the band")
    if high - low > MAX_BAND_WIDTH:
        issues.append(f"the band is {high - low:.3f} wide (limit {MAX_BAND_WIDTH})")
    undecided = float(np.mean((p > low) & (p < high))) if p.size else 0.0
    if undecided > MAX_UNDECIDED:
        issues.append(f"the band holds {undecided:.0%} of the calibration images (uncertain verdicts)")
    return issues


def warning_line(method: str, y: NDArray[np.int64], cal: Calibration, issues: list[str]) -> str:
    """The one line logged for a fit with ``issues``: what was fitted, on how many images, and what is wrong."""
    low, high = cal.uncertain_band
    n_real, n_ai = int((y == 0).sum()), int((y == 1).sum())
    return (f"calibration warning: {method} fitted on {y.size} images ({n_real} real, {n_ai} AI), threshold "
            f"{cal.threshold:.3f}, uncertain band [{low:.3f}, {high:.3f}]: " + "; ".join(issues))


__all__ = ["MAX_BAND_WIDTH", "MAX_UNDECIDED", "MIN_IMAGES", "MIN_PER_CLASS", "check_fit", "warning_line"]
