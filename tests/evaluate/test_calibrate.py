"""Calibration: fitted on the calibration split only, sensible threshold and band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sentry_image.data.manifest import ManifestRow
from sentry_image.data.splits import Split
from sentry_image.evaluate.calibrate import (
    CalibrationSplitError,
    ScoredSplit,
    choose_threshold,
    fit_calibration,
    selective_band,
)
from sentry_image.types import Label


def _split(role: str, labels: list[int]) -> Split:
    rows = tuple(ManifestRow(path=Path(f"{i}.png"), rel_path=f"{i}.png", label=Label(v)) for i, v in enumerate(labels))
    return Split(role, rows, ("g",))


def test_test_and_train_splits_are_refused() -> None:
    for role in ("test", "train"):
        with pytest.raises(CalibrationSplitError, match="calibration split"):
            fit_calibration(ScoredSplit(_split(role, [0, 1]), [-1.0, 1.0]))
    with pytest.raises(TypeError):
        fit_calibration((np.zeros(2), np.array([0, 1])))  # type: ignore[arg-type]


def test_logits_must_match_rows() -> None:
    with pytest.raises(ValueError, match="3 logits for 2 rows"):
        ScoredSplit(_split("calibration", [0, 1]), [0.0, 1.0, 2.0])


def test_fit_recovers_scale_and_separates_classes() -> None:
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 3, 2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    noisy = true_logit * 3.0  # an overconfident model: temperature should come out near 3
    cal = fit_calibration(ScoredSplit(_split("calibration", y.tolist()), noisy), prior=1e-3)
    assert 2.5 < cal.temperature < 3.5 and abs(cal.bias) < 0.3
    p = cal.probability(noisy)
    assert ((p >= cal.threshold) == y.astype(bool)).mean() > 0.85
    low, high = cal.uncertain_band
    assert 0.0 <= low <= cal.threshold <= high <= 1.0
    assert "calibration split: 2000 images" in cal.fitted_on


def test_separable_data_stays_finite_and_fpr_rule_respects_target() -> None:
    y = [0] * 10 + [1] * 10
    z = np.r_[np.linspace(-5, -1, 10), np.linspace(1, 5, 10)]
    cal = fit_calibration(ScoredSplit(_split("calibration", y), z))
    assert np.isfinite(cal.temperature) and 0 < cal.temperature < 10
    p = np.r_[np.linspace(0.0, 0.5, 20), np.linspace(0.3, 1.0, 20)]
    yy = np.r_[np.zeros(20, int), np.ones(20, int)]
    thr = choose_threshold(yy, p, "fpr", 0.1)
    assert (p[yy == 0] >= thr).mean() <= 0.1


def test_only_a_real_calibration_split_gets_through() -> None:
    with pytest.raises(ValueError, match="unknown split role 'calib'"):
        _split("calib", [0, 1])

    class LookAlike:  # quacks like a calibration Split without being one
        role, rows, groups, description = "calibration", _split("test", [0, 1]).rows, ("g",), ""

        def __len__(self) -> int:
            return 2

    with pytest.raises(TypeError, match=r"needs a sentry_image\.data\.splits\.Split"):
        ScoredSplit(LookAlike(), [0.0, 1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not finite"):
        ScoredSplit(_split("calibration", [0, 1]), [0.0, np.nan])


def test_rows_are_frozen_when_scored() -> None:
    rows = list(_split("calibration", [0, 1]).rows)
    scored = ScoredSplit(Split("calibration", rows, ("g",)), [-1.0, 1.0])  # type: ignore[arg-type]
    rows.append(rows[0])  # growing the caller's list afterwards cannot desync labels from logits
    assert len(scored.split) == 2 and scored.labels.tolist() == [0, 1]
    fit_calibration(scored)


def test_held_out_splits_must_share_no_image() -> None:
    cal = _split("calibration", [0, 1, 0, 1])
    test = Split("test", cal.rows[2:], ("h",))
    with pytest.raises(CalibrationSplitError, match="shares 2 image"):
        fit_calibration(ScoredSplit(cal, [-1.0, 1.0, -2.0, 2.0]), held_out=[test])
    same_bytes = Split("test", (ManifestRow(path=Path("elsewhere.png"), rel_path="e.png", label=Label(0),
                                            fields={"sha256": "ab"}),), ("h",))
    hashed = Split("calibration", (ManifestRow(path=Path("0.png"), rel_path="0.png", label=Label(0),
                                               fields={"sha256": "ab"}), *cal.rows[1:]), ("g",))
    with pytest.raises(CalibrationSplitError, match="sha256:ab"):
        fit_calibration(ScoredSplit(hashed, [-1.0, 1.0, -2.0, 2.0]), held_out=[same_bytes])
    disjoint = Split("test", (ManifestRow(path=Path("9.png"), rel_path="9.png", label=Label(1)),), ("h",))
    fit_calibration(ScoredSplit(cal, [-1.0, 1.0, -2.0, 2.0]), held_out=[disjoint])


def test_selective_band_decides_the_most_images_that_stay_right_at_the_target() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    p = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.2, 2000), 0, 1)  # more errors near 0.5
    (low, high), coverage, right = selective_band(y, p, 0.5, 0.95)
    decided = (p <= low) | (p >= high)
    assert low < 0.5 <= high
    assert right == pytest.approx(((p[decided] >= 0.5) == y[decided]).mean()) and right >= 0.95
    assert coverage == pytest.approx(decided.mean()) and 0.3 < coverage < 1.0
    # no symmetric band around the threshold decides more images at that accuracy
    for h in np.linspace(0.0, 0.5, 101):
        sym = (p <= 0.5 - h) | (p >= 0.5 + h)
        if sym.any() and ((p[sym] >= 0.5) == y[sym]).mean() >= 0.95:
            assert sym.mean() <= coverage + 1e-9
    (_, _), coverage90, right90 = selective_band(y, p, 0.5, 0.90)
    assert coverage90 > coverage and right90 >= 0.90  # a lower target decides more
    (low0, high0), everything, _ = selective_band(y, p, 0.5, 0.0)
    assert everything == 1.0 and low0 == p[p < 0.5].max() and high0 == p[p >= 0.5].min()
    assert selective_band(y, 1 - p, 0.5, 0.99) == ((0.0, 1.0), 0.0, pytest.approx(np.nan, nan_ok=True))


def test_fit_calibration_with_a_selective_target_records_the_band_it_derived() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400).tolist()
    z = (np.asarray(labels) * 2.0 - 1.0) + rng.normal(0, 1.2, 400)
    cal = fit_calibration(ScoredSplit(_split("calibration", labels), z), selective_accuracy=0.95)
    fit = cal.extra["fit"]
    assert fit["selective_accuracy_target"] == 0.95 and fit["selective_accuracy"] >= 0.95
    low, high = cal.uncertain_band
    p = cal.probability(z)
    assert fit["coverage"] == pytest.approx(((p <= low) | (p >= high)).mean(), abs=1e-4)
