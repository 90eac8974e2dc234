"""Safe image decoding: byte and pixel caps, EXIF orientation, every mode to RGB, never re-encode.

(Minimal first version: the interface is stable; hardening is in progress.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_PIXELS = 100_000_000


class ImageError(Exception):
    """An input that cannot be decoded. ``code`` is one of the stable error codes of the verdict contract."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.code = code
        self.message = message
        self.path = path


@dataclass
class ImageInfo:
    """Facts about the file, reported as evidence (never used by the learned detector)."""

    format: str
    width: int
    height: int
    mode: str
    frames: int
    bytes: int
    jpeg_quality: int | None = None
    orientation: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DecodedImage:
    """A decoded input.

    Attributes:
        rgb: RGB pixels, EXIF orientation applied, first frame: what the detector sees.
        original: the image as opened (first frame, original mode, no rotation) with its metadata
            (``info``, ``getexif()``, text chunks): what the provenance readers see.
        data: the file's bytes, unmodified.
        info: format, size, mode, frames, JPEG quality estimate.
    """

    rgb: Image.Image
    original: Image.Image
    data: bytes
    info: ImageInfo


def read_image_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise ImageError("too_large", f"file is {size} bytes, over the {max_bytes}-byte limit", str(path))
        return p.read_bytes()
    except FileNotFoundError:
        raise ImageError("not_found", "no such file", str(path)) from None
    except PermissionError:
        raise ImageError("permission_denied", "permission denied", str(path)) from None
    except IsADirectoryError:
        raise ImageError("not_a_file", "is a directory", str(path)) from None
    except OSError as exc:
        raise ImageError("unreadable", exc.strerror or str(exc), str(path)) from None


def decode_image(data: bytes, name: str = "<bytes>", *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    import io

    if not data:
        raise ImageError("empty_file", "file is empty", name)
    try:
        original = Image.open(io.BytesIO(data))
        original.load()
    except Exception as exc:
        raise ImageError("not_an_image", f"cannot decode: {exc}", name) from None
    if original.width * original.height > max_pixels:
        raise ImageError("too_large", "too many pixels", name)
    rgb = ImageOps.exif_transpose(original).convert("RGB")
    info = ImageInfo(
        format=original.format or "unknown", width=rgb.width, height=rgb.height, mode=original.mode,
        frames=getattr(original, "n_frames", 1), bytes=len(data),
    )
    return DecodedImage(rgb=rgb, original=original, data=data, info=info)


def load_image(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    return decode_image(read_image_bytes(path, max_bytes), str(path), max_pixels=max_pixels)
