"""The files a benchmark serves: each upload stripped of metadata (or re-encoded on request), checked to decode to
the same pixels, described for the shortcut audit; and the benchmark's ZIP, written once.

Per container:

* JPEG, PNG, WebP: :func:`image_hygiene.strip_metadata` rewrites the container, the coded image data is kept byte
  for byte, and both files are decoded to prove the stored pixels did not change (a file whose pixels would change
  is refused, never served altered).
* GIF, TIFF, BMP, HEIF, AVIF: written as PNG from the decoded pixels (first frame), which is lossless, so the
  pixels are the uploaded ones while the container no longer names the source (TIFF, HEIF and AVIF come from
  cameras and phones, not generators). Modes PNG cannot hold (CMYK, YCbCr, LAB, float) are refused.
* ``normalise="jpeg"`` re-encodes every image the same way whatever its class: upright (EXIF orientation),
  alpha on white, centre-cropped to a square, resized to ``side`` (Lanczos) and saved as baseline JPEG at one
  quality with 4:2:0 chroma; for benchmarks whose format and size mix gives the labels away.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..imaging import DecodedImage, ImageError, decode_image
from ..provenance import read_metadata
from ..provenance.c2pa import has_c2pa_store
from ..types import Strength
from .errors import ApiError
from .image_hygiene import HygieneError, container, strip_metadata
from .shortcut_audit import FileFacts

NORMALISE = ("none", "jpeg")
MEDIA = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"), "WEBP": ("image/webp", ".webp")}
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})
# Tags that hold metadata in a TIFF-like container (Make, Model, Software, DateTime, Artist, XMP, EXIF IFD, ICC,
# GPS IFD); a TIFF always has tags, so presence of any tag at all would say nothing.
_TIFF_METADATA_TAGS = (0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x02BC, 0x8769, 0x8773, 0x8825)
_ZIP_LOCK = threading.Lock()
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every entry the same date: the write order must not show in the archive


@dataclass
class ServedImage:
    """One registered image as it will be served, and the audit's view of it before and after."""

    data: bytes
    format: str
    uploaded: FileFacts
    served: FileFacts


def _decode(name: str, data: bytes, max_pixels: int) -> DecodedImage:
    try:
        return decode_image(data, name, max_pixels=max_pixels)
    except ImageError as exc:
        raise ApiError(422, "not_an_image", f"{name[:100]}: {exc.message}") from None


def _refuse(name: str, problem: str) -> ApiError:
    return ApiError(422, "image_not_servable", f"{name[:100]}: {problem}; convert it, or register the benchmark "
                                               "with normalise=jpeg")


def _has_metadata(decoded: DecodedImage) -> bool:
    if container(decoded.data):
        try:
            return bool(strip_metadata(decoded.data).removed)
        except HygieneError:  # only an upload re-encoded by normalise=jpeg gets here; its container is odd
            return True
    image = decoded.original
    if any(image.info.get(key) for key in ("exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp")):
        return True
    return any(image.getexif().get(tag) is not None for tag in _TIFF_METADATA_TAGS)


def _generator_metadata(decoded: DecodedImage) -> bool:
    """The provenance reader's strong AI evidence from metadata, or a C2PA store, in the file."""
    try:
        store = has_c2pa_store(decoded.data)
    except ValueError:  # a structure the gate cannot walk holds no store it could report
        store = False
    signals = read_metadata(decoded.original, decoded.data)
    return store or any(s.strength is Strength.STRONG for s in signals)


def file_facts(decoded: DecodedImage, fmt: str) -> FileFacts:
    width, height = decoded.original.size  # as stored: orientation is metadata, and goes with it
    return FileFacts(format=fmt, bytes=len(decoded.data), width=width, height=height,
                     metadata=_has_metadata(decoded), generator_metadata=_generator_metadata(decoded))


def _pixels(image: Image.Image) -> tuple[str, tuple[int, int], np.ndarray, object]:
    """What must survive stripping: mode, size, sample values and transparency (a palette image is compared after
    its palette and transparency are applied, so an equivalent tRNS spelling does not count as a change)."""
    if image.mode == "P":
        return image.mode, image.size, np.asarray(image.convert("RGBA")), None
    return image.mode, image.size, np.asarray(image), image.info.get("transparency")


def _same_pixels(before: Image.Image, after: Image.Image) -> bool:
    mode_a, size_a, arr_a, key_a = _pixels(before)
    mode_b, size_b, arr_b, key_b = _pixels(after)
    return mode_a == mode_b and size_a == size_b and key_a == key_b and np.array_equal(arr_a, arr_b)


def _lossless_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    transparency = image.info.get("transparency")
    extra = {"transparency": transparency} if transparency is not None and image.mode in ("P", "L", "RGB") else {}
    image.save(buf, format="PNG", icc_profile=None, **extra)
    return buf.getvalue()


def reencode_jpeg(rgb: Image.Image, side: int, quality: int) -> bytes:
    """The ``normalise=jpeg`` form of an upright RGB image: centre square, ``side`` px, one JPEG quality."""
    width, height = rgb.size
    short = min(width, height)
    left, top = (width - short) // 2, (height - short) // 2
    square = rgb.crop((left, top, left + short, top + short))
    if short != side:
        square = square.resize((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    square.save(buf, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False, progressive=False)
    return buf.getvalue()


def prepare(name: str, data: bytes, *, normalise: str, side: int, quality: int, max_pixels: int) -> ServedImage:
    """The served form of one upload (see the module docstring); a 422 naming ``name`` if it cannot be made."""
    uploaded = _decode(name, data, max_pixels)
    fmt = uploaded.info.format
    try:
        if normalise == "jpeg":
            served = strip_metadata(reencode_jpeg(uploaded.rgb, side, quality)).data
        elif container(data):
            served = strip_metadata(data).data
        elif uploaded.original.mode in _PNG_MODES:
            served = strip_metadata(_lossless_png(uploaded.original)).data
        else:
            raise _refuse(name, f"{fmt} in mode {uploaded.original.mode} has no lossless PNG form")
    except HygieneError as exc:
        raise _refuse(name, str(exc)) from None
    check = _decode(name, served, max_pixels)
    if normalise == "none" and not _same_pixels(uploaded.original, check.original):
        raise _refuse(name, "removing its metadata would change its decoded pixels")
    served_format = container(served) or "PNG"  # every branch above writes a JPEG, PNG or WebP container
    return ServedImage(data=served, format=served_format, uploaded=file_facts(uploaded, fmt),
                       served=file_facts(check, served_format))


def zip_path(folder: Path) -> Path:
    """Where a benchmark's ZIP lives: beside its images, under a name no image id can take."""
    return folder / "images.zip"


def ensure_zip(folder: Path, file_names: list[str]) -> Path:
    """The benchmark's ZIP (stored, not recompressed), written once. Benchmarks registered before ZIPs were kept
    get theirs on the first download: the lock keeps parallel first downloads of one process from writing it
    twice, and the atomic rename keeps any process from serving a half-written file."""
    target = zip_path(folder)
    if target.exists():
        return target
    with _ZIP_LOCK:
        if target.exists():
            return target
        fd, tmp = tempfile.mkstemp(prefix=".images-", suffix=".zip", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                for file_name in sorted(file_names):
                    info = zipfile.ZipInfo(file_name, date_time=_ZIP_TIME)
                    info.external_attr = 0o644 << 16
                    with (folder / file_name).open("rb") as src, zf.open(info, "w") as dst:
                        while block := src.read(1 << 20):
                            dst.write(block)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return target


__all__ = ["MEDIA", "NORMALISE", "ServedImage", "ensure_zip", "file_facts", "prepare", "reencode_jpeg",
           "zip_path"]
