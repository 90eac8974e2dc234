"""evaluate/metrics.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import NAN_CASE, NEGATIVE_RESHAPE

_STABLE_SORT = ("only the order among equal scores changes, and the curve reads cumulative counts at the last index "
                "of each run of equal scores, which no order within the run changes")
_FLOAT_CAST = "astype(None) casts to float64, the same dtype as astype(np.float64)"

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__both_classes__mutmut_3": ("initial=2", "the initial values matter only for no label at all, where "
                                  "y.size == 0 raises the same error whatever they are"),
    "x__check__mutmut_6": ("reshape(-2)", NEGATIVE_RESHAPE),
    "x__check__mutmut_14": ("reshape(-2)", NEGATIVE_RESHAPE),
    "x_accuracy_at__mutmut_16": ("yt.astype(None)", "labels are 0 or 1 (checked), and a bool prediction equals "
                                 "0.0/1.0 exactly as it equals False/True"),
    "x_accuracy_at__mutmut_32": ('float("NAN")', NAN_CASE),
    "x_accuracy_at__mutmut_42": ('float("NAN")', NAN_CASE),
    "x_average_precision__mutmut_9": ("kind=None", _STABLE_SORT),
    "x_average_precision__mutmut_11": ("argsort(-st, )", _STABLE_SORT),
    "x_average_precision__mutmut_14": ('kind="MERGESORT"', "numpy reads the sort kind case-insensitively"),
    "x_average_precision__mutmut_23": ("astype(None)", _FLOAT_CAST),
    "x_bootstrap_auc__mutmut_14": ("reshape(None)", "the bootstrap renumbers each class's groups and flattens them "
                                   "again (bootstrap.py), so a column of keys resamples as the flat one"),
    "x_bootstrap_auc__mutmut_23": ("reshape(-2)", NEGATIVE_RESHAPE),
    "x_eer__mutmut_14": ("diff > 0", "where FPR - FNR is exactly 0 the original interpolates to t = 1 on the segment "
                         "ending there and the mutant to t = 0 on the next one: the same point"),
    "x_eer__mutmut_18": ("float(None)", "unreachable: the curve starts at (0, 0), so diff[0] = -1 and i >= 1"),
    "x_eer__mutmut_19": ("fpr[1]", "unreachable: the curve starts at (0, 0), so diff[0] = -1 and i >= 1"),
    "x_eer__mutmut_25": ("or True", "by the choice of i, d0 < 0 <= d1, so d1 != d0 always holds"),
    "x_eer__mutmut_29": ("else 1.0", "by the choice of i, d0 < 0 <= d1, so the else branch is never taken"),
    "x_roc_curve__mutmut_9": ("kind=None", _STABLE_SORT),
    "x_roc_curve__mutmut_11": ("argsort(-st, )", _STABLE_SORT),
    "x_roc_curve__mutmut_14": ('kind="MERGESORT"', "numpy reads the sort kind case-insensitively"),
    "x_roc_curve__mutmut_23": ("astype(None)", _FLOAT_CAST),
    "x_roc_curve__mutmut_26": ("astype(None)", _FLOAT_CAST),
    "x_tpr_at_fpr__mutmut_7": ("fpr < max_fpr", "with the 1e-12 slack, < and <= differ only for an FPR of exactly "
                               "max_fpr + 1e-12, which no count ratio k/n equals at the operating points used"),
}
