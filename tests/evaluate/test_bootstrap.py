"""The vectorised stratified bootstrap: exact against resampled lists, stratified, seeded, and honest in width."""

from __future__ import annotations

import numpy as np
import pytest

from sentry_image.evaluate import metrics
from sentry_image.evaluate.bootstrap import class_order, weight_blocks, weighted_auc_ap
from sentry_image.evaluate.uncertainty import IntervalConfig, annotate, cell_intervals, interval_text, small_note


def _scores(n_real: int, n_ai: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], [n_real, n_ai]).astype(np.int64)
    return y, np.round(1 / (1 + np.exp(-(rng.normal(size=y.size) + y))), 2)  # rounding makes ties


@pytest.mark.parametrize("grouped", [False, True])
def test_weighted_auc_and_ap_equal_those_of_the_resampled_list(grouped: bool) -> None:
    y, s = _scores(70, 50, seed=3)
    groups = np.random.default_rng(1).integers(0, 9, y.size) if grouped else None
    real, ai = class_order(y, s)
    w_real, w_ai = next(weight_blocks(y, s, 40, seed=5, groups=groups))
    auc, ap = weighted_auc_ap(s[real], s[ai], w_real, w_ai)
    for i in range(40):
        idx = np.concatenate([np.repeat(real, w_real[i].astype(int)), np.repeat(ai, w_ai[i].astype(int))])
        assert auc[i] == pytest.approx(metrics.auc(y[idx], s[idx]), abs=1e-12)
        assert ap[i] == pytest.approx(metrics.average_precision(y[idx], s[idx]), abs=1e-12)


def test_each_replicate_keeps_both_classes_in_their_numbers_and_groups_whole() -> None:
    y, s = _scores(30, 12)
    groups = np.repeat(np.arange(7), 6)  # 5 real groups, 2 AI groups
    for w_real, w_ai in weight_blocks(y, s, 200, seed=0):
        assert (w_real.sum(axis=1) == 30).all() and (w_ai.sum(axis=1) == 12).all()
    real, _ = class_order(y, s)
    w_real, w_ai = next(weight_blocks(y, s, 200, seed=0, groups=groups))
    for g in range(5):  # every image of a group is drawn as often as its group
        cols = groups[real] == g
        assert (w_real[:, cols] == w_real[:, cols][:, :1]).all()
    assert (w_ai.sum(axis=1) % 6 == 0).all() and (w_ai.sum(axis=1) > 0).all()


def test_interval_brackets_the_estimate_and_narrows_with_n() -> None:
    cfg = IntervalConfig(replicates=500)
    widths = []
    for n in (40, 400):
        y, s = _scores(n, n, seed=n)
        ci = cell_intervals(y, s, 0.5, cfg)
        point = metrics.summary(y, s, 0.5)
        assert ci["auc"][0] <= point["auc"] <= ci["auc"][1]
        assert ci["ap"][0] <= point["ap"] <= ci["ap"][1]
        assert ci["accuracy"][0] <= point["accuracy"]["overall"] <= ci["accuracy"][1]
        widths.append(ci["auc"][1] - ci["auc"][0])
    assert widths[1] < 0.5 * widths[0]  # ten times the images: about a third of the width


def test_intervals_are_seeded_and_one_class_gets_accuracy_only() -> None:
    y, s = _scores(50, 50)
    cfg = IntervalConfig(replicates=300)
    assert cell_intervals(y, s, 0.5, cfg) == cell_intervals(y, s, 0.5, cfg)
    assert cell_intervals(y, s, 0.5, cfg) != cell_intervals(y, s, 0.5, IntervalConfig(replicates=300, seed=1))
    only_ai = cell_intervals(y[y == 1], s[y == 1], 0.5, cfg)
    assert set(only_ai) == {"accuracy", "accuracy_ai"}
    assert cell_intervals(y, s, 0.5, IntervalConfig(replicates=0)) == {}


def test_small_cells_are_flagged_with_the_class_that_is_short() -> None:
    y, s = _scores(40, 4)
    cell = annotate(metrics.summary(y, s, 0.5), y, s, 0.5, IntervalConfig(replicates=200))
    assert cell["small"] is True and small_note(cell, 30) == "n too small: 4 AI"
    assert "auc" in cell["ci"]  # still measured and shown, only marked
    big = annotate(metrics.summary(y, s, 0.5), y, s, 0.5, IntervalConfig(replicates=200, min_per_class=4))
    assert big["small"] is False and small_note(big, 4) == ""


def test_bootstrap_auc_keeps_its_contract() -> None:
    y, s = _scores(200, 150)
    out = metrics.bootstrap_auc(y, s, n=400)
    assert set(out) == {"auc", "low", "high", "n"} and out["low"] <= out["auc"] <= out["high"]
    assert interval_text(0.86212, [0.7424, 0.953]) == "0.862 [0.742, 0.953]" and interval_text(None, None) == "n/a"
