"""The decoder's caps and failures, exactly: for each way an input is refused, the code, the message and the path a
user reads (``str(error)`` is ``path: message``), and for each decoded input the facts ``info`` reports.

Covered: the stat and bounded read of a file (directory, FIFO, empty, one byte, over the cap, a NUL in the path, a
file swapped or grown after its size check, the open flags on POSIX and on Windows), the byte and pixel caps of
bytes and opened images (with Pillow's own limit lowered or switched off), memory exhaustion and corrupt headers or
pixel data, the facts of decoded files and opened images (format, mode, frames, JPEG quality, bytes, path), the
reduced JPEG decode of multi-picture files and files read from disk, and the minimum side's message.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile, UnidentifiedImageError

from sentry_image.imaging import ImageError, ImageInfo, Reduce, check_model_size, decode_image, decode_pil, load_image
from sentry_image.imaging import decode as decode_module
from sentry_image.imaging.decode import read_image_bytes
from tests.helpers.imagegen import encode, gradient

pytestmark = pytest.mark.core  # decoding needs only the core install

WINDOWS_O_BINARY = 0x8000  # the value of os.O_BINARY on Windows (fcntl.h of the MS C runtime)


def error_of(call: Callable[[], object]) -> tuple[str, str, str]:
    """The (code, message, path) of the ImageError ``call()`` raises."""
    with pytest.raises(ImageError) as info:
        call()
    return info.value.code, info.value.message, info.value.path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_idat(idat: bytes, size: tuple[int, int] = (4, 4)) -> bytes:
    """A PNG whose header is valid (8-bit RGB) and whose single IDAT chunk holds ``idat``."""
    ihdr = struct.pack(">IIBBBBB", *size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def bmp_with_compression(compression: int) -> bytes:
    """A 4x4 24-bit BMP (BITMAPINFOHEADER) declaring ``compression``: 0 (BI_RGB) is valid, 99 names no method."""
    info = struct.pack("<IiiHHIIiiII", 40, 4, 4, 1, 24, compression, 0, 0, 0, 0, 0)
    pixels = b"\0" * 48  # 4 rows of 12 bytes, already 4-byte aligned
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 14 + 40) + info + pixels


class FakeOs:
    """``os`` as decode.py sees it, with some attributes replaced (``overrides``) or absent (``hidden``)."""

    def __init__(self, hidden: tuple[str, ...] = (), **overrides: Any) -> None:
        self._hidden = hidden
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        if name in self._hidden:
            raise AttributeError(name)
        return getattr(os, name)


# -- the stat and the bounded read ----------------------------------------------------------------------------------

def test_each_file_that_is_not_a_readable_image_file_names_itself(tmp_path: Path) -> None:
    assert error_of(lambda: read_image_bytes(tmp_path)) == ("not_a_file", "is a directory", str(tmp_path))
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert error_of(lambda: read_image_bytes(fifo)) == ("not_a_file", "not a regular file", str(fifo))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert error_of(lambda: read_image_bytes(empty)) == ("empty_file", "file is empty", str(empty))
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 11)
    assert error_of(lambda: read_image_bytes(big, max_bytes=10)) == (
        "too_large", "file is 11 bytes, over the 10-byte limit", str(big))


def test_a_one_byte_file_is_read_not_called_empty(tmp_path: Path) -> None:
    path = tmp_path / "one.bin"
    path.write_bytes(b"x")
    assert read_image_bytes(path, max_bytes=1) == b"x"


def test_a_path_with_a_nul_byte_is_not_found() -> None:
    assert error_of(lambda: read_image_bytes("a\0b.png")) == ("not_found", "invalid path: embedded null byte",
                                                             "a\0b.png")


def test_a_file_grown_past_the_cap_after_its_size_check_names_the_limit(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "growing.png"
    path.write_bytes(b"y" * 11)
    monkeypatch.setattr(decode_module, "_check_regular", lambda *_: None)  # the size check saw 10 bytes
    assert error_of(lambda: read_image_bytes(path, max_bytes=10)) == (
        "too_large", "file is over the 10-byte limit", str(path))


def test_the_read_asks_for_one_byte_past_the_cap_and_no_more(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # One byte more tells a file over the cap from one at it; asking for more would read a growing file unbounded.
    asked: list[int | None] = []

    def fdopen(fd: int, mode: str) -> Any:
        handle = os.fdopen(fd, mode)
        read = handle.read

        def counted(size: int = -1) -> Any:
            asked.append(size)
            return read(size)

        handle.read = counted  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(decode_module, "os", FakeOs(fdopen=fdopen))
    path = tmp_path / "ten.bin"
    path.write_bytes(b"z" * 10)
    assert read_image_bytes(path, max_bytes=10) == b"z" * 10
    assert asked == [11]


def test_a_fifo_swapped_in_after_the_stat_is_refused_without_blocking(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The stat saw a regular file; by the open a FIFO with no writer sits there: a blocking open would wait forever.
    regular = tmp_path / "a.png"
    regular.write_bytes(b"x" * 10)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    monkeypatch.setattr(decode_module, "os", FakeOs(stat=lambda _path: os.stat(regular)))
    outcome: list[tuple[str, str, str]] = []
    reader = threading.Thread(target=lambda: outcome.append(error_of(lambda: read_image_bytes(fifo))), daemon=True)
    reader.start()
    reader.join(timeout=10)
    blocked = reader.is_alive()
    if blocked:  # release the blocked open with a writer, so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
    assert not blocked, "the open of a FIFO blocked"
    assert outcome == [("not_a_file", "not a regular file", str(fifo))]


def test_on_windows_the_file_is_opened_in_binary_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows has O_BINARY (without it the C runtime translates line ends) and no O_NONBLOCK.
    flags: list[int] = []

    def open_(path: str | Path, flag: int) -> int:
        flags.append(flag)
        return os.open(path, flag & ~WINDOWS_O_BINARY)

    monkeypatch.setattr(decode_module, "os", FakeOs(hidden=("O_NONBLOCK",), O_BINARY=WINDOWS_O_BINARY, open=open_))
    path = tmp_path / "crlf.bin"
    path.write_bytes(b"a\r\nb\x1a")
    assert read_image_bytes(path) == b"a\r\nb\x1a"
    assert flags == [os.O_RDONLY | WINDOWS_O_BINARY]


# -- the caps and the failures of decode_image ----------------------------------------------------------------------

def test_bytes_name_themselves_in_every_refusal() -> None:
    assert error_of(lambda: decode_image(b"")) == ("empty_file", "file is empty", "<bytes>")
    data = encode(gradient((8, 8)), "PNG")
    assert error_of(lambda: decode_image(data, "up.png", max_bytes=len(data) - 1)) == (
        "too_large", f"{len(data)} bytes, over the {len(data) - 1}-byte limit", "up.png")
    assert error_of(lambda: decode_image(data, "up.png", max_pixels=63)) == (
        "too_large", "8x8 pixels, over the 63-pixel limit", "up.png")
    assert error_of(lambda: decode_image(b"plain text, no image", "notes.png"))[::2] == ("not_an_image", "notes.png")


def test_pillows_hard_bomb_limit_keeps_pillows_words() -> None:
    bomb = png_with_idat(zlib.compress(b"\0" * 64), size=(50_000, 50_000))  # 2.5e9 pixels: over twice the limit
    assert error_of(lambda: decode_image(bomb, "bomb.png")) == (
        "too_large", "Image size (2500000000 pixels) exceeds limit of 178956970 pixels, could be decompression "
                     "bomb DOS attack.", "bomb.png")


def test_the_pixel_cap_follows_pillows_limit_when_lower(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3_000)
    data = encode(gradient((64, 48)), "PNG")  # 3,072 pixels: Pillow only warns, the cap refuses
    with pytest.warns(Image.DecompressionBombWarning):
        assert error_of(lambda: decode_image(data, "a.png")) == (
            "too_large", "64x48 pixels, over the 3000-pixel limit", "a.png")


def test_the_pixel_cap_holds_when_pillows_limit_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    data = encode(gradient((64, 48)), "PNG")
    assert decode_image(data, max_pixels=3_072).info.width == 64
    assert error_of(lambda: decode_image(data, "a.png", max_pixels=3_071)) == (
        "too_large", "64x48 pixels, over the 3071-pixel limit", "a.png")


def test_running_out_of_memory_is_too_large_at_either_step(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(gradient((8, 8)), "PNG")

    def exhausted(*_: object, **__: object) -> None:
        raise MemoryError

    with monkeypatch.context() as patch:
        patch.setattr(Image, "open", exhausted)
        assert error_of(lambda: decode_image(data, "a.png")) == (
            "too_large", "not enough memory to parse the header", "a.png")
    monkeypatch.setattr(ImageFile.ImageFile, "load", exhausted)
    assert error_of(lambda: decode_image(data, "a.png")) == ("too_large", "not enough memory to decode", "a.png")


def test_a_corrupt_header_and_corrupt_pixel_data_are_told_apart() -> None:
    # BMP compression 99 names no method (the header is refused); IDAT bytes that are no zlib stream break the pixels.
    assert error_of(lambda: decode_image(bmp_with_compression(99), "h.bmp")) == (
        "not_an_image", "corrupt image header (Unsupported BMP compression (99))", "h.bmp")
    assert decode_image(bmp_with_compression(0)).info.format == "BMP"
    assert error_of(lambda: decode_image(png_with_idat(b"not a zlib stream" * 3), "d.png")) == (
        "not_an_image", "corrupt image data (broken data stream when reading image file)", "d.png")


def test_whatever_a_keep_callback_raises_becomes_an_image_error() -> None:
    def keep(_image: Image.Image, _quality: int | None) -> bool:
        raise UnidentifiedImageError("cannot identify the embedded thumbnail")

    with pytest.raises(ImageError):
        decode_image(encode(gradient((64, 48)), "JPEG"), "k.jpg", reduce=Reduce(16, keep=keep))


# -- what a decoded input reports ----------------------------------------------------------------------------------

def three_frame_gif() -> bytes:
    frames = [Image.new("RGB", (10, 6), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def test_decoded_bytes_report_their_format_mode_frames_and_keep_the_bytes() -> None:
    gif = three_frame_gif()
    decoded = decode_image(gif)
    assert (decoded.info.format, decoded.info.mode, decoded.info.frames, decoded.info.bytes) == ("GIF", "P", 3,
                                                                                                 len(gif))
    assert decoded.data == gif and decoded.path is None
    rgba = decode_image(encode(gradient((8, 8), "RGBA"), "PNG")).info
    assert (rgba.format, rgba.mode, rgba.frames) == ("PNG", "RGBA", 1)
    bmp = decode_image(bmp_with_compression(0)).info
    assert (bmp.format, bmp.frames) == ("BMP", 1)  # BMP has no frame count: one picture


def test_a_multi_picture_jpeg_decodes_at_a_reduced_scale() -> None:
    left, right = Image.new("RGB", (800, 480), (200, 10, 10)), Image.new("RGB", (800, 480), (10, 200, 10))
    buf = io.BytesIO()
    left.save(buf, "MPO", save_all=True, append_images=[right])
    decoded = decode_image(buf.getvalue(), "stereo.jpg", reduce=Reduce(100))
    assert (decoded.info.format, decoded.info.frames) == ("MPO", 2)
    assert decoded.rgb.size == (200, 120)  # 1/4: the smallest DCT scale keeping the short side >= 100


def test_an_opened_image_reports_its_own_facts() -> None:
    made = decode_pil(Image.new("RGB", (20, 10)))
    assert (made.info.format, made.info.frames, made.info.bytes, made.data) == ("PIL", 1, 0, b"")
    opened = decode_pil(Image.open(io.BytesIO(three_frame_gif())))
    assert (opened.info.format, opened.info.mode, opened.info.frames) == ("GIF", "P", 3)
    jpeg = decode_pil(Image.open(io.BytesIO(encode(gradient((32, 32)), "JPEG", quality=75))))
    assert (jpeg.info.format, jpeg.info.jpeg_quality) == ("JPEG", 75)


def test_an_opened_image_names_itself_in_every_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert error_of(lambda: decode_pil(Image.new("RGB", (10, 10)), max_pixels=99)) == (
        "too_large", "10x10 pixels, over the 99-pixel limit", "<image>")
    assert error_of(lambda: decode_pil(Image.new("RGB", (10, 10)), "p.png", max_pixels=99))[2] == "p.png"
    cut = encode(gradient((64, 64)), "PNG")
    code, message, path = error_of(lambda: decode_pil(Image.open(io.BytesIO(cut[: len(cut) // 2])), "cut.png"))
    assert (code, path) == ("truncated", "cut.png") and message.startswith("image data ends early (")
    broken = Image.open(io.BytesIO(png_with_idat(b"not a zlib stream" * 3)))
    assert error_of(lambda: decode_pil(broken, "b.png")) == (
        "not_an_image", "corrupt image data (broken data stream when reading image file)", "b.png")
    image = Image.new("RGB", (10, 10))

    def exhausted() -> None:
        raise MemoryError

    monkeypatch.setattr(image, "load", exhausted)
    assert error_of(lambda: decode_pil(image, "m.png")) == ("too_large", "not enough memory to decode", "m.png")


def test_an_opened_image_whose_embedded_picture_is_unidentifiable_is_not_an_image() -> None:
    # IPTC/NAA: records 0x1C, record, dataset, 2-byte length; 3:60 layers, 3:20/3:30 size, 3:120 = 5 (JPEG), 8:10
    # the embedded picture, opened only when the pixels load: here not a picture at all.
    def field(record: int, dataset: int, data: bytes) -> bytes:
        return bytes([0x1C, record, dataset]) + struct.pack(">H", len(data)) + data

    iptc = (field(3, 60, b"\x01\x00") + field(3, 20, b"\x00\x04") + field(3, 30, b"\x00\x04")
            + field(3, 120, b"\x05") + field(8, 10, b"no picture here"))
    image = Image.open(io.BytesIO(iptc), formats=["IPTC"])
    assert error_of(lambda: decode_pil(image, "i.iptc")) == ("not_an_image", "not a recognised image format",
                                                            "i.iptc")


# -- load_image and the minimum side --------------------------------------------------------------------------------

def test_a_loaded_file_keeps_its_path_and_may_be_reduced(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    gradient((800, 480)).save(path, "JPEG")
    decoded = load_image(path, reduce=Reduce(100))
    assert decoded.path == path and decoded.rgb.size == (200, 120)
    assert (decoded.info.width, decoded.info.height) == (800, 480)
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"plain text, no image")
    assert error_of(lambda: load_image(notes))[::2] == ("not_an_image", str(notes))


def test_the_minimum_side_message_names_the_size_and_the_limit() -> None:
    info = ImageInfo(format="PNG", width=15, height=20, mode="RGB", frames=1, bytes=1)
    assert error_of(lambda: check_model_size(info)) == ("too_small", "15x20 is under the 16-pixel minimum side", "")
    assert error_of(lambda: check_model_size(info, "a.png", min_side=21)) == (
        "too_small", "15x20 is under the 21-pixel minimum side", "a.png")
    check_model_size(info, min_side=15)
