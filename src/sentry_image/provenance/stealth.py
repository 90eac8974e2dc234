"""NovelAI / A1111 "stealth" metadata hidden in the least significant bits of an image's pixels.

NovelAI writes its PNG text chunks a second time, gzipped JSON, into the alpha LSBs (``nai_meta_writer.py`` of
NovelAI/novelai-image-metadata), so the record survives sites that strip text chunks; the A1111 stealth-pnginfo
extension does the same with the infotext, in the alpha or the RGB LSBs, compressed or not.
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image

from .metadata_writers import describe_generation_text, parse_json, short

MAX_PAYLOAD = 4 << 20  # stealth payloads larger than this are not metadata; stop before inflating a bomb
_MAGIC = {"alpha": (b"stealth_pnginfo", b"stealth_pngcomp"), "rgb": (b"stealth_rgbinfo", b"stealth_rgbcomp")}


def _lsb_bits(image: Image.Image, channel: str, n: int) -> np.ndarray:
    """The first ``n`` LSBs of the alpha or RGB channels, pixels read down the columns (x outer, y inner).

    Only the columns holding those bits are converted, so probing a large photo for the magic costs nothing.
    """
    width, height = image.size
    per_pixel = 1 if channel == "alpha" else 3
    cols = min(width, -(-n // (height * per_pixel)))
    arr = np.asarray(image.crop((0, 0, cols, height)))
    if arr.ndim != 3:
        return np.zeros(0, dtype=np.uint8)
    planes = arr[:, :, -1:] if channel == "alpha" else arr[:, :, :3]
    return (planes.transpose(1, 0, 2).reshape(-1) & 1)[:n]


def _writer(payload: str) -> str:
    """Who wrote the payload, as a short lead-in ("NovelAI; "), or ``""`` when it does not say."""
    data = parse_json(payload)
    if isinstance(data, dict) and isinstance(data.get("Software"), str):
        return f"Software '{short(data['Software'], 40)}'; "
    found = describe_generation_text("stealth payload", payload)
    return f"{found.split(' in stealth payload')[0]}; " if found else ""


def read_stealth(image: Image.Image) -> str | None:
    """NovelAI / A1111 "stealth" metadata hidden in pixel LSBs, or ``None``.

    Layout: a 15-byte magic (``stealth_pnginfo``/``stealth_pngcomp`` in alpha LSBs, ``stealth_rgbinfo``/
    ``stealth_rgbcomp`` in RGB LSBs), a 32-bit big-endian payload length in bits, then the payload (gzip for
    ``*comp``), all bits MSB first, pixels taken column by column.
    """
    channels = {"RGBA": ("alpha", "rgb"), "LA": ("alpha",), "RGB": ("rgb",)}.get(image.mode, ())
    for channel in channels:
        head = _lsb_bits(image, channel, 152)
        if head.size < 152 or np.packbits(head[:120]).tobytes() not in _MAGIC[channel]:
            continue
        magic = np.packbits(head[:120]).tobytes().decode()
        length = int.from_bytes(np.packbits(head[120:152]).tobytes(), "big")
        if length <= 0 or length > 8 * MAX_PAYLOAD:
            return f"{magic} (invalid payload length {length} bits)"
        payload = np.packbits(_lsb_bits(image, channel, 152 + length)[152:]).tobytes()
        if magic.endswith("comp"):
            # gzip; max_length bounds the output so a crafted payload cannot inflate into a memory bomb
            try:
                payload = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload, MAX_PAYLOAD)
            except zlib.error:
                return f"{magic} (compressed payload unreadable)"  # the 15-byte magic alone is deliberate
        text = payload.decode("utf-8", "replace")
        return f"{magic}: {_writer(text)}{short(text)}"
    return None


__all__ = ["MAX_PAYLOAD", "read_stealth"]
