"""The threshold, the per-image decisions and the selective band on small hand-made sets where every value can be
worked out: exact false-positive-rate boundaries, tied cuts, a score exactly at the threshold, a side of the
threshold decided whole or not at all, and bands that decide a single image or none.

Each case comes from a fault that the rest of the suite let through (``benchmarks/mutation.py``): thresholds and
bands fitted on thousands of random images rarely land on the ties and boundaries a small calibration split hits.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from sentry_image.evaluate.calibrate import choose_threshold, decisions, selective_band
from sentry_image.models.calibration import Calibration

pytestmark = pytest.mark.core  # numpy only

NAN = pytest.approx(np.nan, nan_ok=True)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- choose_threshold ------------------------------------------------------------------------------------------------

# 20 real images, one of them scored 0.8; AI images at 0.9, 0.7 and 0.6. Thresholds 0.7 and 0.6 let exactly that
# real image through: a false-positive rate of 1/20 = 0.05.
Y_FPR = np.r_[np.zeros(20, int), np.ones(3, int)]
P_FPR = np.r_[np.full(19, 0.1), 0.8, 0.9, 0.7, 0.6]


def test_fpr_rule_accepts_a_rate_exactly_at_the_target() -> None:
    assert choose_threshold(Y_FPR, P_FPR, "fpr", 0.05) == 0.6
    assert choose_threshold(Y_FPR, P_FPR, "fpr") == 0.6  # the default target is 0.05
    assert choose_threshold(Y_FPR, P_FPR, "fpr", 0.04) == 0.9  # below 1/20: no real image may pass
    # a target computed in floating point may land a hair (1e-12) under 1/20: still one image in twenty
    assert choose_threshold(Y_FPR, P_FPR, "fpr", 0.05 - 1e-12) == 0.6


def test_fpr_rule_falls_back_to_one_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        # the highest score is a real image's: every threshold that calls anything AI has a false-positive rate of 1
        assert choose_threshold(np.array([0, 1]), np.array([0.9, 0.2]), "fpr", 0.01) == 1.0
    assert _warnings(caplog) == ["no threshold reaches FPR <= 0.01 on the calibration split; using 1.0"]


def test_balanced_is_the_default_and_refusals_name_the_rules() -> None:
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.6, 0.8])
    assert choose_threshold(y, p) == choose_threshold(y, p, "balanced") == pytest.approx(0.45)
    with pytest.raises(ValueError, match=re.escape("unknown threshold rule 'youden'; expected one of "
                                                   "('balanced', 'fpr')")):
        choose_threshold(y, p, "youden")  # type: ignore[arg-type]


def test_tied_cuts_take_the_one_nearest_one_half() -> None:
    # AI 0.9, real 0.85, AI 0.5, real 0.4, AI 0.3, real 0.1: TPR - FPR is 1/3 after 0.9, after 0.5 and after 0.3;
    # the midpoints of those cuts are 0.875, 0.45 and 0.2, and 0.45 is the nearest to 0.5
    y, p = np.array([1, 0, 1, 0, 1, 0]), np.array([0.9, 0.85, 0.5, 0.4, 0.3, 0.1])
    assert choose_threshold(y, p, "balanced") == pytest.approx(0.45)


def test_when_no_cut_beats_chance_every_image_is_called_ai() -> None:
    # the AI image scores below the real one: only the cut under the lowest score reaches TPR - FPR = 0, and it
    # lies halfway between that score and 0, the lowest probability there is
    assert choose_threshold(np.array([1, 0]), np.array([0.2, 0.8]), "balanced") == pytest.approx(0.1)


# -- decisions -------------------------------------------------------------------------------------------------------

def test_decisions_count_the_threshold_as_ai_and_the_band_edges_as_decided() -> None:
    cal = Calibration(threshold=0.5, uncertain_band=(0.3, 0.7))
    y = np.array([0, 1, 1, 1, 0, 1, 0])
    p = np.array([0.3, 0.5, 0.7, 0.2, 0.6, 0.9, 0.4])
    right, decided = decisions(y, p, cal)
    assert right.tolist() == [True, True, True, False, False, True, True]
    assert decided.tolist() == [True, False, True, True, False, True, False]


# -- selective_band --------------------------------------------------------------------------------------------------

def test_a_score_at_the_threshold_is_on_the_ai_side() -> None:
    # 0.5 is called AI (p >= threshold), rightly: all three images are right, so all are decided
    assert selective_band(np.array([0, 1, 1]), np.array([0.2, 0.5, 0.9]), 0.5, 1.0) == ((0.2, 0.5), 1.0, 1.0)


def test_an_accuracy_exactly_at_the_target_is_enough() -> None:
    # all four called real, three of them rightly: 3/4 meets a target of 0.75 without abstaining
    y, p = np.array([0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])
    assert selective_band(y, p, 0.5, 0.75) == ((0.4, 1.0), 1.0, 0.75)


def test_a_perfect_split_decides_everything_at_a_target_of_one() -> None:
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.6, 0.8])
    assert selective_band(y, p, 0.5, 1.0) == ((0.3, 0.6), 1.0, 1.0)


def test_a_band_deciding_a_single_image() -> None:
    # both called real; the AI image at 0.45 is wrong, so only the real one at 0.4 can be decided. Nothing lies
    # above the threshold: the upper edge is 1 (only a certainty would be called AI)
    assert selective_band(np.array([0, 1]), np.array([0.4, 0.45]), 0.5, 1.0) == ((0.4, 1.0), 0.5, 1.0)


def test_a_side_abstained_on_whole_has_its_edge_at_the_end() -> None:
    # the only image called real is wrong: abstain on all of that side, the lower edge goes to 0
    assert selective_band(np.array([1, 1]), np.array([0.3, 0.8]), 0.5, 1.0) == ((0.0, 0.8), 0.5, 1.0)
    # the only image called AI is wrong: the upper edge goes to 1
    assert selective_band(np.array([0, 0]), np.array([0.2, 0.7]), 0.5, 1.0) == ((0.2, 1.0), 0.5, 1.0)


def test_a_grid_of_two_decides_each_side_whole_or_not_at_all() -> None:
    # called real: 0.1, 0.2 right, 0.4 wrong; called AI: 0.6, 0.8, 0.9 right. Abstaining on 0.4 alone would reach
    # the target, but with two cuts per side the only choices are the whole below side or none of it
    y, p = np.array([0, 0, 1, 1, 1, 1]), np.array([0.1, 0.2, 0.4, 0.6, 0.8, 0.9])
    assert selective_band(y, p, 0.5, 0.9) == ((0.2, 0.6), pytest.approx(5 / 6), 1.0)
    assert selective_band(y, p, 0.5, 0.9, grid=2) == ((0.0, 0.6), 0.5, 1.0)
    # the nearest image on each side is wrong, and neither side is right at 0.9 on its own: nothing qualifies
    y, p = np.array([0, 0, 1, 0, 1, 1]), np.array([0.1, 0.2, 0.4, 0.6, 0.8, 0.9])
    assert selective_band(y, p, 0.5, 0.9) == ((0.2, 0.8), pytest.approx(4 / 6), 1.0)
    assert selective_band(y, p, 0.5, 0.9, grid=2) == ((0.0, 1.0), 0.0, NAN)


def test_bands_deciding_as_many_images_prefer_the_more_accurate() -> None:
    # Ten images each side, cuts at 0, 5 or 10 images (grid=3). Called real: the five nearest the threshold are 3
    # right, the five farthest all right; called AI: the five nearest 2 right, the five farthest all right.
    # Deciding all 20 is right 15 times (0.75 < 0.79). Abstaining on the five nearest AI calls decides 15, right
    # 13 times (0.867); abstaining on the five nearest real calls decides 15, right 12 times (0.8): the first wins.
    near_real, far_real = [0.45, 0.44, 0.43, 0.42, 0.41], [0.1, 0.09, 0.08, 0.07, 0.06]
    near_ai, far_ai = [0.55, 0.56, 0.57, 0.58, 0.59], [0.9, 0.91, 0.92, 0.93, 0.94]
    p = np.array(near_real + far_real + near_ai + far_ai)
    y = np.array([0, 0, 0, 1, 1] + [0] * 5 + [1, 1, 0, 0, 0] + [1] * 5)
    band, coverage, right = selective_band(y, p, 0.5, 0.79, grid=3)
    assert (band, coverage) == ((0.45, 0.9), 0.75) and right == pytest.approx(13 / 15)


def test_no_band_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        # both images on the wrong side of the threshold: no band is right at all
        assert selective_band(np.array([1, 0]), np.array([0.4, 0.6]), 0.5, 0.95) == ((0.0, 1.0), 0.0, NAN)
    assert _warnings(caplog) == ["no uncertain band reaches selective accuracy 0.95 on the calibration data"]


def test_no_image_means_no_band_even_at_a_target_of_zero() -> None:
    assert selective_band(np.array([], int), np.array([]), 0.5, 0.0) == ((0.0, 1.0), 0.0, NAN)
