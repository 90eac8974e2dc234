"""Metrics on the cases the other metric tests leave open: the lowest score an AI image, an exact tie at the
threshold, one class missing, inputs given as columns or small integers, and every value worked out by hand.

Each case comes from a fault that the rest of the suite let through (``benchmarks/mutation.py``): a metric that is
right on balanced random data can still be wrong on the skewed, tied or one-sided sets that evaluation slices make.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sentry_image.evaluate import metrics

pytestmark = pytest.mark.core  # numpy only


def _raises_exactly(message: str) -> pytest.RaisesExc[ValueError]:
    # The whole message: it is what a user reads when an evaluation refuses its input.
    return pytest.raises(ValueError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")
                         .replace("[", r"\[").replace("]", r"\]"))


def test_refusals_say_exactly_what_is_wrong() -> None:
    with _raises_exactly("needs both classes (real and AI) among the labels"):
        metrics.auc([], [])  # no image at all: neither class
    with _raises_exactly("labels must be 0 (real) or 1 (AI)"):
        metrics.auc([0, 3], [0.1, 0.2])
    with _raises_exactly("scores must be finite"):
        metrics.auc([0, 1], [0.1, np.nan])
    with _raises_exactly("probabilities must lie in [0, 1]"):
        metrics.ece([0, 1], [0.2, 1.5])
    with _raises_exactly("probabilities must lie in [0, 1]"):
        metrics.ece([0, 1], [-0.1, 0.5])


def test_a_fractional_label_is_refused() -> None:  # it was once cast to 0 (real) before the check
    with pytest.raises(ValueError, match="labels must be 0"):
        metrics.auc([0.7, 1, 0], [0.2, 0.9, 0.1])


def test_labels_and_scores_may_come_as_a_row_or_a_column() -> None:
    y, s = [0, 1, 0, 1], [0.2, 0.7, 0.4, 0.3]
    flat = metrics.auc(y, s)
    assert metrics.auc(np.array([y]), s) == flat  # a 1 x n row of a table
    assert metrics.auc(y, np.array(s).reshape(-1, 1)) == flat  # an n x 1 column


def test_small_unsigned_integer_scores_rank_as_numbers() -> None:
    # 8-bit scores (0-255): negating them without a float cast would wrap around and reverse the ranking.
    y = [0, 0, 1, 1]
    assert metrics.auc(y, np.array([0, 10, 200, 255], dtype=np.uint8)) == 1.0
    assert metrics.average_precision(y, np.array([0, 10, 200, 255], dtype=np.uint8)) == 1.0


def test_average_precision_when_the_lowest_score_is_an_ai_image() -> None:
    # Sorted: AI 0.9, real 0.5, AI 0.1. Precision at each AI image: 1/1 and 2/3.
    assert metrics.average_precision([1, 0, 1], [0.9, 0.5, 0.1]) == pytest.approx((1 + 2 / 3) / 2)


def test_eer_interpolates_on_the_segment_where_the_error_rates_cross() -> None:
    # ROC points (fpr, tpr): (0, 0) (0, .5) (1/3, .5) (2/3, 1) (1, 1); the tie at 0.5 draws the segment from
    # (1/3, .5) to (2/3, 1), on which fpr = 1/3 + t/3 meets fnr = .5 - t/2 at t = 0.2: EER 0.4.
    assert metrics.eer([1, 0, 0, 1, 0], [0.9, 0.8, 0.5, 0.5, 0.1]) == pytest.approx(0.4)


def test_a_detector_that_gives_every_image_the_same_score_has_an_eer_of_one_half() -> None:
    assert metrics.eer([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)


def test_accuracy_per_class_on_an_unbalanced_set() -> None:
    acc = metrics.accuracy_at([0, 0, 0, 1], [0.1, 0.2, 0.9, 0.8], 0.5)
    assert acc == pytest.approx({"overall": 0.75, "real": 2 / 3, "fake": 1.0, "balanced": 5 / 6})


def test_a_probability_exactly_at_the_threshold_is_called_ai() -> None:
    assert metrics.accuracy_at([1, 0], [0.5, 0.49], 0.5)["fake"] == 1.0


def test_a_missing_class_gives_nan_for_that_class_without_a_numpy_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty mean would warn "Mean of empty slice"
        only_real = metrics.accuracy_at([0, 0], [0.2, 0.7], 0.5)
        only_ai = metrics.accuracy_at([1, 1], [0.2, 0.7], 0.5)
    assert only_real["real"] == 0.5 and np.isnan(only_real["fake"]) and only_real["balanced"] == 0.5
    assert only_ai["fake"] == 0.5 and np.isnan(only_ai["real"]) and only_ai["balanced"] == 0.5


def test_no_image_has_no_overall_accuracy() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the balanced mean of two NaNs
        acc = metrics.accuracy_at([], [], 0.5)
    assert "overall" not in acc and np.isnan(acc["real"]) and np.isnan(acc["fake"])


def test_ece_defaults_to_ten_bins() -> None:
    # 0.05 and 0.095 share the bin [0, 0.1) of ten bins (gap |0.0725 - 0.5|) but not of eleven.
    assert metrics.ece([0, 1], [0.05, 0.095]) == pytest.approx(0.4275)


def test_ece_keeps_the_last_two_bins_apart() -> None:
    # 0.85 (real) in [0.8, 0.9), 0.95 (AI) in [0.9, 1]: gaps 0.85 and 0.05, each for half the images.
    assert metrics.ece([0, 1], [0.85, 0.95]) == pytest.approx(0.45)


def test_summary_counts_and_every_metric_equal_the_single_functions() -> None:
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(150, dtype=int), np.ones(50, dtype=int)]
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    out = metrics.summary(y, p, 0.4)
    assert (out["n"], out["n_real"], out["n_ai"]) == (200, 150, 50)
    assert out["threshold"] == 0.4 and isinstance(out["threshold"], float)
    expected = {"auc": metrics.auc(y, p), "ap": metrics.average_precision(y, p), "eer": metrics.eer(y, p),
                "tpr_at_fpr_0_05": metrics.tpr_at_fpr(y, p, 0.05), "tpr_at_fpr_0_01": metrics.tpr_at_fpr(y, p, 0.01),
                "ece": metrics.ece(y, p), "brier": metrics.brier(y, p)}
    assert {k: out[k] for k in expected} == expected
    assert out["accuracy"] == metrics.accuracy_at(y, p, 0.4)
    assert out["tpr_at_fpr_0_01"] < out["tpr_at_fpr_0_05"] < 1.0  # the case tells the two operating points apart


def test_bootstrap_defaults_are_a_thousand_replicates_seeded_at_zero() -> None:
    # A report rerun with the defaults reproduces its interval only if the defaults never drift.
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 30)
    s = 0.5 * y + rng.uniform(size=60)  # enough distinct AUCs that another count or seed moves the percentiles
    default = metrics.bootstrap_auc(y, s)
    assert default == metrics.bootstrap_auc(y, s, n=1000, seed=0)
    assert default != metrics.bootstrap_auc(y, s, n=1001) and default != metrics.bootstrap_auc(y, s, seed=1)


def test_bootstrap_values_are_rounded_to_four_decimals() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 30)
    s = 0.5 * y + rng.uniform(size=60)
    out = metrics.bootstrap_auc(y, s, n=200)
    assert out == {"auc": 0.9078, "low": 0.8155, "high": 0.9601, "n": 60}  # AUC 0.907777...


def test_bootstrap_groups_may_come_as_a_column() -> None:
    y = np.repeat([0, 1], 20)
    s = np.r_[np.linspace(0, 0.6, 20), np.linspace(0.4, 1, 20)]
    groups = np.arange(40) // 4
    flat = metrics.bootstrap_auc(y, s, n=200, groups=groups)
    assert metrics.bootstrap_auc(y, s, n=200, groups=groups.reshape(-1, 1)) == flat
