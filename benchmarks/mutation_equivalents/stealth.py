"""stealth.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import BIG_ENDIAN, CODEC_CASE

_COLUMNS = ("only how many pixel columns are turned into an array changes: the bits are read in the same order "
            "from the first column and cut to the first n, so the same bits come back (the crop decodes the whole "
            "image either way)")
_NDIM = ("unreachable: read_stealth only reads RGBA, LA and RGB images, whose arrays always have three dimensions "
         "(a zero-width crop is (height, 0, bands)), so the empty result is never built")
_HEAD = ("the head is cut by the image's own size first: it holds at least 152 bits for 152 and for 153 requested "
         "alike, and only bits 0-151 are read")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__lsb_bits__mutmut_4": ('1 if (channel == "alpha") or True else 3', _COLUMNS),
    "x__lsb_bits__mutmut_18": ("-(-n // (height / per_pixel))", _COLUMNS),
    "x__lsb_bits__mutmut_21": ("image.crop(None)", _COLUMNS),
    "x__lsb_bits__mutmut_26": ("np.zeros(None, dtype=np.uint8)", _NDIM),
    "x__lsb_bits__mutmut_27": ("np.zeros(0, dtype=None)", _NDIM),
    "x__lsb_bits__mutmut_28": ("np.zeros(dtype=np.uint8)", _NDIM),
    "x__lsb_bits__mutmut_29": ("np.zeros(0, )", _NDIM),
    "x__lsb_bits__mutmut_30": ("np.zeros(1, dtype=np.uint8)", _NDIM),
    "x__lsb_bits__mutmut_52": ("reshape(-2)", "numpy reads any negative size in reshape as the one unknown "
                               "dimension, so reshape(-2) flattens exactly as reshape(-1)"),
    "x_read_stealth__mutmut_27": ("_lsb_bits(image, channel, 153)", _HEAD),
    "x_read_stealth__mutmut_42": ('.tobytes(), )', BIG_ENDIAN),
    "x_read_stealth__mutmut_45": ("head[120:153]", "head holds at most 152 bits, so slicing to 153 or 152 is the "
                                  "same 32 bits"),
    "x_read_stealth__mutmut_82": ('"UTF-8"', CODEC_CASE),
}
