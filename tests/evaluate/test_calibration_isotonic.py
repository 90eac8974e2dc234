"""Isotonic calibration: hand-computed PAV, agreement with scikit-learn, clipping, ties and threshold rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from sentry_image.data.manifest import ManifestRow
from sentry_image.data.splits import Split
from sentry_image.evaluate.calibrate import ScoredSplit, choose_threshold, fit_calibration
from sentry_image.evaluate.metrics import ece
from sentry_image.types import Label


def _scored(labels: np.ndarray | list[int], logits: np.ndarray | list[float]) -> ScoredSplit:
    rows = tuple(ManifestRow(path=Path(f"/c/{i}.png"), rel_path=f"{i}.png", label=Label(int(v)))
                 for i, v in enumerate(labels))
    return ScoredSplit(Split("calibration", rows, ("g",), "by hand"), logits)


def test_pav_on_a_tiny_array_matches_the_hand_computation() -> None:
    # labels 0 | 1 0 0 | 1 1: the middle violators pool to 1/3, giving the map 0, 1/3, 1/3, 1/3, 1, 1 at x = 1..6,
    # linear in between; n=6 then clips the function (not just its knots) to [1/8, 7/8]
    cal = fit_calibration(_scored([0, 1, 0, 0, 1, 1], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), method="isotonic")
    got = cal.probability(np.array([-10.0, 1.0, 1.5, 2.0, 3.0, 4.0, 4.5, 5.0, 6.0, 99.0]))
    third = 1.0 / 3.0
    want = [1 / 8, 1 / 8, third / 2, third, third, third, (third + 1) / 2, 7 / 8, 7 / 8, 7 / 8]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert cal.temperature == 1.0 and cal.bias == 0.0 and cal.isotonic is not None
    assert cal.extra["fit"]["method"] == "isotonic" and cal.method.startswith("isotonic")


def test_agrees_with_sklearn_between_knots_and_clips_outside() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    z = np.round((2 * y - 1) + rng.normal(0, 1.5, 400), 1)  # rounded: tied logits exercise sklearn's pooling
    cal = fit_calibration(_scored(y, z), method="isotonic")
    ref = IsotonicRegression(out_of_bounds="clip").fit(z, y)
    grid = np.r_[z.min() - 5, np.linspace(z.min(), z.max(), 2001), z.max() + 5, np.sort(z) + 0.03]
    eps = 1 / (400 + 2)
    np.testing.assert_allclose(cal.probability(grid), np.clip(ref.predict(grid), eps, 1 - eps), rtol=0, atol=1e-12)
    p = cal.probability(np.sort(grid))
    assert (np.diff(p) >= 0).all()  # monotone
    assert p[0] == cal.probability(z.min() - 1e6) and p[-1] == cal.probability(z.max() + 1e6)


def test_separated_small_split_never_gives_0_or_1() -> None:
    cal = fit_calibration(_scored([0] * 9 + [1] * 9, np.r_[np.linspace(-4, -1, 9), np.linspace(1, 4, 9)]),
                          method="isotonic")
    p = cal.probability(np.array([-100.0, -4.0, 0.0, 4.0, 100.0]))
    assert p[0] == pytest.approx(1 / 20) and p[-1] == pytest.approx(19 / 20)
    assert ((p > 0) & (p < 1)).all()
    assert cal.probability(np.array(0.5)).shape == ()  # shape of the input kept, as the temperature map does


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
@pytest.mark.parametrize("target", [0.01, 0.05, 0.2])
def test_fpr_rule_meets_the_target_and_is_the_lowest_such_threshold(method: str, target: float) -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 600)
    z = rng.integers(-3, 4, 600) + 1.5 * (2 * y - 1)  # few distinct logits: wide isotonic plateaus, many ties
    cal = fit_calibration(_scored(y, z), method=method, rule="fpr", target_fpr=target)  # type: ignore[arg-type]
    p = cal.probability(z)
    assert (p[y == 0] >= cal.threshold).mean() <= target
    lower = p[p < cal.threshold]
    if lower.size:  # the next lower score would break the target: the threshold is not needlessly strict
        assert (p[y == 0] >= lower.max()).mean() > target
    assert cal.extra["fit"]["target_fpr"] == target and f"FPR <= {target}" in cal.method


def test_balanced_rule_does_not_split_a_plateau_and_band_contains_threshold() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.1, 0.4, 0.4, 0.4, 0.4, 0.9])
    thr = choose_threshold(y, p, "balanced")
    assert thr == pytest.approx(0.25)  # between the plateaus 0.1 and 0.4: J = 1 - 1/4 there, 1/4 above 0.4
    cal = fit_calibration(_scored(y, np.arange(8.0)), method="isotonic", band_halfwidth=0.9)
    low, high = cal.uncertain_band
    assert (low, high) == (0.0, 1.0) and low <= cal.threshold <= high
    with pytest.raises(ValueError, match="threshold rule"):
        choose_threshold(y, p, "youden")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="calibration method"):
        fit_calibration(_scored(y, np.arange(8.0)), method="beta")  # type: ignore[arg-type]


def test_temperature_and_isotonic_both_reduce_ece_on_overconfident_logits() -> None:
    rng = np.random.default_rng(3)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        t = rng.normal(0, 1.5, n)
        return (rng.random(n) < 1 / (1 + np.exp(-t))).astype(int), 3.0 * t + 1.0  # overconfident and shifted

    y_cal, z_cal = sample(1500)
    y_new, z_new = sample(3000)  # scored on fresh data, not on the calibration split
    raw = ece(y_new, 1 / (1 + np.exp(-z_new)))
    temp = ece(y_new, fit_calibration(_scored(y_cal, z_cal), prior=1e-3).probability(z_new))
    iso = ece(y_new, fit_calibration(_scored(y_cal, z_cal), method="isotonic").probability(z_new))
    assert raw > 0.12
    assert temp < 0.3 * raw and iso < 0.4 * raw
