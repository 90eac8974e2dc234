"""Metrics against scikit-learn on random data and against hand-computed small cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from sentry_image.evaluate import metrics


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_ap_match_scikit_learn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    y[:2] = [0, 1]
    s = np.round(rng.normal(size=200) + y, 1)  # rounding creates ties
    assert metrics.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    p = 1 / (1 + np.exp(-s))
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_hand_computed_case() -> None:
    y = [0, 0, 1, 1]
    s = [0.1, 0.6, 0.4, 0.9]
    assert metrics.auc(y, s) == pytest.approx(0.75)  # 3 of 4 (AI, real) pairs ordered correctly
    assert metrics.average_precision(y, s) == pytest.approx((1.0 + 2 / 3) / 2)
    acc = metrics.accuracy_at(y, s, 0.5)
    assert acc == {"overall": 0.5, "real": 0.5, "fake": 0.5, "balanced": 0.5}
    assert metrics.tpr_at_fpr(y, s, 0.0) == pytest.approx(0.5)
    assert metrics.eer(y, s) == pytest.approx(0.5)


def test_perfect_and_inverted_scores() -> None:
    y = np.array([0, 0, 1, 1])
    assert metrics.auc(y, [0, 1, 2, 3]) == 1.0 and metrics.eer(y, [0, 1, 2, 3]) == 0.0
    assert metrics.auc(y, [3, 2, 1, 0]) == 0.0
    assert metrics.auc(y, [1, 1, 1, 1]) == 0.5


def test_ece_of_perfectly_calibrated_bins_is_zero_and_of_confident_errors_is_one() -> None:
    assert metrics.ece([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0)
    assert metrics.ece([0, 1], [1.0, 0.0]) == pytest.approx(1.0)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="both classes"):
        metrics.auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="length"):
        metrics.auc([0, 1], [0.2])
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        metrics.auc([0, 2], [0.2, 0.3])


def test_summary_has_every_metric() -> None:
    out = metrics.summary([0, 1, 0, 1], [0.1, 0.8, 0.3, 0.7], 0.5)
    assert out["auc"] == 1.0 and out["accuracy"]["overall"] == 1.0 and out["n_ai"] == 2
    assert {"ap", "eer", "ece", "brier", "tpr_at_fpr_0_05", "threshold"} <= set(out)
    assert "auc" not in metrics.summary([1, 1], [0.6, 0.9], 0.5)


def test_bootstrap_auc_interval_brackets_the_auc_and_is_wider_when_images_cluster() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    groups = np.repeat(np.arange(40), 10)  # 20 groups a class, 10 images each
    shift = rng.normal(size=40)[groups]  # images of one group share a score offset: not independent
    s = y + shift + 0.3 * rng.normal(size=400)
    plain = metrics.bootstrap_auc(y, s, n=300)
    grouped = metrics.bootstrap_auc(y, s, n=300, groups=groups)
    assert plain["auc"] == grouped["auc"] == round(metrics.auc(y, s), 4) and plain["n"] == 400
    assert plain["low"] <= plain["auc"] <= plain["high"]
    assert grouped["high"] - grouped["low"] > 1.5 * (plain["high"] - plain["low"])
    assert metrics.bootstrap_auc(y, s, n=300) == plain  # seeded: the same interval every run
    with pytest.raises(ValueError, match="both classes"):
        metrics.bootstrap_auc(np.zeros(5), np.arange(5.0))
