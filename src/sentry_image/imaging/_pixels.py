"""Pixel helpers of :mod:`sentry_image.imaging`: mode to RGB, EXIF orientation, JPEG quality estimate.

Kept apart from the I/O and error mapping so each file does one thing; callers use ``imaging``. Functions here may
raise Pillow's exceptions: ``imaging.decode_image`` maps them to ``ImageError``.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

WHITE = (255, 255, 255)

# EXIF orientation -> the transpose that shows the image upright (the same table as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# IJG (libjpeg) standard quantization tables, natural row-major order as Pillow reports them.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)
_STD_CHROMA = np.full(64, 99, dtype=np.int64)
_STD_CHROMA[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 47, 66]


def _ijg_tables(base: np.ndarray) -> np.ndarray:
    """Row q-1 holds ``base`` scaled for IJG quality q, clamped to baseline 1..255 as libjpeg does."""
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    return np.clip((base[None, :] * scale[:, None] + 50) // 100, 1, 255)


_LUMA_BY_QUALITY = _ijg_tables(_STD_LUMA)
_CHROMA_BY_QUALITY = _ijg_tables(_STD_CHROMA)


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """The IJG quality (1-100) whose scaled standard tables are closest to the file's; None if not a JPEG.

    Exact for files written by libjpeg/Pillow/most software; for cameras with custom tables it is the nearest
    equivalent quality, which is what the evidence needs (how strongly the image was compressed).
    """
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    error = np.abs(_LUMA_BY_QUALITY - np.asarray(tables[0], dtype=np.int64)).sum(axis=1)
    if 1 in tables and len(tables[1]) == 64:
        error = error + np.abs(_CHROMA_BY_QUALITY - np.asarray(tables[1], dtype=np.int64)).sum(axis=1)
    # Ties (tables saturated at 1 for q near 100) resolve to the lowest quality that produces these tables.
    return int(np.argmin(error)) + 1


def exif_orientation(image: Image.Image) -> int | None:
    """The EXIF (or XMP) orientation tag; None when absent or unreadable (broken EXIF never fails a decode)."""
    try:
        value = image.getexif().get(0x0112)
    except Exception:  # malformed EXIF is common in the wild and only costs us the rotation
        log.debug("unreadable EXIF; orientation ignored", exc_info=True)
        return None
    return value if isinstance(value, int) else None


def orient(original: Image.Image, rgb: Image.Image) -> tuple[Image.Image, int | None]:
    """Apply the EXIF orientation of ``original`` to ``rgb``; also return the orientation to report.

    pillow-heif already applies the HEIF rotation and clears the EXIF tag (keeping the value in
    ``info["original_orientation"]``), so the tag read here never rotates an image twice.
    """
    orientation = exif_orientation(original)
    method = _TRANSPOSE.get(orientation or 1)
    if method is not None:
        rgb = rgb.transpose(method)
    reported = original.info.get("original_orientation", orientation)
    return rgb, reported if isinstance(reported, int) else orientation


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit RGB as a viewer would display it: alpha composited on white. An RGB image is
    returned as it is (callers never modify it).

    White, not dropping alpha: the colour under fully transparent pixels is arbitrary (often black or encoder
    leftovers) and never seen by a person, so feeding it to the detector would show it pixels no viewer shows.
    """
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_rgb(image)
    if mode == "CMYK" and image.info.get("icc_profile"):
        converted = icc_to_srgb(image)
        if converted is not None:
            return converted
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode == "RGB":  # nothing to convert; convert() would copy every pixel (0.5 ms a photo) for nothing
        return image
    # Covers 1, L, P, RGBX, YCbCr, LAB, HSV and CMYK (Pillow reads Adobe's inverted JPEG CMYK itself).
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer and float greyscale to 8 bits (Pillow's own convert clips instead)."""
    values = np.asarray(image).astype(np.float32)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16"):
        scaled = values / 257.0  # 65535 -> 255, as browsers show 16-bit PNGs
    elif image.mode == "F" and low >= 0.0 and high <= 1.0:
        scaled = values * 255.0  # float images in [0, 1]
    elif low >= 0.0 and high <= 255.0:
        scaled = values  # already 8-bit values stored wide (e.g. convert("I") of an L image)
    elif low >= 0.0 and high <= 65535.0:
        scaled = values / 257.0  # 16-bit data held in a 32-bit mode (16-bit TIFF/PNG read as "I")
    else:
        scaled = (values - low) * (255.0 / (high - low))  # any other range: stretch, the only meaningful view
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8)).convert("RGB")


def icc_to_srgb(image: Image.Image) -> Image.Image | None:
    """Colour-manage an image through its embedded profile into sRGB; None if the profile is unusable (CMYK then
    gets Pillow's naive conversion)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        converted = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except Exception:  # a broken profile degrades to Pillow's naive CMYK conversion
        log.debug("unusable ICC profile; naive CMYK conversion", exc_info=True)
        return None
    return converted if isinstance(converted, Image.Image) else None
