"""Expected calibration error against values worked out by hand, on bins that hold different numbers of images:
ECE weights each bin's gap by its share of the images, so the unweighted mean of the gaps is a different number."""

from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np
import pytest

from sentry_image.evaluate import metrics

pytestmark = pytest.mark.core  # numpy only

# Bin [0.1, 0.2): four images at 0.1, one of them AI: confidence 0.1, accuracy 1/4, gap 0.15.
# Bin [0.6, 0.7): two images at 0.65, both AI: gap 0.35.
# Bin [0.9, 1.0]: one real image at exactly 1.0 (the last bin is closed): gap 1.0.
Y = [0, 0, 0, 1, 1, 1, 0]
P = [0.1, 0.1, 0.1, 0.1, 0.65, 0.65, 1.0]
WEIGHTED = (4 * 0.15 + 2 * 0.35 + 1 * 1.0) / 7  # 2.3 / 7 = 0.32857...
UNWEIGHTED = (0.15 + 0.35 + 1.0) / 3  # 0.5: what a mean over the non-empty bins would say


def test_ece_weights_each_bin_by_its_count() -> None:
    assert metrics.ece(Y, P) == pytest.approx(WEIGHTED, abs=1e-12)
    assert abs(WEIGHTED - UNWEIGHTED) > 0.1  # the case tells the two apart


def test_a_probability_of_exactly_one_falls_in_the_last_bin() -> None:
    # Dropped (bin index 10 of 10), the first would be 0 and the second 0.05 / 2.
    assert metrics.ece([0], [1.0]) == pytest.approx(1.0)
    assert metrics.ece([0, 1], [1.0, 0.95]) == pytest.approx(0.475, abs=1e-12)  # one bin: 0.975 against 0.5


def test_a_bin_holds_its_lower_edge() -> None:
    # 0.2 and 0.25 share the bin [0.2, 0.3): confidence 0.225, accuracy 0.5. Were 0.2 in [0.1, 0.2), the two
    # gaps would be 0.8 and 0.25, an ECE of 0.525.
    assert metrics.ece([1, 0], [0.2, 0.25]) == pytest.approx(0.275, abs=1e-12)


def test_the_gap_is_between_bin_means_not_a_mean_of_per_image_errors() -> None:
    # Per image, |p - y| would average (3 * 0.1 + 0.9) / 4 = 0.3 in the first bin, not 0.15.
    assert metrics.ece(Y[:4], P[:4]) == pytest.approx(0.15, abs=1e-12)


def oracle_ece(y: list[int], p: list[float], n_bins: int) -> Fraction:
    """ECE in exact arithmetic: bin k holds k/n <= p < (k+1)/n, and the last bin holds 1.0 too."""
    edges = [Fraction(k, n_bins) for k in range(1, n_bins)]
    bins: dict[int, list[tuple[int, Fraction]]] = {}
    for label, prob in zip(y, p, strict=True):
        exact = Fraction(prob)
        bins.setdefault(bisect.bisect_right(edges, exact), []).append((label, exact))
    total = Fraction(0)
    for rows in bins.values():
        confidence = sum((q for _, q in rows), Fraction(0)) / len(rows)
        accuracy = Fraction(sum(label for label, _ in rows), len(rows))
        total += abs(confidence - accuracy) * len(rows)
    return total / len(y)


@pytest.mark.parametrize(("seed", "n_bins"), [(0, 10), (1, 15), (2, 5)])
def test_ece_matches_an_exact_oracle_on_skewed_scores(seed: int, n_bins: int) -> None:
    rng = np.random.default_rng(seed)
    p = (rng.beta(0.6, 2.5, 300)).tolist()  # most scores low: the bins hold very different counts
    y = [int(v) for v in rng.random(300) < np.asarray(p) ** 0.5]  # miscalibrated on purpose
    counts = np.bincount(np.minimum((np.asarray(p) * n_bins).astype(int), n_bins - 1), minlength=n_bins)
    assert counts.max() >= 5 * max(1, counts[counts > 0].min())  # unequal bins indeed
    assert metrics.ece(y, p, n_bins=n_bins) == pytest.approx(float(oracle_ece(y, p, n_bins)), abs=1e-12)
