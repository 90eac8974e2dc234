"""watermark.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import INFO_DEFAULT

_FLOAT64 = ("numpy's default dtype is float64, the dtype named: the same array (np.empty, astype(None))")
_VOTE_DTYPE = ("the decoded bits are 0 and 1 in any dtype, and decode_watermarks only compares them with the payload "
               "(==) and averages them: float64 0/1 or uint8 0/1 give the same agreement and ones fraction")
_TARGET_DTYPE = "the payload bits compared as int64 or as uint8 are the same 0s and 1s: the same agreement"
_CLIP = ("a no-op clip: cv2's fixed-point U of any 8-bit colour lies in 17..239 (all 2**24 colours checked, on both "
         "channel orders), so clipping at 0, 1, 255, 256 or not at all gives the same plane")
_ROUND_U = ("the rounding term only matters when (blue - luma) * 8061 is 8191 modulo 16384, which no difference in "
            "-255..255 gives (all 511 checked): the same U for every 8-bit colour")
_STRIP = ("only the strip height changes, and it stays a positive multiple of 8 rows (one block row): strips of whole "
          "block rows joined in order give the blocks of the whole image in the same order, the result of every "
          "strip height (tests/provenance/test_watermark.py::test_strip_decode_equals_whole_image_decode)")
_LONE_VOTE = ("np.maximum(counts, 2) differs from np.maximum(counts, 1) only for a bit with one vote v (no vote reads "
              "0 either way): v/2 * 255 = 127.5 is still above 127 for v = 1, and 0 for v = 0, so the bit is v")
_SAME_RGB = ("converting an RGB image to RGB gives the same pixels, so converting every image, RGB ones included, "
             "yields the same array")
_ONES_EDGE = ("the ones fraction is k/136, k/32 or k/48, never exactly 0.1 or 0.9 (13.6, 3.2, 4.8 and 122.4, 28.8, "
              "43.2 bits): strict and non-strict bounds keep the same decodes")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__u_planes__mutmut_18": ("*rgb.shape[:2]), dtype=None)", _FLOAT64),
    "x__u_planes__mutmut_20": ("*rgb.shape[:2]), )", _FLOAT64),
    "x__u_planes__mutmut_50": ("(128 << 14) + 8193", _ROUND_U),
    "x__u_planes__mutmut_55": ("np.clip(y, None, 255", _CLIP),
    "x__u_planes__mutmut_56": ("np.clip(y, 0, None", _CLIP),
    "x__u_planes__mutmut_62": ("np.clip(y, 1, 255", _CLIP),
    "x__u_planes__mutmut_63": ("np.clip(y, 0, 256", _CLIP),
    "x__block_bits__mutmut_49": (".astype(None)", _FLOAT64),
    "x__majority__mutmut_12": ("length), dtype=None)", _VOTE_DTYPE),
    "x__majority__mutmut_14": ("length), )", _VOTE_DTYPE),
    "x__majority__mutmut_30": ("np.maximum(counts, 2)", _LONE_VOTE),
    "x__image_bits__mutmut_15": ("max(rgb.shape[2], 1)", _STRIP),
    "x__image_bits__mutmut_16": ("max(rgb.shape[1], 2)", _STRIP),
    "x__image_bits__mutmut_18": ("// (3 * BLOCK) * (2 * BLOCK)", _STRIP),
    "x__image_bits__mutmut_34": ("max(rgb.shape[0], 2)", "a strip is at least 8 rows, so an image of 0 or 1 rows is "
                                 "one strip from row 0 whether the range ends at 1 or 2; taller images are unchanged"),
    "x_decode_watermarks__mutmut_20": ("(MAX_DECODE_PIXELS / width) // 8 * 8", "the float quotient floors to the "
                                       "same multiple of 8 (integers far below 2**53: no rounding crosses one), and "
                                       "Pillow's crop rounds a float box edge that is already a whole number"),
    "x_decode_watermarks__mutmut_34": ('region.mode == "RGB") and False', _SAME_RGB),
    "x_decode_watermarks__mutmut_37": ('region.mode == "XXRGBXX"', _SAME_RGB),
    "x_decode_watermarks__mutmut_38": ('region.mode == "rgb"', _SAME_RGB),
    "x_decode_watermarks__mutmut_50": ("np.array(payload.bits, dtype=None)", _TARGET_DTYPE),
    "x_decode_watermarks__mutmut_52": ("np.array(payload.bits, )", _TARGET_DTYPE),
    "x_decode_watermarks__mutmut_58": ("_MIN_ONES_FRACTION < ones <=", _ONES_EDGE),
    "x_decode_watermarks__mutmut_59": ("<= ones < 1 - _MIN_ONES_FRACTION", _ONES_EDGE),
    "x_read_watermark__mutmut_58": ("Hint.NONE, evidence, )]", INFO_DEFAULT),
}
