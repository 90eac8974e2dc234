"""Calibration fits on the cases the other calibration tests leave open: the temperature fit checked against the
optimum of the loss it documents, isotonic knots for logits one rounding step apart, the exact record a fit leaves
(method, split description, settings, warnings), the refusals word for word, and logits given in other shapes.

Each case comes from a fault that the rest of the suite let through (``benchmarks/mutation.py``): a fit whose
probabilities look sensible can still sit off its optimum, record the wrong counts, or accept a bad setting.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from sentry_image.data.manifest import ManifestRow
from sentry_image.data.splits import Split
from sentry_image.evaluate.calibrate import ScoredSplit, fit_calibration
from sentry_image.types import Label

core = pytest.mark.core  # numpy only; the isotonic cases need scikit-learn (the train extra)


def _split(labels: list[int], role: str = "calibration", groups: tuple[str, ...] | list[str] = ("g",)) -> Split:
    rows = tuple(ManifestRow(path=Path(f"/c/{i}.png"), rel_path=f"{i}.png", label=Label(v))
                 for i, v in enumerate(labels))
    return Split(role, rows, groups, "by hand")  # type: ignore[arg-type]


def _scored(labels: list[int], logits: list[float]) -> ScoredSplit:
    return ScoredSplit(_split(labels), logits)


def _raises_exactly(exc: type[Exception], message: str) -> pytest.RaisesExc[Exception]:
    # The whole message: it is what a user reads when a fit refuses its input.
    return pytest.raises(exc, match=f"^{re.escape(message)}$")


# -- the temperature fit is the optimum of its documented loss ------------------------------------------------------

# Small splits whose logits are overconfident, underconfident, shifted, or hold an exact 0 (where a slip in the
# Hessian divides by zero); the last three are noisy splits on which a fit that stalls a step early is caught.
SPLITS = {
    "mixed": ([-4.0, -2.0, -1.0, 0.5, 1.0, 3.0, 6.0], [0, 1, 0, 0, 1, 1, 1]),
    "zero logit": ([-2.0, -1.0, 0.0, 0.0, 1.0, 3.0], [0, 0, 0, 1, 1, 1]),
    "overconfident": ([-9.0, -6.0, -3.0, -1.0, 2.0, 4.0, 7.0, 9.0, 12.0], [0, 0, 1, 0, 1, 0, 1, 1, 1]),
    "shifted": ([3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [0, 0, 1, 0, 1, 1]),
    "underconfident": ([-0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 0.4], [0, 0, 1, 0, 1, 1, 1]),
    "noisy a": ([-2.4, -2.2, -1.9, 2.3, 2.8], [1, 0, 0, 0, 1]),
    "noisy b": ([-3.6, -3.0, -1.3, -1.3, -1.2, -0.6, 1.4, 1.4, 2.3], [0, 1, 1, 1, 0, 1, 0, 0, 1]),
    "noisy c": ([-3.9, -3.2, -2.9, -1.6, -0.9, -0.4, 0.5, 1.5, 3.3, 3.9], [1, 0, 0, 1, 1, 1, 0, 0, 1, 1]),
}


def _gradient(z: np.ndarray, y: np.ndarray, prior: float, a: float, b: float) -> np.ndarray:
    # d/da and d/db of sum(log(1 + e^t) - y t) + prior/2 ((a - 1)^2 + b^2), t = a z + b: zero at the fit's optimum
    p = 1.0 / (1.0 + np.exp(-(a * z + b)))
    return np.array([np.sum((p - y) * z) + prior * (a - 1.0), np.sum(p - y) + prior * b])


@core
@pytest.mark.parametrize("name", list(SPLITS))
def test_the_default_temperature_fit_is_the_optimum_of_its_penalised_log_loss(name: str) -> None:
    z, y = (np.asarray(v, dtype=float) for v in SPLITS[name])
    cal = fit_calibration(_scored([int(v) for v in y], z.tolist()))  # the default pull towards identity: 1.0
    a, b = 1.0 / cal.temperature, cal.bias
    assert np.abs(_gradient(z, y, 1.0, a, b)).max() < 1e-9
    assert cal.probability(z) == pytest.approx(1.0 / (1.0 + np.exp(-(a * z + b))), abs=1e-12)


@core
@pytest.mark.parametrize("prior", [0.1, 3.0])
def test_the_pull_towards_identity_weighs_as_given(prior: float) -> None:
    z, y = (np.asarray(v, dtype=float) for v in SPLITS["shifted"])
    cal = fit_calibration(_scored([int(v) for v in y], z.tolist()), prior=prior)
    assert np.abs(_gradient(z, y, prior, 1.0 / cal.temperature, cal.bias)).max() < 1e-9
    assert f"L2 pull {prior} to identity" in cal.method


@core
def test_the_fit_stops_once_converged(monkeypatch: pytest.MonkeyPatch) -> None:
    # Newton converges in a handful of steps on a small split; running out the iteration budget is wasted work
    solves = []
    solve = np.linalg.solve

    def counted(h: np.ndarray, g: np.ndarray) -> np.ndarray:
        solves.append(h)
        return solve(h, g)

    monkeypatch.setattr(np.linalg, "solve", counted)
    z, y = SPLITS["mixed"]
    fit_calibration(_scored(y, z))
    assert 1 <= len(solves) <= 15


# -- isotonic --------------------------------------------------------------------------------------------------------

@core
def test_isotonic_without_scikit_learn_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.isotonic", None)  # the import then fails as if it were not installed
    with _raises_exactly(ImportError, "isotonic calibration needs scikit-learn: pip install 'sentry-image[train]'"):
        fit_calibration(_scored([0, 1], [-1.0, 1.0]), method="isotonic")


def test_isotonic_logits_one_rounding_step_apart_still_give_a_valid_map() -> None:
    # PAV on 0, 0, 1 is already monotone; n = 3 clips it to [1/5, 4/5]. The ramp between 8 and the next float up
    # crosses both bounds within a rounding step: the crossings fall on the end knots, and no duplicate knot is added.
    up = float(np.nextafter(8.0, 9.0))
    cal = fit_calibration(_scored([0, 0, 1], [0.0, 8.0, up]), method="isotonic")
    assert cal.isotonic is not None and cal.isotonic.x == (0.0, 8.0, up)
    assert cal.probability(np.array([-1.0, 0.0, 8.0, up, 9.0])).tolist() == pytest.approx([0.2, 0.2, 0.2, 0.8, 0.8])


def test_isotonic_method_names_its_knots() -> None:
    # labels 0 | 1 0 0 | 1 1 at x = 1..6: PAV gives 0, 1/3 (x = 2..4), 1 (x = 5, 6); x = 3 adds nothing, leaving 5
    # knots; clipping to [1/8, 7/8] adds the ramps' crossings at 1 + (1/8)/(1/3) = 1.375 and 4 + (13/24)/(2/3)
    # = 4.8125: 7 knots
    cal = fit_calibration(_scored([0, 1, 0, 0, 1, 1], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), method="isotonic")
    assert cal.method == "isotonic (PAV, clipped to [1/(n+2), 1-1/(n+2)], 7 knots); threshold rule 'balanced'"


# -- what a fit records -----------------------------------------------------------------------------------------------

@core
def test_a_temperature_fit_records_its_method_split_and_settings() -> None:
    cal = fit_calibration(_scored([0, 0, 1, 1, 1], [-2.0, -1.0, 0.0, 1.0, 2.0]))
    assert cal.method == "temperature+bias (Newton, L2 pull 1.0 to identity); threshold rule 'balanced'"
    assert cal.fitted_on == "calibration split: 5 images (2 real, 3 AI) from 1 groups; by hand"
    assert cal.extra["fit"] == {"method": "temperature", "threshold_rule": "balanced", "band_halfwidth": 0.15, "n": 5}
    fpr = fit_calibration(_scored([0, 0, 0, 1, 1], [-2.0, -1.0, 0.0, 1.0, 2.0]), rule="fpr", target_fpr=0.25)
    assert fpr.method == "temperature+bias (Newton, L2 pull 1.0 to identity); threshold rule 'fpr' at FPR <= 0.25"
    assert fpr.fitted_on.startswith("calibration split: 5 images (3 real, 2 AI) from 1 groups")
    assert fpr.extra["fit"] == {"method": "temperature", "threshold_rule": "fpr", "band_halfwidth": 0.15, "n": 5,
                                "target_fpr": 0.25}


@core
def test_a_selective_band_records_coverage_and_accuracy_to_four_decimals() -> None:
    # logits -3 R, -2 R, -1 A, 1 A, 2 R, 3 A, 4 A: the balanced threshold falls between -2 and -1 (TPR - FPR = 2/3
    # there, less at every other cut), leaving 2 real images below it (both right) and 5 above (4 right)
    labels, z = [0, 0, 1, 1, 0, 1, 1], [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 4.0]
    all_decided = fit_calibration(_scored(labels, z), selective_accuracy=0.85).extra["fit"]
    assert (all_decided["coverage"], all_decided["selective_accuracy"]) == (1.0, 0.8571)  # 6/7 right: reaches 0.85
    # at 0.9: no band deciding 5 or 6 images is right that often; abstaining on -1, 1 and 2 leaves 4 of 4 right
    cal = fit_calibration(_scored(labels, z), selective_accuracy=0.9)
    assert (cal.extra["fit"]["coverage"], cal.extra["fit"]["selective_accuracy"]) == (0.5714, 1.0)
    assert cal.uncertain_band == pytest.approx(tuple(cal.probability(np.array([-2.0, 3.0]))))


@core
def test_the_band_checks_see_the_calibrated_probabilities() -> None:
    # a halfwidth of 1 clips the band to [0, 1]: every probability strictly inside it, every image left uncertain
    cal = fit_calibration(_scored([0, 0, 1, 1, 1], [-2.0, -1.0, 0.0, 1.0, 2.0]), band_halfwidth=1.0)
    assert cal.uncertain_band == (0.0, 1.0)
    assert "the band holds 100% of the calibration images (uncertain verdicts)" in cal.extra["warnings"]


# -- refusals and the settings' ranges --------------------------------------------------------------------------------

@core
def test_refusals_say_exactly_what_is_wrong() -> None:
    scored = _scored([0, 1], [-1.0, 1.0])
    with _raises_exactly(TypeError, "fit_calibration takes a ScoredSplit (logits bound to the calibration Split)"):
        fit_calibration(scored.split)  # type: ignore[arg-type]
    with _raises_exactly(ValueError, "unknown calibration method 'beta'; expected one of ('temperature', 'isotonic')"):
        fit_calibration(scored, method="beta")  # type: ignore[arg-type]
    with _raises_exactly(ValueError, "need 0 <= target_fpr <= 1 and band_halfwidth >= 0, got 1.5, 0.15"):
        fit_calibration(scored, target_fpr=1.5)
    with _raises_exactly(ValueError, "need 0 <= target_fpr <= 1 and band_halfwidth >= 0, got 0.05, -0.1"):
        fit_calibration(scored, band_halfwidth=-0.1)
    with _raises_exactly(TypeError, "ScoredSplit needs a sentry_image.data.splits.Split, not tuple"):
        ScoredSplit((0, 1), [0.0, 1.0])  # type: ignore[arg-type]


@core
@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1], []], ids=["all real", "all AI", "empty"])
def test_a_split_without_both_classes_is_refused_by_name(labels: list[int]) -> None:
    for method in ("temperature", "isotonic"):  # refused before any fit: isotonic needs no scikit-learn to say so
        with _raises_exactly(ValueError, "the calibration split needs both real and AI images"):
            fit_calibration(_scored(labels, [0.5] * len(labels)), method=method)  # type: ignore[arg-type]


@core
def test_the_ends_of_the_settings_ranges_are_accepted() -> None:
    scored = _scored([0, 0, 1, 1, 1], [-2.0, -1.0, 0.0, 1.0, 2.0])
    fit_calibration(scored, target_fpr=0.0)
    fit_calibration(scored, target_fpr=1.0)
    cal = fit_calibration(scored, band_halfwidth=0.0)
    assert cal.uncertain_band == (cal.threshold, cal.threshold)  # no uncertain verdict at all


# -- logits as the caller has them ------------------------------------------------------------------------------------

@core
def test_logits_in_a_column_or_as_integers_fit_as_flat_floats() -> None:
    labels, flat = [0, 0, 1, 1, 1], [-2.0, -1.0, 0.0, 1.0, 2.0]
    column = ScoredSplit(_split(labels), np.asarray(flat).reshape(-1, 1))  # a model's (n, 1) output
    assert column.logits.shape == (5,)
    integers = ScoredSplit(_split(labels), np.asarray(flat, dtype=np.int64))  # e.g. a quantised model's output
    assert integers.logits.dtype == np.float64 and integers.logits.tolist() == flat
    want = fit_calibration(_scored(labels, flat))
    for scored in (column, integers):
        got = fit_calibration(scored)
        assert (got.temperature, got.bias, got.threshold) == (want.temperature, want.bias, want.threshold)


@core
def test_groups_are_frozen_with_the_rows() -> None:
    groups = ["g"]
    scored = ScoredSplit(_split([0, 1], groups=groups), [-1.0, 1.0])
    groups.append("h")  # the caller's list grows after scoring: the record keeps the groups that were scored
    assert scored.split.groups == ("g",)
    assert "from 1 groups" in fit_calibration(scored).fitted_on
