"""metadata_writers.py: survivors judged equivalent."""

from __future__ import annotations

_APP_ID = ("a missing app_id shows as '', 'None' or 'XXXX', and none of them starts with 'invoke-ai', so the test "
           "is false for a missing key whichever default is used")
_VERSION = ("a missing version shows as '', 'None' or 'XXXX', and none of them starts with 'Fooocus', so the test "
            "is false for a missing key whichever default is used")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__describe_json__mutmut_10": ('data.get("app_id", None)', _APP_ID),
    "x__describe_json__mutmut_12": ('data.get("app_id", )', _APP_ID),
    "x__describe_json__mutmut_15": ('data.get("app_id", "XXXX")', _APP_ID),
    "x__describe_json__mutmut_21": ('data.get("version", None)', _VERSION),
    "x__describe_json__mutmut_23": ('data.get("version", )', _VERSION),
    "x__describe_json__mutmut_26": ('data.get("version", "XXXX")', _VERSION),
    "x__describe_json__mutmut_55": ('"size"} < keys', "the branch also needs 'c' among the keys, which the three "
                                    "names do not include, so whenever they are a subset of the keys they are a "
                                    "proper one"),
    "x_describe_generation_text__mutmut_27": ('in scan), None)', "no fork is shown when the name is empty or None "
                                              "alike: both are false in the test that adds it"),
}
