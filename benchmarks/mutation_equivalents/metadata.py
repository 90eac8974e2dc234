"""metadata.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import CODEC_CASE, INFO_DEFAULT

_NO_EDITOR = "'XXXX' names no editing software, so a missing Software field adds no editor with either default"

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x_decode_user_comment__mutmut_24": ('"UTF-16"', CODEC_CASE),
    "x_decode_user_comment__mutmut_39": ("even_zeros >= odd_zeros", "the line runs only when the two counts "
                                         "differ, where >= and > agree"),
    "x_decode_user_comment__mutmut_48": ('"UTF-16-BE"', CODEC_CASE),
    "x_decode_user_comment__mutmut_50": ('"UTF-16-LE"', CODEC_CASE),
    "x_decode_user_comment__mutmut_63": ('"SHIFT_JIS"', CODEC_CASE),
    "x_decode_user_comment__mutmut_81": ('"UTF-8"', CODEC_CASE),
    "x_decode_user_comment__mutmut_93": ('"UTF-8"', CODEC_CASE),
    "x__texts__mutmut_24": ('"UTF-8"', CODEC_CASE),
    "x__tag_text__mutmut_41": ('"UTF-16-LE"', CODEC_CASE),
    "x__tag_text__mutmut_57": ('"UTF-8"', CODEC_CASE),
    "x_read_metadata__mutmut_1": ('data: bytes = b"XXXX"', "the default bytes are only searched for an XMP packet "
                                  "and an 8BIM resource, and b'XXXX' holds neither, as b'' does not"),
    "x_read_metadata__mutmut_15": ("ai = [d for k, v in texts.items()", "ai is still the empty list here: "
                                   "assigning and extending give the same list"),
    "x_read_metadata__mutmut_63": ('exif.get("MakerNote", "XXXX")', "a missing MakerNote reads as '' or 'xxxx', "
                                   "neither of which is a Fooocus scheme name"),
    "x_read_metadata__mutmut_80": ('exif.get("Software", "XXXX")', "a missing Software reads as '' or 'XXXX', "
                                   "neither of which contains 'Fooocus'"),
    "x_read_metadata__mutmut_220": ('exif.get("Software", "XXXX")', _NO_EDITOR),
    "x_read_metadata__mutmut_228": ('texts.get("Software", "XXXX")', _NO_EDITOR),
    "x_read_metadata__mutmut_248": ("80)}\", )", INFO_DEFAULT),
}
