"""The scoring functions called directly, with exact answers: each way a predictions CSV is refused (code and the
message naming the line or id), the metrics against scikit-learn, the accuracy rule at the threshold, and what
``import_report`` keeps, rounds and refuses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from sentry_image.serve.scoring import (
    REPORT_METRICS,
    SubmissionError,
    _examples,
    import_report,
    parse_predictions,
    score,
)

IDS = {"a.png", "b.png", "c.png"}
HEADER = b"image_id,ai_probability\n"


def refused(data: bytes, ids: set[str] = IDS) -> SubmissionError:
    with pytest.raises(SubmissionError) as info:
        parse_predictions(data, ids)
    return info.value


def report_refused(report: Any, digits: int = 4) -> SubmissionError:
    with pytest.raises(SubmissionError) as info:
        import_report(report, digits)
    assert info.value.code == "report_invalid" and info.value.status == 422
    return info.value


# -- SubmissionError and _examples -----------------------------------------------------------------------------------
def test_submission_error_carries_code_message_and_status() -> None:
    err = SubmissionError("csv_empty", "the file is empty")
    assert (err.code, err.message, err.status) == ("csv_empty", "the file is empty", 422)
    assert str(err) == "the file is empty" and err.args == ("the file is empty",)
    assert SubmissionError("x", "y", 413).status == 413
    assert isinstance(err, ValueError)


def test_examples_shows_five_and_counts_the_rest() -> None:
    assert _examples(["a", "b", "c", "d", "e"]) == "a, b, c, d, e"
    assert _examples(["a", "b", "c", "d", "e", "f", "g"]) == "a, b, c, d, e and 2 more"
    assert _examples(["a", "b", "c", "d", "e", "f"]) == "a, b, c, d, e and 1 more"
    assert _examples(["only"]) == "only"
    assert _examples([]) == ""


# -- parse_predictions -----------------------------------------------------------------------------------------------
def test_a_valid_file_gives_every_id_its_probability() -> None:
    data = HEADER + b"a.png,0\nb.png, 0.25 \nc.png,1\n"
    assert parse_predictions(data, IDS) == {"a.png": 0.0, "b.png": 0.25, "c.png": 1.0}


def test_bom_quoting_header_case_and_blank_lines_are_accepted() -> None:
    data = ('\ufeff"Image_ID", AI_Probability \r\n\r\n"a.png","0.5"\r\n , \r\n"b,c.png",0.75\r\n'
            '"c.png",1e-1\r\n').encode()
    out = parse_predictions(data, {"a.png", "b,c.png", "c.png"})
    assert out == {"a.png": 0.5, "b,c.png": 0.75, "c.png": 0.1}


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    err = refused(data)
    assert err.code == "csv_empty" and err.status == 422
    assert err.message == "the file is empty; expected a header image_id,ai_probability and rows"


def test_bytes_that_are_not_utf8_name_their_offset() -> None:
    err = refused(HEADER + b"a.png,0.5\n\xff\xfe,0.1\n")
    assert err.code == "csv_encoding"
    assert err.message == f"the file is not UTF-8 text (byte {len(HEADER) + 10})"


def test_a_wrong_header_is_refused_and_quoted() -> None:
    err = refused(b"image_id,prob\na.png,0.5\n")
    assert err.code == "csv_wrong_columns"
    assert err.message == "the header must be exactly image_id,ai_probability; found 'image_id,prob'"
    err = refused(b"image_id,ai_probability,extra\n")
    assert err.message == ("the header must be exactly image_id,ai_probability; "
                           "found 'image_id,ai_probability,extra'")
    err = refused(b" , \n,,\n")  # only blank cells: no header at all
    assert err.code == "csv_wrong_columns"
    assert err.message == "the header must be exactly image_id,ai_probability; found ''"


def test_a_header_alone_misses_every_id() -> None:
    err = refused(HEADER)
    assert err.code == "csv_missing_ids"
    assert err.message == "3 of 3 images have no prediction: a.png, b.png, c.png"


def test_rows_of_the_wrong_width_name_their_lines() -> None:
    err = refused(HEADER + b"a.png,0.5\nb.png\nc.png,0.1,extra\n")
    assert err.code == "csv_wrong_columns"
    assert err.message == "rows must have exactly 2 fields: line 3 has 1 fields, line 4 has 3 fields"


def test_a_row_of_the_wrong_width_is_skipped_not_read() -> None:
    # The bad row is reported; with it skipped, no other error is raised first.
    err = refused(HEADER + b"a.png,0.5,9\nb.png,0.5\nc.png,0.5\n")
    assert (err.code, err.message) == ("csv_wrong_columns", "rows must have exactly 2 fields: line 2 has 3 fields")


def test_values_that_are_not_numbers_name_line_and_value() -> None:
    long = "x" * 30
    err = refused(HEADER + f"a.png,abc\nb.png,0.5\nc.png,{long}\n".encode())
    assert err.code == "csv_not_a_number"
    assert err.message == f"ai_probability must be a number: line 2 ('abc'), line 4 ('{'x' * 20}')"


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-Infinity"])
def test_nan_and_infinity_are_not_finite(raw: str) -> None:
    err = refused(HEADER + f"a.png,0.5\nb.png,{raw}\nc.png,0.5\n".encode())
    assert err.code == "csv_not_finite"
    assert err.message == f"ai_probability must be finite (no NaN or infinity): line 3 ({raw})"


def test_not_finite_is_reported_before_out_of_range() -> None:
    err = refused(HEADER + b"a.png,nan\nb.png,1.5\nc.png,0.5\n")
    assert err.code == "csv_not_finite"


def test_values_outside_unit_interval_name_line_and_value() -> None:
    err = refused(HEADER + b"a.png,1.0000001\nb.png,-0.0001\nc.png,0.5\n")
    assert err.code == "csv_out_of_range"
    assert err.message == "ai_probability must lie in [0, 1]: line 2 (1), line 3 (-0.0001)"


@pytest.mark.parametrize("edge", ["0", "0.0", "1", "1.0", "-0.0"])
def test_the_interval_ends_are_accepted(edge: str) -> None:
    out = parse_predictions(HEADER + f"a.png,{edge}\nb.png,0.5\nc.png,0.5\n".encode(), IDS)
    assert out["a.png"] == float(edge)


def test_the_first_failing_check_wins_in_a_fixed_order() -> None:
    data = HEADER + b"a.png,1\na.png,0.1,2\nb.png,x\nc.png,nan\nd.png,2\n"
    assert refused(data).code == "csv_wrong_columns"
    assert refused(HEADER + b"a.png,x\na.png,2\nb.png,nan\n").code == "csv_not_a_number"
    assert refused(HEADER + b"a.png,2\na.png,0.5\n").code == "csv_out_of_range"


def test_a_repeated_id_is_named() -> None:
    err = refused(HEADER + b"a.png,0.1\nb.png,0.2\nc.png,0.3\na.png,0.4\n")
    assert err.code == "csv_duplicate_ids"
    assert err.message == "each image_id must appear once; repeated: a.png"


def test_repeated_ids_are_cut_to_forty_characters() -> None:
    long = "p" * 50
    err = refused(HEADER + f"{long},0.1\n{long},0.2\n".encode(), {long})
    assert err.message == f"each image_id must appear once; repeated: {'p' * 40}"


def test_out_of_range_duplicates_are_still_counted_as_duplicates() -> None:
    err = refused(HEADER + b"a.png,0.1\na.png,0.2\nb.png,0.3\nc.png,0.4\n")
    assert err.code == "csv_duplicate_ids"


def test_many_unknown_ids_are_counted_sorted_and_cut() -> None:
    extra = [f"z{i}.png" for i in range(7)]
    long = "q" * 45
    rows = "".join(f"{i},0.5\n" for i in [*sorted(IDS), *reversed(extra), long])
    err = refused(HEADER + rows.encode())
    assert err.code == "csv_unknown_ids"
    assert err.message == f"8 ids are not in the benchmark: {'q' * 40}, z0.png, z1.png, z2.png, z3.png and 3 more"


def test_unknown_ids_are_reported_before_missing_ones() -> None:
    err = refused(HEADER + b"a.png,0.5\nx.png,0.5\n")
    assert (err.code, err.message) == ("csv_unknown_ids", "1 ids are not in the benchmark: x.png")


def test_missing_ids_are_counted_against_the_benchmark() -> None:
    ids = {f"m{i}.png" for i in range(8)}
    err = refused(HEADER + b"m0.png,0.5\n", ids)
    assert err.code == "csv_missing_ids"
    assert err.message == "7 of 8 images have no prediction: m1.png, m2.png, m3.png, m4.png, m5.png and 2 more"


# -- score -----------------------------------------------------------------------------------------------------------
RNG = np.random.default_rng(7)
LABELS = [0, 1] * 10
PROBS = [float(x) for x in RNG.random(20)]


def test_overall_metrics_match_sklearn_and_are_rounded() -> None:
    out = score(LABELS, PROBS, ["s"] * 20, [None] * 20, threshold=0.3, min_slice=1, digits=3)
    o = out["overall"]
    assert o["n"] == 20
    assert o["auc"] == round(roc_auc_score(LABELS, PROBS), 3)
    assert o["ap"] == round(average_precision_score(LABELS, PROBS), 3)
    y, p = np.array(LABELS), np.array(PROBS)
    assert o["accuracy"] == round(float(np.mean((p >= 0.5) == (y == 1))), 3)
    assert o["accuracy_at_threshold"] == round(float(np.mean((p >= 0.3) == (y == 1))), 3)
    for key in ("auc", "ap", "accuracy", "accuracy_at_threshold"):
        assert isinstance(o[key], float)
    assert set(o) == {"n", "auc", "ap", "accuracy", "accuracy_at_threshold"}


def test_subsets_and_slices_are_scored_on_their_own_rows_and_rounded() -> None:
    subsets = ["x"] * 10 + ["y"] * 10
    slices: list[str | None] = [None] * 6 + ["j"] * 14
    out = score(LABELS, PROBS, subsets, slices, threshold=0.5, min_slice=1, digits=2)
    assert set(out["subsets"]) == {"x", "y"} and set(out["slices"]) == {"j"}
    for group, sel in ((out["subsets"]["x"], slice(0, 10)), (out["subsets"]["y"], slice(10, 20)),
                       (out["slices"]["j"], slice(6, 20))):
        y, p = LABELS[sel], PROBS[sel]
        assert group["n"] == len(y)
        assert group["auc"] == round(roc_auc_score(y, p), 2)
        assert group["ap"] == round(average_precision_score(y, p), 2)
        assert isinstance(group["auc"], float) and isinstance(group["accuracy"], float)
    assert out["groups_hidden_as_too_small"] == 0


def test_a_probability_exactly_at_the_threshold_counts_as_ai() -> None:
    out = score([1, 1], [0.7, 0.7], ["s", "s"], [None, None], threshold=0.7, min_slice=1, digits=6)
    assert out["overall"]["accuracy_at_threshold"] == 1.0
    under = math.nextafter(0.7, 0.0)
    out = score([1, 1], [under, under], ["s", "s"], [None, None], threshold=0.7, min_slice=1, digits=6)
    assert out["overall"]["accuracy_at_threshold"] == 0.0
    half_under = math.nextafter(0.5, 0.0)
    out = score([1, 0], [0.5, half_under], ["s", "s"], [None, None], threshold=0.5, min_slice=1, digits=6)
    assert out["overall"]["accuracy"] == 1.0 and out["overall"]["accuracy_at_threshold"] == 1.0


def test_accuracy_is_at_one_half_whatever_the_threshold() -> None:
    out = score([1, 0, 1], [0.6, 0.4, 0.2], ["s"] * 3, [None] * 3, threshold=0.1, min_slice=1, digits=6)
    assert out["overall"]["accuracy"] == round(2 / 3, 6)
    assert out["overall"]["accuracy_at_threshold"] == round(2 / 3, 6)
    out = score([1, 0, 1], [0.6, 0.4, 0.2], ["s"] * 3, [None] * 3, threshold=0.9, min_slice=1, digits=6)
    assert out["overall"]["accuracy"] == round(2 / 3, 6)
    assert out["overall"]["accuracy_at_threshold"] == round(1 / 3, 6)


@pytest.mark.parametrize(("labels", "has_curves"), [([1, 1, 1], False), ([0, 0, 0], False), ([1, 0, 0], True),
                                                    ([1, 1, 0], True)])
def test_auc_and_ap_need_both_classes(labels: list[int], has_curves: bool) -> None:
    probs = [0.9, 0.2, 0.6]
    o = score(labels, probs, ["s"] * 3, [None] * 3, threshold=0.5, min_slice=1, digits=4)["overall"]
    if has_curves:
        assert o["auc"] == round(roc_auc_score(labels, probs), 4)
        assert o["ap"] == round(average_precision_score(labels, probs), 4)
    else:
        assert o["auc"] is None and o["ap"] is None
    assert o["accuracy"] == round(float(np.mean((np.array(probs) >= 0.5) == (np.array(labels) == 1))), 4)


def test_the_threshold_is_echoed_rounded_to_six_places() -> None:
    out = score([0, 1], [0.1, 0.9], ["s", "s"], [None, None], threshold=0.12345678, min_slice=1, digits=2)
    assert out["threshold"] == 0.123457 and isinstance(out["threshold"], float)
    out = score([0, 1], [0.1, 0.9], ["s", "s"], [None, None], threshold=1, min_slice=1, digits=2)
    assert out["threshold"] == 1.0 and isinstance(out["threshold"], float)


def test_small_groups_are_hidden_and_counted() -> None:
    out = score(LABELS, PROBS, ["a"] * 15 + ["b"] * 5, [None] * 14 + ["c"] * 6, threshold=0.5, min_slice=6,
                digits=3)
    assert set(out["subsets"]) == {"a"} and set(out["slices"]) == {"c"}
    assert out["groups_hidden_as_too_small"] == 1
    assert out["slices"]["c"]["n"] == 6


# -- import_report ---------------------------------------------------------------------------------------------------
def full_report() -> dict[str, Any]:
    return {"model": "  sentry-default@1  ", "method": "EfficientNet-Lite0 probe", "threshold": 0.42,
            "overall": {"auc": 0.971234, "ap": 0.96, "accuracy": 0.912345, "accuracy_at_threshold": None},
            "subsets": {"sdxl": {"auc": 0.99, "ap": 0.98765, "accuracy": 0.95, "n": 200}},
            "slices": {"jpeg-75": {"auc": 0.93, "ap": 1, "accuracy": 0}}}


def test_a_full_report_is_kept_stripped_and_rounded() -> None:
    out = import_report(full_report(), 3)
    assert out == {"model": "sentry-default@1", "method": "EfficientNet-Lite0 probe", "metrics": {
        "threshold": 0.42,
        "overall": {"auc": 0.971, "ap": 0.96, "accuracy": 0.912, "accuracy_at_threshold": None},
        "subsets": {"sdxl": {"auc": 0.99, "ap": 0.988, "accuracy": 0.95, "n": 200}},
        "slices": {"jpeg-75": {"auc": 0.93, "ap": 1.0, "accuracy": 0.0}}}}
    m = out["metrics"]
    assert isinstance(m["slices"]["jpeg-75"]["ap"], float) and isinstance(m["slices"]["jpeg-75"]["accuracy"], float)
    assert isinstance(m["subsets"]["sdxl"]["n"], int)
    assert isinstance(m["overall"]["auc"], float)


def test_a_minimal_report_takes_the_defaults() -> None:
    out = import_report({"model": "m", "subsets": {}}, 4)
    assert out == {"model": "m", "method": "",
                   "metrics": {"threshold": 0.5, "overall": {}, "subsets": {}, "slices": {}}}
    assert isinstance(out["metrics"]["threshold"], float)


def test_an_integer_threshold_and_names_become_strings() -> None:
    out = import_report({"model": "m", "threshold": 1, "method": 7, "subsets": {3: {"n": 0}}}, 2)
    assert out["metrics"]["threshold"] == 1.0 and isinstance(out["metrics"]["threshold"], float)
    assert out["method"] == "7" and out["metrics"]["subsets"] == {"3": {"n": 0}}
    assert import_report({"model": "m", "threshold": 0, "subsets": {}}, 2)["metrics"]["threshold"] == 0.0


def test_model_and_method_are_cut_to_two_hundred_characters() -> None:
    out = import_report({"model": " " + "m" * 250, "method": "k" * 250, "subsets": {}}, 2)
    assert out["model"] == "m" * 200 and out["method"] == "k" * 200


@pytest.mark.parametrize("report", [None, [], "m", {"subsets": {}}, {"model": 3, "subsets": {}},
                                    {"model": "   ", "subsets": {}}, {"model": "", "subsets": {}}])
def test_a_report_without_a_model_name_is_refused(report: Any) -> None:
    assert report_refused(report).message == "a report is a JSON object with a non-empty string 'model'"


@pytest.mark.parametrize("subsets", [None, [], "sdxl", 1])
def test_subsets_must_be_an_object(subsets: Any) -> None:
    report: dict[str, Any] = {"model": "m"}
    if subsets is not None:
        report["subsets"] = subsets
    assert report_refused(report).message == "'subsets' must be an object {name: {auc, ap, accuracy}}"


@pytest.mark.parametrize("threshold", [True, False, "0.5", None, -0.001, 1.001, math.nan, [0.5]])
def test_a_bad_threshold_is_refused(threshold: Any) -> None:
    err = report_refused({"model": "m", "subsets": {}, "threshold": threshold})
    assert err.message == "'threshold' must be a number in [0, 1]"


@pytest.mark.parametrize("block", [None, [], 0.9, "auc"])
def test_a_metric_block_must_be_an_object(block: Any) -> None:
    assert report_refused({"model": "m", "subsets": {}, "overall": block}).message == (
        "overall must be an object of metrics")
    assert report_refused({"model": "m", "subsets": {"sdxl": block}}).message == (
        "subsets.sdxl must be an object of metrics")
    assert report_refused({"model": "m", "subsets": {}, "slices": {"jpeg": block}}).message == (
        "slices.jpeg must be an object of metrics")


def test_an_unknown_metric_is_named_with_the_known_ones() -> None:
    err = report_refused({"model": "m", "subsets": {"sdxl": {"auc": 0.9, "AUC": 0.9}}})
    assert err.message == "subsets.sdxl: unknown metric 'AUC' (known: auc, ap, accuracy, accuracy_at_threshold, n)"
    assert REPORT_METRICS == ("auc", "ap", "accuracy", "accuracy_at_threshold", "n")


@pytest.mark.parametrize("n", [-1, 1.0, True, "3", None])
def test_n_must_be_a_non_negative_integer(n: Any) -> None:
    err = report_refused({"model": "m", "subsets": {}, "slices": {"blur": {"n": n}}})
    assert err.message == "slices.blur.n must be a non-negative integer"


def test_n_of_zero_and_one_are_kept_and_later_metrics_still_checked() -> None:
    out = import_report({"model": "m", "subsets": {"a": {"n": 0, "auc": 0.5}, "b": {"n": 1, "ap": 0.25}}}, 2)
    assert out["metrics"]["subsets"] == {"a": {"n": 0, "auc": 0.5}, "b": {"n": 1, "ap": 0.25}}
    err = report_refused({"model": "m", "subsets": {"a": {"n": 5, "auc": 2.0}}})
    assert err.message == "subsets.a.auc must be a number in [0, 1] or null"


@pytest.mark.parametrize("value", [True, False, "0.9", [0.9], -0.01, 1.01, math.nan, math.inf, -math.inf])
def test_a_metric_must_be_a_number_in_the_unit_interval(value: Any) -> None:
    err = report_refused({"model": "m", "subsets": {}, "overall": {"accuracy_at_threshold": value}})
    assert err.message == "overall.accuracy_at_threshold must be a number in [0, 1] or null"


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, None, 0.5])
def test_metric_values_at_the_ends_and_null_are_kept(value: Any) -> None:
    out = import_report({"model": "m", "subsets": {}, "overall": {"ap": value}}, 4)
    kept = out["metrics"]["overall"]["ap"]
    assert kept == value and (kept is None or isinstance(kept, float))


def test_an_overflowing_value_is_not_finite_and_shown_cut_to_twenty_characters() -> None:
    raw = "1" + "0" * 20 + "e999"  # float() reads it as infinity
    err = refused(HEADER + f"a.png,{raw}\nb.png,0.5\nc.png,0.5\n".encode())
    assert err.code == "csv_not_finite"
    assert err.message == f"ai_probability must be finite (no NaN or infinity): line 2 ({raw[:20]})"
