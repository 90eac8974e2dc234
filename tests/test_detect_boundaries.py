"""The verdict at its edges: a probability exactly at the threshold is ``ai-generated`` and one ulp below is not;
the uncertain band is open, so its two edges take the threshold's verdict (``fuse`` and the module docstring)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sentry_image import VerdictLabel, fuse, load_detector
from sentry_image.detect import Detector
from tests.helpers.builders import write_image

pytestmark = pytest.mark.core  # fuse and the shipped default run on the core install

BELOW, ABOVE = -math.inf, math.inf


def below(x: float) -> float:
    return math.nextafter(x, BELOW)


def above(x: float) -> float:
    return math.nextafter(x, ABOVE)


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.731058578630005, 1e-9, 1.0])
def test_exactly_at_the_threshold_is_ai_and_one_ulp_below_is_real(threshold: float) -> None:
    no_band = (threshold, threshold)  # a caller-chosen threshold turns the band off
    assert fuse(threshold, [], threshold, no_band)[0] is VerdictLabel.AI
    assert fuse(below(threshold), [], threshold, no_band)[0] is VerdictLabel.REAL
    _, decided_by, reasons = fuse(threshold, [], threshold, no_band)
    assert decided_by == "model" and "at or above its threshold" in reasons[0]


def test_a_zero_threshold_calls_everything_ai() -> None:
    assert fuse(0.0, [], 0.0, (0.0, 0.0))[0] is VerdictLabel.AI


@pytest.mark.parametrize(("low", "threshold", "high"), [(0.4, 0.5, 0.6), (0.35, 0.5, 0.65), (0.2, 0.45, 0.9)])
def test_the_band_is_open_its_edges_take_the_threshold_verdict(low: float, threshold: float, high: float) -> None:
    band = (low, high)
    assert fuse(low, [], threshold, band)[0] is VerdictLabel.REAL  # on the low edge: not inside, below threshold
    assert fuse(above(low), [], threshold, band)[0] is VerdictLabel.UNCERTAIN
    assert fuse(below(high), [], threshold, band)[0] is VerdictLabel.UNCERTAIN
    assert fuse(high, [], threshold, band)[0] is VerdictLabel.AI  # on the high edge: not inside, above threshold
    assert fuse(threshold, [], threshold, band)[0] is VerdictLabel.UNCERTAIN  # inside the band the band wins


def test_a_band_whose_high_edge_is_the_threshold_gives_ai_on_it() -> None:
    assert fuse(0.5, [], 0.5, (0.3, 0.5))[0] is VerdictLabel.AI
    assert fuse(below(0.5), [], 0.5, (0.3, 0.5))[0] is VerdictLabel.UNCERTAIN
    assert fuse(0.3, [], 0.5, (0.3, 0.5))[0] is VerdictLabel.REAL


@pytest.fixture(scope="module")
def default_detector() -> Detector:
    return load_detector(provenance=False)


def test_the_detector_compares_its_own_probability_at_the_threshold(default_detector: Detector,
                                                                     tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", (96, 80), seed=7)
    prob = default_detector.detect(path).ai_probability
    assert prob is not None and 0.0 < prob < 1.0
    model = default_detector.model
    at = Detector(model, threshold=prob, provenance=False).detect(path)
    assert at.ai_probability == prob and at.threshold == prob
    assert at.verdict is VerdictLabel.AI and at.decided_by == "model"
    over = Detector(model, threshold=above(prob), provenance=False).detect(path)
    assert over.ai_probability == prob and over.verdict is VerdictLabel.REAL
