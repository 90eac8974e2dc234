"""serve/scoring.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import CODEC_CASE

_LABEL_DTYPE = ("the labels come from the benchmark's integer label column (0 or 1), which numpy reads as int64 "
                "without being told")
_PROB_DTYPE = "the probabilities come from parse_predictions, Python floats, which numpy reads as float64 unasked"
_NAME_DTYPE = ("every name is a string (None slices become ''), so the array is of str instead of object, and "
               "arr == name compares element by element the same; an empty list never reaches the comparison")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x_parse_predictions__mutmut_13": ('decode("UTF-8-SIG")', CODEC_CASE),
    "x_score__mutmut_3": ("asarray(labels, dtype=None)", _LABEL_DTYPE),
    "x_score__mutmut_5": ("asarray(labels, )", _LABEL_DTYPE),
    "x_score__mutmut_8": ("asarray(probs, dtype=None)", _PROB_DTYPE),
    "x_score__mutmut_10": ("asarray(probs, )", _PROB_DTYPE),
    "x_score__mutmut_45": ("asarray(names, dtype=None)", _NAME_DTYPE),
    "x_score__mutmut_47": ("asarray(names, )", _NAME_DTYPE),
}
