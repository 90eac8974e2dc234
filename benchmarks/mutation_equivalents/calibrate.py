"""evaluate/calibrate.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import NAN_CASE, NEGATIVE_RESHAPE

_BLOCK_MEANS = ("labels are 0 or 1, so every pool-adjacent-violators block mean lies in [0, 1]: the bounds "
                "y_min=0 and y_max=1 (or 2) never clip anything, and the fitted thresholds are the same without them")
_FLOAT64 = ("scikit-learn stores X_thresholds_ and y_thresholds_ as float64 for float64 logits (ScoredSplit casts "
            "them), so the cast is a copy of the same values")
_SAME_LENGTH = ("x and y are the knots of one fit (X_thresholds_ and y_thresholds_ have equal length), so the four "
                "slices zipped always have the same length and strict= never raises")
_NOT_A_BOUND = ("a knot value is a block mean k/m with m <= n images, never 1/(n+2) nor (n+1)/(n+2) (that would "
                "need m >= n+2): no ramp starts or ends exactly on a clipping bound")
_ERRSTATE = ("the division cannot raise a floating-point error: the denominator is at least 1 and the numerator a "
             "finite count, so what errstate silences (or leaves alone) never happens")
_BOTH_CLASSES = ("both classes are present (np.unique(y).size == 2 is checked before), so .get(0) and .get(1) "
                 "always find their key and the default is never used")
_ALWAYS_KNOTS = "the isotonic branch always sets cal.isotonic just before, so the else value is never taken"
_COVERS_EVERY_CUT = ("np.linspace with more points than the integers 0..size (step < 1) rounds onto every one of "
                     "them, and np.unique drops the repeats: the same cuts as size + 1 points")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "xǁScoredSplitǁ__init____mutmut_20": ("reshape(-2)", NEGATIVE_RESHAPE),
    "x__platt__mutmut_87": ("while scale >= 1e-6", "scale starts at 1 and is only halved: a power of two, never "
                            "exactly 1e-6, so > and >= agree"),
    "x__isotonic__mutmut_9": ("y_min=None", _BLOCK_MEANS),
    "x__isotonic__mutmut_10": ("y_max=None", _BLOCK_MEANS),
    "x__isotonic__mutmut_13": ("IsotonicRegression(y_max=1.0", _BLOCK_MEANS),
    "x__isotonic__mutmut_14": ("IsotonicRegression(y_min=0.0, increasing", _BLOCK_MEANS),
    "x__isotonic__mutmut_15": ("y_max=1.0, out_of_bounds", "increasing=True is scikit-learn's default"),
    "x__isotonic__mutmut_16": ("increasing=True, ).fit", "out_of_bounds only changes scikit-learn's predict(); the "
                               "knots read here (X_thresholds_, y_thresholds_) are the same for every setting"),
    "x__isotonic__mutmut_18": ("y_max=2.0", _BLOCK_MEANS),
    "x__isotonic__mutmut_35": ("X_thresholds_, dtype=None)", _FLOAT64),
    "x__isotonic__mutmut_37": ("X_thresholds_, )", _FLOAT64),
    "x__isotonic__mutmut_39": ("y_thresholds_, None)", _FLOAT64),
    "x__isotonic__mutmut_41": ("y_thresholds_, )", _FLOAT64),
    "x__clip_ramp__mutmut_8": ("strict=None", _SAME_LENGTH),
    "x__clip_ramp__mutmut_13": ("y[1:], ):", _SAME_LENGTH),
    "x__clip_ramp__mutmut_20": ("strict=False", _SAME_LENGTH),
    "x__clip_ramp__mutmut_31": ("if y0 <= b < y1", "a bound equal to y0 would cut at exactly x0, which the x0 < c "
                                "filter of the next two lines drops; and " + _NOT_A_BOUND),
    "x__clip_ramp__mutmut_32": ("if y0 < b <= y1", _NOT_A_BOUND),
    "x__clip_ramp__mutmut_45": ("(y1 + y0)", "a ramp crossing the lower bound 1/(n+2) starts at y0 = 0 (a block mean "
                                "below 1/(n+2) is 0), where y1 + y0 == y1 - y0; at the upper bound the mutant's value "
                                "overshoots and is clipped to 1 - 1/(n+2), the value the original computes there up "
                                "to the last bits of rounding"),
    "x_choose_threshold__mutmut_44": ("j > j.max() - 1e-12", "two values of TPR - FPR differ by 0 (up to rounding, "
                                      "~1e-16) or by at least 1/(P*N): exactly 1e-12 below the maximum would need "
                                      "P*N >= 1e12, a million images of each class"),
    "x_choose_threshold__mutmut_56": ("nxt[best], None)", "unreachable: nxt is the finite thresholds after the first "
                                      "(+inf) and a final 0.0, so np.isfinite(nxt) always holds"),
    "x_choose_threshold__mutmut_61": ("nxt[best], 1.0)", "unreachable: nxt is the finite thresholds after the first "
                                      "(+inf) and a final 0.0, so np.isfinite(nxt) always holds"),
    "x_selective_band__mutmut_32": ("below.size + 2", _COVERS_EVERY_CUT),
    "x_selective_band__mutmut_48": ("above.size + 2", _COVERS_EVERY_CUT),
    "x_selective_band__mutmut_63": ("invalid=None", _ERRSTATE),
    "x_selective_band__mutmut_64": ("divide=None", _ERRSTATE),
    "x_selective_band__mutmut_65": ("errstate(divide=", _ERRSTATE),
    "x_selective_band__mutmut_66": ('errstate(invalid="ignore", )', _ERRSTATE),
    "x_selective_band__mutmut_78": ("decided >= 0, right", "where nothing is decided nothing is right either: "
                                    "0 / max(0, 1) is the same 0.0"),
    "x_selective_band__mutmut_86": ("np.maximum(decided, 1), 1.0)", "the value where nothing is decided is masked: "
                                    "feasible also requires decided > 0, and only feasible cells are scored"),
    "x_selective_band__mutmut_104": ('float("NAN")', NAN_CASE),
    "x_selective_band__mutmut_115": ("accuracy * 1e-3, +1.0)", "a feasible cell decides at least one image and "
                                     "scores >= 1, above 1 for any target > 0; at a target <= 0 every cell deciding "
                                     "something is feasible and the one infeasible cell (deciding nothing) comes last, "
                                     "so argmax's first maximum is still a feasible cell"),
    "x_selective_band__mutmut_116": ("accuracy * 1e-3, -2.0)", "infeasible cells only have to lose to feasible ones "
                                     "(which score >= 1); with none feasible the function has already returned"),
    "x_fit_calibration__mutmut_55": ("if (cal.isotonic) or True else 0", _ALWAYS_KNOTS),
    "x_fit_calibration__mutmut_56": ("if cal.isotonic else 1", _ALWAYS_KNOTS),
    "x_fit_calibration__mutmut_137": ("counts.get(0, None)", _BOTH_CLASSES),
    "x_fit_calibration__mutmut_138": ("({counts.get(0)} real", _BOTH_CLASSES),
    "x_fit_calibration__mutmut_139": ("counts.get(0, )", _BOTH_CLASSES),
    "x_fit_calibration__mutmut_141": ("counts.get(0, 1)", _BOTH_CLASSES),
    "x_fit_calibration__mutmut_143": ("counts.get(1, None)", _BOTH_CLASSES),
    "x_fit_calibration__mutmut_145": ("counts.get(1, )", _BOTH_CLASSES),
    "x_fit_calibration__mutmut_147": ("counts.get(1, 1)", _BOTH_CLASSES),
    "x_fit_calibration__mutmut_183": ("log.warning(warning_line(", "logging applies %-formatting only when arguments "
                                      "are given: the line is printed as it is, '%' included, either way"),
}
