"""Stealth metadata read bit for bit: the exact text reported, the length field's limits, each mode's channels.

The payloads are written here straight from the format (NovelAI's ``nai_meta_writer.py`` and the A1111
stealth-pnginfo extension): a 15-byte magic, a 32-bit big-endian length in bits, then the payload, MSB first, in
the alpha or the R, G, B least significant bits of the pixels taken down each column. Every case states the exact
report a user sees: the magic, who wrote the payload, and the payload on one line, so a misread length, a wrong
channel, a lost writer name or a too-long read shows up as a different string. The cases come from faults the
other provenance tests let through (``benchmarks/mutation.py``).
"""

from __future__ import annotations

import gzip
import io
import json
import zlib

import numpy as np
import pytest
from PIL import Image

from sentry_image.provenance.stealth import MAX_PAYLOAD, read_stealth

pytestmark = pytest.mark.core

FFFD = "\ufffd"  # what an invalid UTF-8 byte reads as


def bits_of(magic: bytes, payload: bytes, length: int | None = None) -> np.ndarray:
    """Magic, the payload's length in bits (or ``length``, to forge the field) and the payload, MSB first."""
    size = len(payload) * 8 if length is None else length
    return np.unpackbits(np.frombuffer(magic + size.to_bytes(4, "big") + payload, dtype=np.uint8))


def hidden(mode: str, size: tuple[int, int], bits: np.ndarray, channel: str = "alpha") -> Image.Image:
    """An opaque grey image of ``mode`` with ``bits`` in the LSBs of ``channel``; every other LSB is 1 (255 alpha,
    odd grey), so a read past the payload's end picks up 1 bits. Saved as PNG and opened again."""
    width, height = size
    image = Image.new(mode, size, (131, 131, 131, 255)[: len(mode)] if len(mode) > 1 else 131)
    arr = np.array(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    planes = arr[:, :, -1:] if channel == "alpha" else arr[:, :, :3]
    per_pixel = planes.shape[2]
    assert bits.size <= width * height * per_pixel, "the image is too small for the payload"
    for index, bit in enumerate(bits):  # column by column (x outer, y inner), channels in order inside a pixel
        pixel, plane = divmod(index, per_pixel)
        x, y = divmod(pixel, height)
        planes[y, x, plane] = (planes[y, x, plane] & 0xFE) | int(bit)
    buf = io.BytesIO()
    Image.fromarray(arr if arr.shape[2] > 1 else arr[:, :, 0], mode).save(buf, format="PNG")
    reopened = Image.open(io.BytesIO(buf.getvalue()))
    reopened.load()
    return reopened


def alpha_image(magic: bytes, payload: bytes, size: tuple[int, int] = (40, 40)) -> Image.Image:
    return hidden("RGBA", size, bits_of(magic, payload))


# --- the report: magic, writer, the payload on one line, nothing more or less --------------------------------------

def test_plain_payload_is_reported_whole_and_alone() -> None:
    # no writer named: no lead-in; the LSBs after the payload are 1s and must not be read as more text
    assert read_stealth(alpha_image(b"stealth_pnginfo", b"hello world")) == "stealth_pnginfo: hello world"


def test_novelai_payload_names_its_software() -> None:
    payload = '{"Software": "NovelAI", "Source": "NovelAI Diffusion V4.5 4BDE2A90"}'
    assert read_stealth(alpha_image(b"stealth_pnginfo", payload.encode())) == (
        f"stealth_pnginfo: Software 'NovelAI'; {payload}")


def test_long_software_name_is_cut_to_forty_characters() -> None:
    software = "NovelAI Diffusion Anime V3 build 2024-01-15"  # 43 characters: 37 kept, then "..."
    payload = json.dumps({"Software": software}).encode()
    text = read_stealth(alpha_image(b"stealth_pnginfo", payload))
    assert text is not None
    assert text.startswith("stealth_pnginfo: Software 'NovelAI Diffusion Anime V3 build 2024...'; ")


def test_a1111_infotext_names_the_writer_without_repeating_the_field() -> None:
    infotext = "photo of a duck\nNegative prompt: x\nSteps: 20, Sampler: Euler a, Seed: 1"
    assert read_stealth(alpha_image(b"stealth_pnginfo", infotext.encode())) == (
        "stealth_pnginfo: A1111-style generation parameters; "
        "photo of a duck Negative prompt: x Steps: 20, Sampler: Euler a, Seed: 1")


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert read_stealth(alpha_image(b"stealth_pnginfo", b"caf\xe9 au lait")) == f"stealth_pnginfo: caf{FFFD} au lait"


# --- the length field: 1 .. 8 * MAX_PAYLOAD bits ------------------------------------------------------------------

def test_one_bit_payload_is_valid() -> None:
    # one 0 bit, padded to a byte: a NUL character, not an "invalid payload length"
    image = hidden("RGBA", (20, 20), np.append(bits_of(b"stealth_pnginfo", b"", length=1), 0))
    assert read_stealth(image) == "stealth_pnginfo: \x00"


def test_largest_declared_length_is_read_as_far_as_the_image_goes() -> None:
    # 16 x 16 alpha LSBs: 152 header bits, then 104 bits of 1 = 13 bytes 0xFF, each an invalid UTF-8 byte
    image = hidden("RGBA", (16, 16), bits_of(b"stealth_pnginfo", b"", length=8 * MAX_PAYLOAD))
    assert read_stealth(image) == "stealth_pnginfo: " + FFFD * 13


def test_length_past_the_cap_is_invalid() -> None:
    image = hidden("RGBA", (16, 16), bits_of(b"stealth_pnginfo", b"", length=8 * MAX_PAYLOAD + 1))
    assert read_stealth(image) == f"stealth_pnginfo (invalid payload length {8 * MAX_PAYLOAD + 1} bits)"


# --- compression: gzip only, inflated to at most MAX_PAYLOAD bytes ------------------------------------------------

def test_inflated_payload_is_cut_at_the_cap() -> None:
    # A JSON record naming its software, padded past MAX_PAYLOAD: cut at the cap it is no longer JSON, so no
    # "Software" lead-in; read whole, it would be one.
    record = json.dumps({"Software": "NovelAI", "pad": "a" * (MAX_PAYLOAD + 1000)}).encode()
    packed = gzip.compress(record)
    text = read_stealth(hidden("RGBA", (200, 200), bits_of(b"stealth_pngcomp", packed)))
    head = '{"Software": "NovelAI", "pad": "'
    assert text == "stealth_pngcomp: " + head + "a" * (97 - len(head)) + "..."  # one line of at most 100


def test_zlib_stream_is_not_gzip() -> None:
    # the *comp magics carry gzip (a 1f 8b header); a bare zlib stream is reported unreadable
    packed = zlib.compress(b"hello world")
    image = hidden("RGBA", (40, 40), bits_of(b"stealth_pngcomp", packed))
    assert read_stealth(image) == "stealth_pngcomp (compressed payload unreadable)"


# --- which channels each mode carries ----------------------------------------------------------------------------

def test_rgb_image_carries_rgb_stealth() -> None:
    # a short image (10 rows): 152 header bits need 6 columns of R, G, B LSBs
    image = hidden("RGB", (60, 10), bits_of(b"stealth_rgbinfo", b"hi there"), channel="rgb")
    assert image.mode == "RGB"
    assert read_stealth(image) == "stealth_rgbinfo: hi there"


def test_la_image_carries_alpha_stealth() -> None:
    image = hidden("LA", (40, 40), bits_of(b"stealth_pnginfo", b"grey and alpha"))
    assert image.mode == "LA"
    assert read_stealth(image) == "stealth_pnginfo: grey and alpha"


def test_tall_alpha_image_reads_whole_columns() -> None:
    # 140 rows: the 152 header bits end two pixels into the second column
    assert read_stealth(alpha_image(b"stealth_pnginfo", b"tall", size=(8, 140))) == "stealth_pnginfo: tall"


@pytest.mark.parametrize("mode", ["L", "P", "1", "I;16", "CMYK", "YCbCr"])
def test_modes_without_alpha_or_rgb_have_no_stealth(mode: str) -> None:
    assert read_stealth(Image.new(mode, (32, 32))) is None
