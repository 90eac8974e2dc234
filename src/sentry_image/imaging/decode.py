"""Safe image decoding: byte and pixel caps, EXIF orientation, every mode to RGB, never re-encode.

Each step is cheap before the next expensive one: ``stat`` (regular file, byte cap), a bounded read, Pillow's
header parse restricted to the supported formats, the pixel cap checked against the declared size, and only then
the pixel decode of the first frame. Pillow's ``LOAD_TRUNCATED_IMAGES`` is left False, so truncated data fails.

Supported: JPEG (and MPO), PNG/APNG, WebP, GIF, TIFF, BMP, HEIC/HEIF (pillow-heif) and AVIF (Pillow).

Every failure raises :class:`ImageError`; its ``code`` is part of the verdict contract and stable:

==================  ==========================================================================================
code                meaning
==================  ==========================================================================================
not_found           the path does not exist, or is a broken symbolic link
not_a_file          the path is a directory, FIFO, device or socket
permission_denied   the OS refused access
empty_file          zero bytes
too_large           over the byte cap, or the header declares more pixels than the pixel cap (a bomb)
not_an_image        no supported image signature, or corrupt image data
truncated           a recognised image whose data ends early (or whose header is cut short)
unsupported_format  a recognised format this tool does not decode: SVG, PDF, PSD, EPS, JPEG XL, JPEG 2000, ICO
too_small           decodes, but a side is under ``MIN_MODEL_SIDE``: raised only by :func:`check_model_size`,
                    never by decoding, so tiny images still yield provenance evidence
unreadable          any other OS error (I/O error, symbolic link loop, ...)
==================  ==========================================================================================

Pillow's ``DecompressionBombWarning``: turning it into an error with ``warnings.catch_warnings`` would mutate the
process-wide warning filters, which races with other threads before Python 3.14. Instead the condition it
signals (more pixels than ``Image.MAX_IMAGE_PIXELS``) is part of the pixel cap, checked from the header, so any
image Pillow would warn about raises ``too_large`` before its pixels are decoded; ``DecompressionBombError``
(Pillow's hard limit, raised inside ``Image.open``) maps to ``too_large`` too.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..types import ImageError, ImageInfo
from ._pixels import estimate_jpeg_quality, orient, to_rgb

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "MIN_MODEL_SIDE", "SUPPORTED_FORMATS", "DecodedImage", "ImageError",
    "ImageInfo", "Reduce", "check_model_size", "decode_image", "decode_pil", "estimate_jpeg_quality", "load_image",
    "os_error", "read_image_bytes",
]

try:  # registered once at import (thread-safe under the import lock); without it HEIC is unsupported_format
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a core dependency
    pass

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own bomb threshold (Image.MAX_IMAGE_PIXELS): above it Pillow warns
MIN_MODEL_SIDE = 16  # under this a detector sees almost none of the traces it reads; provenance alone decides
# JPEG includes MPO (the multi-picture JPEG of many cameras), which Pillow opens through the JPEG plugin.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF", "AVIF")

# Signatures: supported ones tell a cut-short header from random bytes; the others name what we refuse.
_SUPPORTED_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"),
                    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"),
                    (b"WEBPVP8", "WEBP"), (b"ftyp", "HEIF/AVIF"))  # the last two sit at offsets 8 and 4
_UNSUPPORTED_MAGIC = ((b"%PDF", "PDF"), (b"8BPS", "PSD"), (b"%!PS", "PostScript/EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"),
                      (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
                      (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xffO\xffQ", "JPEG 2000"),
                      (b"\x00\x00\x01\x00", "ICO"), (b"icns", "ICNS"), (b"qoif", "QOI"))


@dataclass
class DecodedImage:
    """A decoded input.

    Attributes:
        rgb: RGB pixels, EXIF orientation applied, alpha composited on white, first frame: what the detector sees.
        original: the image as opened (first frame, original mode, no rotation) with its metadata
            (``info``, ``getexif()``, text chunks): what the provenance readers see.
        data: the file's bytes, unmodified.
        info: format, size, mode, frames, JPEG quality estimate.
        path: the file it was read from (``None`` for bytes or an image object): provenance looks beside it for a
            sidecar manifest store.
    """

    rgb: Image.Image
    original: Image.Image
    data: bytes
    info: ImageInfo
    path: Path | None = None


def read_image_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a regular file of at most ``max_bytes`` bytes; never blocks on a FIFO, never reads past the cap."""
    name = str(path)
    try:
        # stat before open: directories, FIFOs and devices are refused without opening them.
        _check_regular(os.stat(path), name, max_bytes)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            _check_regular(os.fstat(f.fileno()), name, max_bytes)  # the file may have been swapped since stat
            data = f.read(max_bytes + 1)
    except ImageError:
        raise
    except OSError as exc:
        raise os_error(exc, name) from None
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise ImageError("not_found", f"invalid path: {exc}", name) from None
    if len(data) > max_bytes:  # the file grew after the size check
        raise ImageError("too_large", f"file is over the {max_bytes}-byte limit", name)
    return data


def os_error(exc: OSError, path: str) -> ImageError:
    """The ImageError for an OS failure on ``path`` (shared with :mod:`sentry_image.inputs` for the same codes)."""
    if isinstance(exc, FileNotFoundError):
        broken = os.path.islink(path)
        return ImageError("not_found", "broken symbolic link" if broken else "no such file or directory", path)
    if isinstance(exc, NotADirectoryError):
        return ImageError("not_found", "a component of the path is not a directory", path)
    if isinstance(exc, PermissionError):
        return ImageError("permission_denied", "permission denied", path)
    if exc.errno == errno.ELOOP:
        return ImageError("unreadable", "symbolic link loop", path)
    return ImageError("unreadable", exc.strerror or str(exc), path)


def _check_regular(st: os.stat_result, name: str, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("not_a_file", "is a directory", name)
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not_a_file", "not a regular file", name)
    if st.st_size == 0:
        raise ImageError("empty_file", "file is empty", name)
    if st.st_size > max_bytes:
        raise ImageError("too_large", f"file is {st.st_size} bytes, over the {max_bytes}-byte limit", name)


@dataclass(frozen=True)
class Reduce:
    """Permission to decode a JPEG at a reduced DCT scale (Pillow's ``draft``): 1/2, 1/4 or 1/8 of each side,
    the smallest that keeps the short side at or above ``short_side``. JPEG decoding cost falls with the square of
    the scale, and a model that resizes below ``short_side`` anyway never sees the lost detail.

    Attributes:
        short_side: the smallest short side the caller needs.
        keep: called with the opened image (header read, no pixel) and its estimated JPEG quality; True means a
            reader needs the stored pixels of this file (the watermark decoder, where a mark can survive), so it is
            decoded whole. ``None``: any JPEG may be reduced.
    """

    short_side: int
    keep: Callable[[Image.Image, int | None], bool] | None = None


def decode_image(data: bytes, name: str = "<bytes>", *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int | None = None, reduce: Reduce | None = None) -> DecodedImage:
    """Decode ``data`` (never re-encoded) into the detector's RGB view plus the original for provenance.

    ``max_bytes`` caps bytes that did not come through :func:`read_image_bytes` (uploads); None: no cap here.
    ``reduce`` lets a JPEG decode at a reduced scale (:class:`Reduce`); ``info`` still reports the stored size, and
    ``original`` then holds the reduced pixels (its metadata is the file's).

    Raises:
        ImageError: and nothing else, whatever the bytes are.
    """
    if not data:
        raise ImageError("empty_file", "file is empty", name)
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageError("too_large", f"{len(data)} bytes, over the {max_bytes}-byte limit", name)
    try:
        original, frames = _open(data, name, max_pixels)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # the warning: under -W error
        raise ImageError("too_large", str(exc), name) from exc
    except MemoryError as exc:
        raise ImageError("too_large", "not enough memory to parse the header", name) from exc
    except Exception as exc:
        raise _classify(exc, data, name, header=True) from exc
    try:
        stored = original.size
        quality = estimate_jpeg_quality(original)  # the tables are read with the header: no pixel needed
        if reduce is not None and original.format in ("JPEG", "MPO") and not (
                reduce.keep is not None and reduce.keep(original, quality)):
            _draft(original, reduce.short_side)
        original.load()
        rgb, orientation = orient(original, to_rgb(original))
    except ImageError:
        raise
    except MemoryError as exc:
        raise ImageError("too_large", "not enough memory to decode", name) from exc
    except Exception as exc:
        raise _classify(exc, data, name, header=False) from exc
    width, height = stored if rgb.size == original.size else stored[::-1]  # as displayed, after orientation
    info = ImageInfo(format=original.format or "unknown", width=width, height=height, mode=original.mode,
                     frames=frames, bytes=len(data), jpeg_quality=quality, orientation=orientation)
    return DecodedImage(rgb=rgb, original=original, data=data, info=info)


def _draft(image: Image.Image, short_side: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale that keeps the short side >= ``short_side``."""
    width, height = image.size
    scale = short_side / min(width, height)
    if scale < 0.5:  # below that no DCT scale fits, and draft() would be a no-op anyway
        image.draft(image.mode, (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))


def decode_pil(image: Image.Image, name: str = "<image>", *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """The same view as :func:`decode_image` for an already opened PIL image (``data`` is empty: no file bytes).

    The caller owns ``image``; it is loaded but never modified.
    """
    if image.width * image.height > max_pixels:
        raise ImageError("too_large", f"{image.width}x{image.height} pixels, over the {max_pixels}-pixel limit", name)
    try:
        image.load()
        rgb, orientation = orient(image, to_rgb(image))
        quality = estimate_jpeg_quality(image)
    except MemoryError as exc:
        raise ImageError("too_large", "not enough memory to decode", name) from exc
    except Exception as exc:
        raise _classify(exc, b"", name, header=False) from exc
    info = ImageInfo(format=image.format or "PIL", width=rgb.width, height=rgb.height, mode=image.mode,
                     frames=getattr(image, "n_frames", 1), bytes=0, jpeg_quality=quality, orientation=orientation)
    return DecodedImage(rgb=rgb, original=image, data=b"", info=info)


def _open(data: bytes, name: str, max_pixels: int) -> tuple[Image.Image, int]:
    """Parse the header only and enforce the pixel cap before a single pixel is decoded."""
    Image.init()  # idempotent; a format whose plugin is missing must not be named to Image.open (KeyError)
    image = Image.open(io.BytesIO(data), formats=[fmt for fmt in SUPPORTED_FORMATS if fmt in Image.OPEN])
    limit = max_pixels if Image.MAX_IMAGE_PIXELS is None else min(max_pixels, Image.MAX_IMAGE_PIXELS)
    width, height = image.size
    if width * height > limit:
        raise ImageError("too_large", f"{width}x{height} pixels, over the {limit}-pixel limit", name)
    if width <= 0 or height <= 0:
        raise ImageError("not_an_image", f"invalid size {width}x{height}", name)
    # Counted before load: counting seeks through the frames and back, which would discard decoded pixels.
    return image, getattr(image, "n_frames", 1)


def _classify(exc: Exception, data: bytes, name: str, *, header: bool) -> ImageError:
    """Map a Pillow/OS failure to a stable code; the message keeps Pillow's words for the user."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, UnidentifiedImageError):
        head = data[:32]
        for magic, fmt in _UNSUPPORTED_MAGIC:
            if head.startswith(magic):
                return ImageError("unsupported_format", f"{fmt} images are not supported", name)
        if _is_svg(data):
            return ImageError("unsupported_format", "SVG images are not supported", name)
        for magic, fmt in _SUPPORTED_MAGIC:
            if head.startswith(magic) or (fmt in ("WEBP", "HEIF/AVIF") and magic in head[:12]):
                if fmt == "HEIF/AVIF" and "HEIF" not in Image.OPEN:
                    return ImageError("unsupported_format", "HEIF decoding needs pillow-heif", name)
                return ImageError("truncated", f"{fmt} header is cut short or corrupt", name)
        return ImageError("not_an_image", "not a recognised image format", name)
    if isinstance(exc, EOFError | struct.error) or "truncat" in text.lower():  # struct.error: a short header read
        return ImageError("truncated", f"image data ends early ({text})", name)
    if "MAX_TEXT" in text:  # Pillow's cap on (compressed) PNG text chunks: a metadata bomb, not a broken image
        return ImageError("too_large", f"PNG text metadata over Pillow's limit ({text})", name)
    if "not available" in text or "not supported" in text:
        return ImageError("unsupported_format", text, name)
    return ImageError("not_an_image", f"corrupt image {'header' if header else 'data'} ({text})", name)


def _is_svg(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in head)


def load_image(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS,
               reduce: Reduce | None = None) -> DecodedImage:
    """Read and decode one file; raises only :class:`ImageError`. No file handle outlives the call."""
    decoded = decode_image(read_image_bytes(path, max_bytes), str(path), max_pixels=max_pixels, reduce=reduce)
    return replace(decoded, path=Path(path))


def check_model_size(info: ImageInfo, path: str = "", *, min_side: int = MIN_MODEL_SIDE) -> None:
    """Raise ``too_small`` if a side is under ``min_side``: the pipeline's choice, after provenance is read."""
    if min(info.width, info.height) < min_side:
        raise ImageError("too_small", f"{info.width}x{info.height} is under the {min_side}-pixel minimum side", path)
