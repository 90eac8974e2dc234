"""imaging/decode.py: survivors judged equivalent."""

from __future__ import annotations

_NO_EMPTY_SIDE = ("unreachable: Pillow's ImageFile.__init__ refuses any image with a side <= 0 ('not identified by "
                  "this driver', so Image.open raises UnidentifiedImageError) unless it is a StubImageFile, and no "
                  "supported format is a stub: _open never sees a width or height <= 0")
_FALSY_HEADER = ("_classify reads header only in \"'header' if header else 'data'\", where None is false as False "
                 "is: the same message")
_ALWAYS_A_FORMAT = ("unreachable: Image.open is restricted to the supported formats, whose image classes all name "
                    "their format (JPEG, MPO, PNG, WEBP, GIF, TIFF, BMP, HEIF, AVIF), so the fallback is never used")
_NO_SIGNATURE = ("_classify reads data only for an UnidentifiedImageError, matching its first bytes against the "
                 "image signatures and SVG: b'XXXX' matches none, as b'' does, so both give not_an_image")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__open__mutmut_27": ("if width <= 0 and height <= 0:", _NO_EMPTY_SIDE),
    "x__open__mutmut_28": ("if width < 0 or height <= 0:", _NO_EMPTY_SIDE),
    "x__open__mutmut_30": ("if width <= 0 or height < 0:", _NO_EMPTY_SIDE),
    "x__open__mutmut_32": ('ImageError(None, f"invalid size', _NO_EMPTY_SIDE),
    "x__open__mutmut_33": ('ImageError("not_an_image", None, name)', _NO_EMPTY_SIDE),
    "x__open__mutmut_34": ('{width}x{height}", None)', _NO_EMPTY_SIDE),
    "x__open__mutmut_35": ('ImageError(f"invalid size', _NO_EMPTY_SIDE),
    "x__open__mutmut_36": ('ImageError("not_an_image", name)', _NO_EMPTY_SIDE),
    "x__open__mutmut_37": ('{width}x{height}", )', _NO_EMPTY_SIDE),
    "x__open__mutmut_38": ("XXnot_an_imageXX", _NO_EMPTY_SIDE),
    "x__open__mutmut_39": ("NOT_AN_IMAGE", _NO_EMPTY_SIDE),
    "x_decode_image__mutmut_101": ("_classify(exc, data, name, header=None)", _FALSY_HEADER),
    "x_decode_image__mutmut_131": ('or "XXunknownXX"', _ALWAYS_A_FORMAT),
    "x_decode_image__mutmut_132": ('or "UNKNOWN"', _ALWAYS_A_FORMAT),
    "x_decode_pil__mutmut_34": ('_classify(exc, b"", name, header=None)', _FALSY_HEADER),
    "x_decode_pil__mutmut_39": ('_classify(exc, b"XXXX", name', _NO_SIGNATURE),
}
