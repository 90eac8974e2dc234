"""Surviving mutants judged equivalent: the mutation cannot change what the code does, so no test can kill it.

Read by ``benchmarks/mutation.py``. Keyed by mutmut's mutant name (``x_function__mutmut_N``, stable while the
function is unchanged) with a piece of the mutation text ``old -> new`` as the report prints it: when the function
changes and the number names another mutation, the piece no longer matches and the survivor is reported again,
to be judged afresh. Each reason says why no input can tell the mutant from the original.
"""

from __future__ import annotations

_STABLE_SORT = ("only the order among equal scores changes, and the curve reads cumulative counts at the last index "
                "of each run of equal scores, which no order within the run changes")
_FLOAT_CAST = "astype(None) casts to float64, the same dtype as astype(np.float64)"
_ANY_NEGATIVE = "numpy reads any negative size in reshape as 'the rest', as it reads -1"
_ERROR_NAME = ("an error row's path is the error's path or else the row's name (Detector._verdict), and the error "
               "is rebuilt with that path (Verdict.failed): a missing or None name inside the error changes no row")
_ERROR_SIGNALS = "an error row never reads the prepared signals: Verdict.failed starts with none"
_READ_AHEAD = ("how far decoding runs ahead of the model, and on how many threads, changes memory and overlap, "
               "never a verdict or the order of the rows")
_THREAD_NAME = "the decoding threads' name prefix appears in no output"
_LABEL_DTYPE = ("the labels come from the benchmark's integer label column (0 or 1), which numpy reads as int64 "
                "without being told")
_PROB_DTYPE = "the probabilities come from parse_predictions, Python floats, which numpy reads as float64 unasked"
_NAME_DTYPE = ("every name is a string (None slices become ''), so the array is of str instead of object, and "
               "arr == name compares element by element the same; an empty list never reaches the comparison")

EQUIVALENT: dict[str, tuple[str, str]] = {
    # evaluate/metrics.py
    "x__both_classes__mutmut_3": ("initial=2", "the initial values matter only for no label at all, where "
                                  "y.size == 0 raises the same error whatever they are"),
    "x__check__mutmut_6": ("reshape(-2)", _ANY_NEGATIVE),
    "x__check__mutmut_14": ("reshape(-2)", _ANY_NEGATIVE),
    "x_accuracy_at__mutmut_16": ("yt.astype(None)", "labels are 0 or 1 (checked), and a bool prediction equals "
                                 "0.0/1.0 exactly as it equals False/True"),
    "x_accuracy_at__mutmut_32": ('float("NAN")', "float() reads 'NAN' as NaN, case-insensitively"),
    "x_accuracy_at__mutmut_42": ('float("NAN")', "float() reads 'NAN' as NaN, case-insensitively"),
    "x_average_precision__mutmut_9": ("kind=None", _STABLE_SORT),
    "x_average_precision__mutmut_11": ("argsort(-st, )", _STABLE_SORT),
    "x_average_precision__mutmut_14": ('kind="MERGESORT"', "numpy reads the sort kind case-insensitively"),
    "x_average_precision__mutmut_23": ("astype(None)", _FLOAT_CAST),
    "x_bootstrap_auc__mutmut_14": ("reshape(None)", "the bootstrap renumbers each class's groups and flattens them "
                                   "again (bootstrap.py), so a column of keys resamples as the flat one"),
    "x_bootstrap_auc__mutmut_23": ("reshape(-2)", _ANY_NEGATIVE),
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
    # detect.py
    "xǁDetectorǁ_decode__mutmut_10": ("decode_image(data, None", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_12": ("max_bytes=None", "a fetched body is already capped at max_bytes by fetch()"),
    "xǁDetectorǁ_decode__mutmut_15": ("decode_image(data, max_pixels", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_17": ("decode_image(data, name, max_pixels=self.max_pixels, reduce",
                                      "a fetched body is already capped at max_bytes by fetch()"),
    "xǁDetectorǁ_decode__mutmut_20": ("decode_pil(source, None", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_23": ("decode_pil(source, max_pixels", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_26": ("decode_image(bytes(source), None", _ERROR_NAME),
    "xǁDetectorǁ_finish__mutmut_42": ("or True else None", "regions are only filled when explain is on, and a failed "
                                      "row is never scored, so the lookup finds nothing exactly where it is skipped"),
    "xǁDetectorǁ_finish__mutmut_45": ("self.explain or v.ok", "regions are only filled when explain is on, and a "
                                      "failed row is never scored, so the lookup finds nothing where it is skipped"),
    "xǁDetectorǁ_prepare__mutmut_2": ("signals=None", _ERROR_SIGNALS),
    "xǁDetectorǁ_prepare__mutmut_20": ("_decode(source, None)", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_38": ("max(2, decoded.info.width)", "differs only for an image 1 px wide, which is "
                                       "under the minimum side, never scored, so its scale is never used"),
    "xǁDetectorǁ_prepare__mutmut_49": ("_Prepared(name=None", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_50": ("signals=None", _ERROR_SIGNALS),
    "xǁDetectorǁ_prepare__mutmut_57": ("exc.message, None)", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_60": ("exc.message, ))", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_67": ("_Prepared(name=None", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_68": ("signals=None", _ERROR_SIGNALS),
    "xǁDetectorǁ_prepare__mutmut_75": ("{exc}\", None)", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_78": ("{exc}\", ))", _ERROR_NAME),
    "xǁDetectorǁ_verdict__mutmut_22": ("or True else None", "a row that reaches this line has no error, and every "
                                       "such row was decoded and carries its info"),
    "xǁDetectorǁdetect__mutmut_6": ("and False else [name]", "names=[None] labels the row None, which falls back to "
                                    "the input's own name exactly as names=None does"),
    "xǁDetectorǁdetect_many__mutmut_2": ("workers: int = 3", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_18": ("2 / batch_size", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_19": ("3 * batch_size", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_20": ("workers / 2", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_21": ("workers * 3", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_22": ("max_workers=None", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_23": ("thread_name_prefix=None", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_24": ("ThreadPoolExecutor(thread_name_prefix", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_25": ("max(1, workers), )", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_30": ("max(2, workers)", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_31": ("XXsentry-decodeXX", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_32": ("SENTRY-DECODE", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_47": ("len(pending) > window", _READ_AHEAD),
    # serve/scoring.py
    "x_parse_predictions__mutmut_13": ('decode("UTF-8-SIG")', "Python looks codec names up case-insensitively"),
    "x_score__mutmut_3": ("asarray(labels, dtype=None)", _LABEL_DTYPE),
    "x_score__mutmut_5": ("asarray(labels, )", _LABEL_DTYPE),
    "x_score__mutmut_8": ("asarray(probs, dtype=None)", _PROB_DTYPE),
    "x_score__mutmut_10": ("asarray(probs, )", _PROB_DTYPE),
    "x_score__mutmut_45": ("asarray(names, dtype=None)", _NAME_DTYPE),
    "x_score__mutmut_47": ("asarray(names, )", _NAME_DTYPE),
}
