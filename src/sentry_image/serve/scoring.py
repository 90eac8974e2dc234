"""Leaderboard scoring: parse a predictions CSV strictly, score it on the hidden labels, round what goes out.

Only aggregates leave this module, rounded to a few decimals, and subsets smaller than ``min_slice`` are dropped:
a per-image answer (or a two-image subset) would let a team read labels off the board.

Evaluation reports (``import_report``) use this documented JSON shape, a subset of what ``sentry-image eval`` is
meant to write::

    {"model": "sentry-default@1",            # required: the row's name
     "method": "EfficientNet-Lite0 probe",   # optional
     "threshold": 0.5,                        # optional, default 0.5
     "overall": {"auc": 0.97, "ap": 0.96, "accuracy": 0.91},         # optional
     "subsets": {"sdxl": {"auc": 0.99, "ap": 0.99, "accuracy": 0.95, "n": 200}},   # required, may be {}
     "slices":  {"jpeg-75": {"auc": 0.93, "ap": 0.92, "accuracy": 0.85}}}          # optional robustness slices

Every metric is a number in [0, 1]; unknown metric names are refused so that a typo is not silently dropped.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..evaluate.metrics import auc as _auc
from ..evaluate.metrics import average_precision as _average_precision

EXPECTED_COLUMNS = ("image_id", "ai_probability")
REPORT_METRICS = ("auc", "ap", "accuracy", "accuracy_at_threshold", "n")
_EXAMPLES = 5


class SubmissionError(ValueError):
    """A refused submission or report; ``code`` is stable and machine-readable, ``message`` says how to fix it."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _examples(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_EXAMPLES])
    return shown + (f" and {len(items) - _EXAMPLES} more" if len(items) > _EXAMPLES else "")


def parse_predictions(data: bytes, expected_ids: set[str]) -> dict[str, float]:
    """``image_id -> ai_probability`` from a CSV that must cover every id exactly once with a value in [0, 1].

    Raises :class:`SubmissionError` with codes ``csv_empty``, ``csv_encoding``, ``csv_wrong_columns``,
    ``csv_duplicate_ids``, ``csv_unknown_ids``, ``csv_missing_ids``, ``csv_not_a_number``, ``csv_not_finite``,
    ``csv_out_of_range``.
    """
    if not data.strip():
        raise SubmissionError("csv_empty", "the file is empty; expected a header image_id,ai_probability and rows")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError("csv_encoding", f"the file is not UTF-8 text (byte {exc.start})") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if tuple(header) != EXPECTED_COLUMNS:
        raise SubmissionError("csv_wrong_columns",
                              f"the header must be exactly {','.join(EXPECTED_COLUMNS)}; found {','.join(header)!r}")
    values: dict[str, float] = {}
    duplicates, bad_shape, not_number, not_finite, out_of_range = [], [], [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            bad_shape.append(f"line {line} has {len(row)} fields")
            continue
        image_id, raw = row[0].strip(), row[1].strip()
        try:
            value = float(raw)
        except ValueError:
            not_number.append(f"line {line} ({raw[:20]!r})")
            continue
        if not math.isfinite(value):
            not_finite.append(f"line {line} ({raw[:20]})")
        elif not 0.0 <= value <= 1.0:
            out_of_range.append(f"line {line} ({value:g})")
        if image_id in values:
            duplicates.append(image_id[:40])
        values[image_id] = value
    checks = (("csv_wrong_columns", bad_shape, "rows must have exactly 2 fields"),
              ("csv_not_a_number", not_number, "ai_probability must be a number"),
              ("csv_not_finite", not_finite, "ai_probability must be finite (no NaN or infinity)"),
              ("csv_out_of_range", out_of_range, "ai_probability must lie in [0, 1]"),
              ("csv_duplicate_ids", duplicates, "each image_id must appear once; repeated"))
    for code, found, text_ in checks:
        if found:
            raise SubmissionError(code, f"{text_}: {_examples(found)}")
    unknown = sorted(set(values) - expected_ids)
    if unknown:
        raise SubmissionError("csv_unknown_ids", f"{len(unknown)} ids are not in the benchmark: "
                                                 f"{_examples([u[:40] for u in unknown])}")
    missing = sorted(expected_ids - set(values))
    if missing:
        raise SubmissionError("csv_missing_ids", f"{len(missing)} of {len(expected_ids)} images have no prediction: "
                                                 f"{_examples(missing)}")
    return values


def _accuracy(y: NDArray[np.int64], p: NDArray[np.float64], threshold: float) -> float:
    return float(np.mean((p >= threshold) == (y == 1)))


def _group_metrics(y: NDArray[np.int64], p: NDArray[np.float64], threshold: float, digits: int) -> dict[str, Any]:
    both = 0 < int(y.sum()) < y.size  # AUC and AP need a real and an AI image
    out: dict[str, Any] = {
        "n": int(y.size),
        "auc": round(_auc(y, p), digits) if both else None,
        "ap": round(_average_precision(y, p), digits) if both else None,
        "accuracy": round(_accuracy(y, p, 0.5), digits),
        "accuracy_at_threshold": round(_accuracy(y, p, threshold), digits),
    }
    return out


def score(labels: Sequence[int], probs: Sequence[float], subsets: Sequence[str], slices: Sequence[str | None],
          *, threshold: float, min_slice: int, digits: int) -> dict[str, Any]:
    """Rounded metrics overall, per subset and per robustness slice (groups under ``min_slice`` are left out).

    ``accuracy`` is at 0.5; ``accuracy_at_threshold`` at the submission's own threshold.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    result: dict[str, Any] = {"threshold": round(float(threshold), 6),
                              "overall": _group_metrics(y, p, threshold, digits), "subsets": {}, "slices": {}}
    hidden = 0
    for key, names in (("subsets", list(subsets)), ("slices", [s or "" for s in slices])):
        arr = np.asarray(names, dtype=object)
        for name in sorted({n for n in names if n}):
            sel = arr == name
            if int(sel.sum()) < min_slice:
                hidden += 1
                continue
            result[key][name] = _group_metrics(y[sel], p[sel], threshold, digits)
    result["groups_hidden_as_too_small"] = hidden
    return result


def _metric_block(where: str, block: Any) -> dict[str, Any]:
    if not isinstance(block, dict):
        raise SubmissionError("report_invalid", f"{where} must be an object of metrics")
    out: dict[str, Any] = {}
    for key, value in block.items():
        if key not in REPORT_METRICS:
            known = ", ".join(REPORT_METRICS)
            raise SubmissionError("report_invalid", f"{where}: unknown metric {key!r} (known: {known})")
        if key == "n":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SubmissionError("report_invalid", f"{where}.n must be a non-negative integer")
            out[key] = value
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or not 0.0 <= value <= 1.0):
            raise SubmissionError("report_invalid", f"{where}.{key} must be a number in [0, 1] or null")
        out[key] = None if value is None else float(value)
    return out


def import_report(report: Any, digits: int) -> dict[str, Any]:
    """Validate an evaluation report (shape in the module docstring) and return ``{"model", "method", "metrics"}``."""
    if not isinstance(report, dict) or not isinstance(report.get("model"), str) or not report["model"].strip():
        raise SubmissionError("report_invalid", "a report is a JSON object with a non-empty string 'model'")
    if not isinstance(report.get("subsets"), dict):
        raise SubmissionError("report_invalid", "'subsets' must be an object {name: {auc, ap, accuracy}}")
    threshold = report.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise SubmissionError("report_invalid", "'threshold' must be a number in [0, 1]")

    def rounded(block: dict[str, Any]) -> dict[str, Any]:
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in block.items()}

    metrics: dict[str, Any] = {
        "threshold": float(threshold),
        "overall": rounded(_metric_block("overall", report.get("overall", {}))),
        "subsets": {str(k): rounded(_metric_block(f"subsets.{k}", v)) for k, v in report["subsets"].items()},
        "slices": {str(k): rounded(_metric_block(f"slices.{k}", v)) for k, v in report.get("slices", {}).items()},
    }
    return {"model": report["model"].strip()[:200], "method": str(report.get("method", ""))[:200], "metrics": metrics}
