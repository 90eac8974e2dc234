"""Whether a file may carry a C2PA manifest store, found by walking its container structure.

``c2pa-python`` costs a native call per file; this gate lets it run only where a store is embedded or a remote
one is announced in the file's XMP. A false "yes" costs one reader call, a false "no" would lose a finding, so
any structure that cannot be walked falls back to a byte search.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # ISO-BMFF ``uuid`` box of a C2PA store
_JPEG_XMP = (b"http://ns.adobe.com/xap/1.0/", b"http://ns.adobe.com/xmp/extension/")
_PNG_XMP = b"XML:com.adobe.xmp\x00"
_FILL, _APP11 = re.compile(rb"\xff+"), re.compile(rb"\xff\xeb")
_REMOTE = b"provenance"  # XMP dcterms:provenance announces a remote manifest, which c2pa-python reports


def _jumbf(body: bytes) -> bool:
    # An APP11 body: CI "JP", En, Z, then the JUMBF superbox (LBox, TBox "jumb") whose description says "c2pa".
    return b"jumb" in body[:24] or b"c2pa" in body[:40]


def _jpeg(data: bytes) -> bool:
    """APP11 segments holding a JUMBF box (the store), or APP1 XMP announcing a remote manifest."""
    pos, size = 2, len(data)
    for _ in range(1 << 14):  # real headers have tens of segments: past this many, search the bytes instead
        fill = _FILL.match(data, pos)  # any number of 0xFF bytes may precede a marker
        if fill is None or fill.end() >= size:
            raise ValueError("JPEG segment expected")
        pos, marker = fill.end() - 1, data[fill.end()]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xD9 or end > size or end < pos + 4:
            raise ValueError("JPEG header ends early")
        body = data[pos + 4 : end]
        if (marker == 0xEB and _jumbf(body)) or (marker == 0xE1 and body.startswith(_JPEG_XMP) and _REMOTE in body):
            return True
        if marker == 0xDA:
            break
        pos = end
    else:
        raise ValueError("too many JPEG segments")
    # Entropy-coded data never holds 0xFFEB (a 0xFF there is followed by 0x00 or a restart marker), so an APP11
    # after the first scan (between progressive scans, in an appended image) is found by a plain byte search.
    return any(_jumbf(data[hit.end() + 2 : hit.end() + 42]) for hit in _APP11.finditer(data, pos))


def _png(data: bytes) -> bool:
    """A ``caBX`` chunk (the store), or an iTXt XMP packet announcing a remote manifest."""
    pos, size = 8, len(data)
    while pos + 12 <= size:
        kind, end = data[pos + 4 : pos + 8], pos + 12 + int.from_bytes(data[pos : pos + 4], "big")
        if end > size:
            break
        if kind == b"caBX":
            return True
        if kind == b"iTXt" and data[pos + 8 : pos + 8 + len(_PNG_XMP)] == _PNG_XMP:
            body = data[pos + 8 + len(_PNG_XMP) : end - 4]
            if body[:1] != b"\x00" or _REMOTE in body:  # a compressed packet: let the reader inflate it
                return True
        if kind == b"IEND":
            return False
        pos = end
    raise ValueError("PNG ends before IEND")


def _webp(data: bytes) -> bool:
    """A RIFF ``C2PA`` chunk (the store), or an ``XMP `` chunk announcing a remote manifest."""
    pos, declared = 12, 8 + int.from_bytes(data[4:8], "little")
    if declared > len(data):
        raise ValueError("WebP shorter than its RIFF header says")
    while pos + 8 <= declared:
        kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if pos + 8 + length > declared:
            raise ValueError("WebP chunk runs past the end")
        if kind == b"C2PA" or (kind == b"XMP " and _REMOTE in data[pos + 8 : pos + 8 + length]):
            return True
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return False


def _bmff(data: bytes) -> bool:
    """A top-level C2PA ``uuid`` (or ``jumb``/``c2pa``) box, or XMP announcing a remote manifest."""
    pos, size = 0, len(data)
    while pos < size:
        length, kind, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if length == 1:
            length, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif length == 0:  # the last box runs to the end of the file
            length = size - pos
        if length < header or pos + length > size:
            raise ValueError("ISO-BMFF box runs past the end")
        if kind in (b"jumb", b"c2pa") or (kind == b"uuid" and data[pos + header : pos + header + 16] == _C2PA_UUID):
            return True
        pos += length
    # XMP sits in a top-level uuid box (MP4) or in an item whose bytes may be anywhere (HEIF): find the packets
    # (split, not a regular expression, so that many unclosed packet tags cannot make the search quadratic).
    return any(_REMOTE in packet.split(b"</x:xmpmeta>", 1)[0] for packet in data.split(b"<x:xmpmeta")[1:])


def has_c2pa_store(data: bytes) -> bool:
    """Whether ``data`` may carry a C2PA manifest store, embedded or announced as remote in its XMP.

    JPEG segments, PNG chunks, WebP RIFF chunks and ISO-BMFF (HEIF/AVIF) top-level boxes are walked. TIFF/DNG
    (whose store hides behind an IFD tag), GIF, unknown bytes and any structure that cannot be walked fall back
    to a byte search: a false "yes" costs one reader call, a false "no" would lose a finding. BMP has no C2PA.
    """
    try:
        if data.startswith(b"\xff\xd8\xff"):
            return _jpeg(data)
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(data)
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return _webp(data)
        if data[4:8] == b"ftyp":
            return _bmff(data)
        if data.startswith(b"BM"):
            return False
    except ValueError as exc:
        logger.debug("C2PA gate: %s; searching the bytes instead", exc)
    # Every embedded store carries the JUMBF label "c2pa".
    return b"c2pa" in data or _REMOTE in data


__all__ = ["has_c2pa_store"]
