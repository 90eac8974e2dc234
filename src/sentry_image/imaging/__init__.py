"""Safe image decoding (:mod:`.decode`), its pixel helpers and the expansion of user paths (:mod:`.inputs`)."""

from ..types import ImageError, ImageInfo
from ._pixels import icc_to_srgb
from .decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    MIN_MODEL_SIDE,
    SUPPORTED_FORMATS,
    DecodedImage,
    Reduce,
    check_model_size,
    decode_image,
    decode_pil,
    load_image,
    os_error,
    read_image_bytes,
)

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "MIN_MODEL_SIDE", "SUPPORTED_FORMATS", "DecodedImage", "ImageError",
    "ImageInfo", "Reduce", "check_model_size", "decode_image", "decode_pil", "icc_to_srgb", "load_image",
    "os_error",
    "read_image_bytes",
]
