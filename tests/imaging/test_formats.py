"""Safe decoding: every mode reaches RGB as displayed, every supported format decodes, orientation, quality."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sentry_image.imaging import MIN_MODEL_SIDE, decode_image, load_image
from sentry_image.imaging._pixels import to_rgb
from tests.helpers.imagegen import encode, gradient
from tests.helpers.paths import SHARED

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def pixel(data: bytes, xy: tuple[int, int] = (0, 0)) -> tuple[int, ...]:
    decoded = decode_image(data)
    assert decoded.rgb.mode == "RGB"
    return tuple(decoded.rgb.getpixel(xy))  # type: ignore[arg-type]


def test_palette_transparency_composited_on_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    image.putpixel((1, 1), 1)
    data = encode(image, "PNG", transparency=0)
    assert pixel(data) == (255, 255, 255) and pixel(data, (1, 1)) == (200, 10, 10)
    assert decode_image(data).original.mode == "P"  # provenance sees the file as it is


@pytest.mark.parametrize(("mode", "colour", "expected"), [
    ("RGBA", (255, 0, 0, 128), (255, 127, 127)), ("RGBA", (10, 20, 30, 0), (255, 255, 255)),
    ("LA", (0, 128), (127, 127, 127)),
])
def test_alpha_composited_on_white(mode, colour, expected):
    assert pixel(encode(Image.new(mode, (4, 4), colour), "PNG")) == pytest.approx(expected, abs=1)


def test_palette_with_alpha_mode():
    # No encoder writes PA: test the conversion step itself.
    image = Image.new("PA", (2, 2), (0, 0))
    assert to_rgb(image).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(fmt):
    assert pixel(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), fmt)) == pytest.approx((255, 0, 0), abs=8)


@pytest.mark.parametrize(("value", "expected"), [(65535, 255), (32896, 128), (1000, 4)])
def test_16_bit_scaled_not_clipped(value, expected):
    assert pixel(encode(Image.new("I;16", (4, 4), value), "PNG")) == (expected,) * 3


@pytest.mark.parametrize(("mode", "values", "expected"), [
    ("I", [0, 65535], [0, 255]), ("I", [0, 200], [0, 200]), ("I", [-1000, 3000], [0, 255]),
    ("F", [0.0, 0.5, 1.0], [0, 128, 255]), ("F", [-2.0, 6.0], [0, 255]),
])
def test_wide_integer_and_float_tiff(mode, values, expected):
    image = Image.fromarray(np.array([values], dtype=np.int32 if mode == "I" else np.float32))
    assert image.mode == mode
    decoded = decode_image(encode(image, "TIFF"))
    assert list(np.asarray(decoded.rgb)[0, :, 0]) == expected


@pytest.mark.parametrize("mode", ["1", "L", "YCbCr", "LAB", "HSV"])
def test_other_modes(mode):
    # YCbCr/LAB/HSV rarely survive a file round trip; "1" and "L" also go through a PNG.
    image = Image.new("RGB", (4, 4), (255, 255, 255)).convert(mode)
    assert to_rgb(image).getpixel((0, 0)) == pytest.approx((255, 255, 255), abs=2)
    if mode in ("1", "L"):
        assert pixel(encode(image, "PNG")) == (255, 255, 255)


@pytest.mark.parametrize(("fmt", "save"), [("GIF", {}), ("WEBP", {"lossless": True}), ("PNG", {})])
def test_animation_first_frame(fmt, save):
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **save)
    decoded = decode_image(data)
    assert decoded.info.frames == 3 and decoded.original.tell() == 0
    assert decoded.rgb.getpixel((4, 4)) == pytest.approx((255, 0, 0), abs=2)


def heic(image: Image.Image) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encode(image, "HEIF", quality=90)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "AVIF", "HEIF"])
def test_formats(fmt):
    image = gradient((32, 24))
    data = heic(image) if fmt == "HEIF" else encode(image, fmt)
    decoded = decode_image(data)
    assert (decoded.info.format, decoded.rgb.size, decoded.rgb.mode) == (fmt, (32, 24), "RGB")
    assert decoded.data is data and decoded.info.bytes == len(data)
    error = np.abs(np.asarray(decoded.rgb, dtype=int) - np.asarray(image, dtype=int)).mean()
    assert error < 12  # the same picture (GIF is palettised, the rest lossy or exact)


# Where the stored top-left (red) and top-right (green) pixels must be displayed, from the EXIF specification.
ORIENTATIONS = {
    1: ("top-left", "top-right"), 2: ("top-right", "top-left"), 3: ("bottom-right", "bottom-left"),
    4: ("bottom-left", "bottom-right"), 5: ("top-left", "bottom-left"), 6: ("top-right", "bottom-right"),
    7: ("bottom-right", "top-right"), 8: ("bottom-left", "top-left"),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation(orientation):
    image = Image.new("RGB", (3, 2))
    image.putpixel((0, 0), (255, 0, 0))
    image.putpixel((2, 0), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(encode(image, "PNG", exif=exif.tobytes()))
    assert decoded.info.orientation == orientation
    assert decoded.rgb.size == ((3, 2) if orientation <= 4 else (2, 3))
    assert (decoded.info.width, decoded.info.height) == decoded.rgb.size
    assert decoded.original.size == (3, 2)  # provenance sees the stored image

    def corner(colour: tuple[int, int, int]) -> str:
        ys, xs = np.nonzero((np.asarray(decoded.rgb) == colour).all(axis=-1))
        return f"{'top' if ys[0] == 0 else 'bottom'}-{'left' if xs[0] == 0 else 'right'}"

    assert (corner((255, 0, 0)), corner((0, 255, 0))) == ORIENTATIONS[orientation]


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_jpeg_quality_estimate(quality):
    estimate = decode_image(encode(gradient((32, 32)), "JPEG", quality=quality)).info.jpeg_quality
    assert estimate is not None and abs(estimate - quality) <= 2


def test_no_jpeg_quality_for_other_formats():
    assert decode_image(encode(gradient(), "PNG")).info.jpeg_quality is None


REAL_FILES = ["real/exif-samples/IMG_5195.HEIC", "real/exifr-fixtures/Irvine_CA.avif",
              "provenance/exif-camera/exs_iphone_13_pro_max.HEIC"]


@pytest.mark.parametrize("relative", REAL_FILES)
def test_real_files_when_present(relative):
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{relative} not present beside the repository")
    decoded = load_image(path)
    assert decoded.rgb.mode == "RGB" and min(decoded.rgb.size) > MIN_MODEL_SIDE
    assert decoded.info.format in {"HEIF", "AVIF"} and decoded.info.bytes == path.stat().st_size
