"""Calibration fitted on too few images, or with a degenerate band, is made, warned about and recorded."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sentry_image.data.manifest import ManifestRow
from sentry_image.data.splits import Split
from sentry_image.evaluate.calibrate import ScoredSplit, fit_calibration
from sentry_image.evaluate.calibration_checks import check_fit
from sentry_image.models.calibration import Calibration, IsotonicKnots
from sentry_image.types import Label


def _scored(n_real: int, n_ai: int, seed: int = 0) -> ScoredSplit:
    rng = np.random.default_rng(seed)
    labels = [0] * n_real + [1] * n_ai
    rows = tuple(ManifestRow(path=Path(f"{i}.png"), rel_path=f"{i}.png", label=Label(v)) for i, v in enumerate(labels))
    return ScoredSplit(Split("calibration", rows, ("g",)), rng.normal(size=len(labels)) + 2.0 * np.asarray(labels))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "calibration warning" in
            r.getMessage()]


def test_isotonic_on_forty_images_warns_once_and_records_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cal = fit_calibration(_scored(20, 20), method="isotonic")
    lines = _warnings(caplog)
    assert len(lines) == 1 and "\n" not in lines[0]
    low, high = cal.uncertain_band
    assert lines[0].startswith(f"calibration warning: isotonic fitted on 40 images (20 real, 20 AI), threshold "
                               f"{cal.threshold:.3f}, uncertain band [{low:.3f}, {high:.3f}]: ")
    assert cal.extra["warnings"][0] == "too few images for isotonic (it wants >= 300 in all and >= 30 of each class)"
    assert all(issue in lines[0] for issue in cal.extra["warnings"])
    assert cal.to_dict()["extra"]["warnings"] == cal.extra["warnings"]  # what config.json stores
    assert cal.isotonic is not None  # warned, not refused


def test_enough_images_fit_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cal = fit_calibration(_scored(300, 300))
    assert _warnings(caplog) == [] and "warnings" not in cal.extra


def test_temperature_needs_fewer_images_than_isotonic_but_each_class_needs_thirty() -> None:
    y = np.repeat([0, 1], [40, 40])
    p = np.r_[np.full(40, 0.2), np.full(40, 0.8)]
    cal = Calibration(threshold=0.5, uncertain_band=(0.35, 0.65))
    assert check_fit("temperature", y, p, cal) == []
    assert check_fit("isotonic", y, p, cal)[0].startswith("too few images for isotonic")
    assert check_fit("temperature", np.repeat([0, 1], [90, 10]), np.r_[np.full(90, 0.2), np.full(10, 0.8)], cal)


def test_a_band_reaching_past_what_the_map_gives_is_called_out() -> None:
    # the reported case: isotonic probabilities stop at 1 - 1/42, the band [0.83, 1.0] decides no AI image
    knots = IsotonicKnots((-1.0, 0.0, 1.0), (1 / 42, 0.5, 1 - 1 / 42))
    cal = Calibration(threshold=0.9, uncertain_band=(0.83, 1.0), isotonic=knots)
    y = np.repeat([0, 1], [200, 200])
    p = knots(np.r_[np.full(200, -1.0), np.full(200, 1.0)])
    issues = check_fit("isotonic", y, p, cal)
    assert any("upper edge 1.000 is above every probability the map gives (at most 0.976)" in i for i in issues)
    never = Calibration(threshold=1.0, uncertain_band=(0.85, 1.0))  # the fpr rule's fallback
    assert any("no image is called AI" in i for i in check_fit("temperature", y, p, never))


def test_wide_bands_and_bands_holding_most_images_are_called_out() -> None:
    y = np.repeat([0, 1], [100, 100])
    p = np.r_[np.full(100, 0.45), np.full(100, 0.55)]
    wide = check_fit("temperature", y, p, Calibration(threshold=0.5, uncertain_band=(0.1, 0.9)))
    assert any("0.800 wide" in i for i in wide) and any("holds 100% of the calibration images" in i for i in wide)
    assert check_fit("temperature", y, p, Calibration(threshold=0.5, uncertain_band=(0.48, 0.52))) == []


def test_a_training_run_records_its_small_calibration_split(eval_data: tuple[Path, Path]) -> None:
    import json

    _, ckpt = eval_data  # trained on 5 sources per class: its calibration split holds a few images
    cal = json.loads((ckpt / "config.json").read_text())["calibration"]
    assert cal["extra"]["warnings"][0].startswith("too few images for temperature")
