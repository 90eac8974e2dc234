"""Safe decoding of bad input: every failure is an ImageError with a stable code, never another exception."""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from sentry_image.imaging import (
    MIN_MODEL_SIDE,
    ImageError,
    Reduce,
    check_model_size,
    decode_image,
    decode_pil,
    load_image,
    read_image_bytes,
)
from tests.helpers.imagegen import encode, gradient, run_unprivileged

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def png_with_header(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose IHDR declares ``width`` x ``height``: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(
        b"IEND", b"")


def code_of(data: bytes, **kw: int) -> str:
    with pytest.raises(ImageError) as info:
        decode_image(data, "x", **kw)
    return info.value.code


def noise_bytes(fmt: str, size: tuple[int, int] = (64, 64)) -> bytes:
    arr = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return encode(Image.fromarray(arr), fmt)


# ---- bad input -------------------------------------------------------------------------------------------------

def test_zero_byte_file(write_bytes):
    path = write_bytes("empty.png", b"")
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert (info.value.code, info.value.path) == ("empty_file", str(path))
    assert code_of(b"") == "empty_file"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated(fmt, keep):
    data = noise_bytes(fmt)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert code_of(data[: int(len(data) * keep)]) == "truncated"


def test_header_cut_short_is_truncated():
    assert code_of(noise_bytes("JPEG")[:20]) == "truncated"
    assert code_of(noise_bytes("PNG")[:20]) == "truncated"


def test_text_file_named_jpg(write_bytes):
    with pytest.raises(ImageError) as info:
        load_image(write_bytes("notes.jpg", b"just some text, not an image\n" * 10))
    assert info.value.code == "not_an_image"


@pytest.mark.parametrize(("data", "name"), [
    (b"%PDF-1.7\n%...", "PDF"), (b"8BPS\x00\x01" + b"\0" * 40, "PSD"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + b"\0" * 20, "JPEG XL"),
])
def test_recognised_but_unsupported(data, name):
    with pytest.raises(ImageError) as info:
        decode_image(data)
    assert info.value.code == "unsupported_format" and name in info.value.message


def test_pillow_readable_but_refused_format():
    assert code_of(encode(gradient((16, 16)), "ICO")) == "unsupported_format"


def test_decompression_bomb_is_refused_from_its_header_and_never_decodes(monkeypatch):
    # no timing bound (a loaded machine makes any flaky): that no pixel is ever loaded is what keeps it fast
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    assert code_of(png_with_header(50_000, 50_000)) == "too_large"  # Pillow's hard limit, inside Image.open
    with pytest.warns(Image.DecompressionBombWarning):  # Pillow's warning zone: ours makes it an error
        assert code_of(png_with_header(10_000, 10_000)) == "too_large"
    assert code_of(png_with_header(2_000, 2_000), max_pixels=1_000_000) == "too_large"
    assert decoded == []


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_bomb_warning_raised_as_error_is_still_too_large():
    assert code_of(png_with_header(10_000, 10_000)) == "too_large"


def test_one_pixel_image_decodes_and_keeps_metadata():
    text = PngImagePlugin.PngInfo()
    text.add_text("parameters", "a cat, Steps: 20, Sampler: Euler a")
    decoded = decode_image(encode(Image.new("RGB", (1, 1), (9, 8, 7)), "PNG", pnginfo=text))
    assert decoded.rgb.size == (1, 1) and decoded.original.info["parameters"].startswith("a cat")
    with pytest.raises(ImageError) as info:
        check_model_size(decoded.info, "tiny.png")
    assert info.value.code == "too_small"
    check_model_size(decode_image(encode(gradient((MIN_MODEL_SIDE, MIN_MODEL_SIDE)), "PNG")).info)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_huge_exif_block(fmt):
    exif = Image.Exif()
    exif[0x0112] = 6
    # JPEG caps one APP1 segment at 64 KB; PNG and WebP chunks take megabytes.
    exif[0x010E] = "A" * (60_000 if fmt == "JPEG" else 4_000_000)
    decoded = decode_image(encode(gradient(), fmt, exif=exif.tobytes()))
    assert decoded.info.orientation == 6 and decoded.rgb.size == (16, 24)


def test_compressed_text_bomb_is_too_large():
    text = PngImagePlugin.PngInfo()
    text.add_text("workflow", "{}" * 1_000_000, zip=True)  # 2 MB of JSON in a few KB: over Pillow's text cap
    assert code_of(encode(gradient(), "PNG", pnginfo=text)) == "too_large"


def test_byte_cap_on_bytes():
    data = encode(gradient(), "PNG")
    assert code_of(data, max_bytes=len(data) - 1) == "too_large"
    assert decode_image(data, max_bytes=len(data)).info.bytes == len(data)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_broken_exif_is_ignored():
    decoded = decode_image(encode(gradient(), "PNG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + b"\x01" * 64))
    assert decoded.rgb.size == (24, 16) and decoded.info.orientation is None


def test_garbage_only_ever_raises_image_error():
    rng = np.random.default_rng(1)
    jpeg, png = bytearray(noise_bytes("JPEG")), bytearray(noise_bytes("PNG"))
    for i in range(30):
        base = jpeg if i % 2 else png
        data = bytearray(base)
        at = rng.integers(20, len(data), 8)
        data[at[0]:at[0] + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        with contextlib.suppress(ImageError):
            decode_image(bytes(data))
    assert code_of(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()) == "not_an_image"


def test_path_errors(tmp_path):
    cases = {"missing.png": "not_found", ".": "not_a_file"}
    (tmp_path / "broken.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    cases |= {"broken.png": "not_found", "loop.png": "unreadable"}
    for name, code in cases.items():
        with pytest.raises(ImageError) as info:
            load_image(tmp_path / name)
        assert info.value.code == code, name
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.png")
        with pytest.raises(ImageError, match="not a regular file"):
            load_image(tmp_path / "pipe.png")  # must not block waiting for a writer


def test_byte_cap_checked_before_reading(make_image):
    path = make_image("a.png")
    with pytest.raises(ImageError) as info:
        read_image_bytes(path, max_bytes=10)
    assert info.value.code == "too_large"


def test_permission_denied_file(shared_tmp):
    path = shared_tmp / "secret.png"
    gradient().save(path)
    path.chmod(0)
    result = run_unprivileged(lambda: _code_or_ok(path))
    assert result == "permission_denied"


def _code_or_ok(path: Path) -> str:
    try:
        load_image(path)
    except ImageError as exc:
        return exc.code
    return "ok"


def test_no_file_handles_leak(make_image, write_bytes):
    paths = [make_image("a.png"), make_image("b.gif"), write_bytes("c.jpg", b"text"), write_bytes("d.png", b"")]
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        pytest.skip("needs /proc to count open descriptors")
    before = len(list(fd_dir.iterdir()))
    for _ in range(5):
        for path in paths:
            with contextlib.suppress(ImageError):
                load_image(path)
    assert len(list(fd_dir.iterdir())) == before


def test_image_error_pickles():
    error = pickle.loads(pickle.dumps(ImageError("truncated", "ends early", "a.jpg")))
    assert (error.code, error.message, error.path) == ("truncated", "ends early", "a.jpg")
    assert error.to_dict() == {"code": "truncated", "message": "ends early"}


def test_decoding_touches_no_global_state():
    filters, truncated, limit = list(warnings.filters), ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    with pytest.warns(Image.DecompressionBombWarning):
        code_of(png_with_header(10_000, 10_000))
    decode_image(encode(gradient(), "PNG"))
    assert (warnings.filters, ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS) == (filters, truncated, limit)


def test_pil_input_gets_the_same_view():
    image = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.info["exif"] = exif.tobytes()
    decoded = decode_pil(image)
    assert decoded.rgb.getpixel((0, 0)) == (255, 255, 255) and decoded.original is image
    assert (decoded.info.bytes, decoded.info.mode, decoded.info.orientation) == (0, "RGBA", 6)
    with pytest.raises(ImageError) as info:
        decode_pil(gradient((40, 30)), max_pixels=100)
    assert info.value.code == "too_large"


def _jpeg(size: tuple[int, int], quality: int, subsampling: int, exif: bytes | None = None) -> bytes:
    kwargs: dict[str, object] = {"quality": quality, "subsampling": subsampling}
    if exif is not None:
        kwargs["exif"] = exif
    return encode(gradient(size), "JPEG", **kwargs)


def test_reduce_decodes_a_large_jpeg_at_a_dct_scale_and_reports_the_stored_size() -> None:
    data = _jpeg((2000, 1200), 40, 2)
    whole = decode_image(data, "big.jpg")
    reduced = decode_image(data, "big.jpg", reduce=Reduce(300))
    assert whole.rgb.size == (2000, 1200)
    assert reduced.rgb.size == (500, 300)  # 1/4: the smallest scale keeping the short side >= 300
    assert (reduced.info.width, reduced.info.height) == (2000, 1200) == (whole.info.width, whole.info.height)
    assert reduced.info.jpeg_quality == whole.info.jpeg_quality == 40


def test_reduce_keeps_every_pixel_when_a_reader_needs_them_and_for_other_formats() -> None:
    data = _jpeg((2000, 1200), 95, 0)
    seen: list[tuple[tuple[int, int], int | None]] = []

    def keep(image: Image.Image, quality: int | None) -> bool:
        seen.append((image.size, quality))
        return True

    assert decode_image(data, "a.jpg", reduce=Reduce(300, keep=keep)).rgb.size == (2000, 1200)
    assert seen == [((2000, 1200), 95)]  # asked before any pixel is decoded, with the header's facts
    png = encode(gradient((2000, 1200)), "PNG")
    assert decode_image(png, "a.png", reduce=Reduce(300)).rgb.size == (2000, 1200)
    small = _jpeg((500, 400), 40, 2)
    assert decode_image(small, "s.jpg", reduce=Reduce(300)).rgb.size == (500, 400)  # no DCT scale fits


def test_reduce_follows_the_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the stored 2000x1200 shows as 1200x2000
    data = _jpeg((2000, 1200), 40, 2, exif=exif.tobytes())
    reduced = decode_image(data, "r.jpg", reduce=Reduce(300))
    assert reduced.rgb.size == (300, 500) and (reduced.info.width, reduced.info.height) == (1200, 2000)
    assert reduced.info.orientation == 6
