"""Strip metadata from JPEG, PNG and WebP files at the byte level, without touching the coded pixels.

A benchmark image must say nothing about its label beyond its pixels. Camera photos carry EXIF, ICC profiles and
maker notes, AI images carry generation recipes in PNG text chunks, XMP or C2PA manifests: served as uploaded,
metadata alone scores a benchmark. Re-encoding would remove it too, but it changes the pixels a detector is
judged on, so this module rewrites only the container: the compressed image data is copied byte for byte.

What is kept is what a decoder needs to produce the same sample values, and nothing else:

* JPEG: SOF, DHT, DQT, DAC, DRI, DNL, SOS with its entropy-coded data, the restart markers and the JPEG extension
  markers (F0-FD) a decoder may need. An Adobe APP14 segment is kept only where it changes decoding (CMYK/YCCK,
  RGB-coded JPEGs); in an ordinary YCbCr or grey JPEG it is an editing-software fingerprint and goes. Every other
  APPn goes (JFIF, EXIF with its thumbnail and orientation, XMP, ICC, MPF, Photoshop IRB, C2PA/JUMBF), as do COM
  segments and anything after the end-of-image marker (MPO's second picture, phone trailers).
* PNG: IHDR, PLTE, tRNS (transparency is part of the picture) and the image data, re-chunked into one IDAT so
  the encoder's chunk size does not show; IEND. Everything else goes.
* WebP: the bitstream chunks (VP8/VP8L, ALPH) and the animation chunks (ANIM, ANMF); ICCP, EXIF, XMP and unknown
  chunks go. A still image without an alpha chunk becomes the simple one-chunk form; otherwise VP8X stays with
  only its alpha and animation flags.

Colour profiles (JPEG ICC, PNG iCCP/sRGB/gAMA/cHRM/cICP, WebP ICCP) are dropped although a colour-managed viewer
then shows a wide-gamut file slightly differently: the decoded sample values, which is what a detector reads, do
not change, while the profile itself names the capture pipeline (phones write Display P3, cameras and Photoshop
their own profiles; generators write none) and would leak the label. EXIF orientation goes for the same reason:
the stored pixels are served as stored. Physical size (pHYs, JFIF density) and timestamps are facts about the
file, not the picture.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Tables, restart interval, line count and the hierarchical/extension markers: decoding state, always kept.
_JPEG_KEEP = frozenset({0xC4, 0xCC, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, *range(0xF0, 0xFE)})
_PNG_KEEP = frozenset({b"IHDR", b"PLTE", b"tRNS"})
_WEBP_KEEP = frozenset({b"ALPH", b"VP8 ", b"VP8L", b"ANIM", b"ANMF"})
_IDAT_PIECE = 1 << 30  # a PNG chunk holds at most 2**31 - 1 bytes


class HygieneError(ValueError):
    """The file cannot be rewritten safely: its structure is broken or holds something this module refuses."""


@dataclass
class Stripped:
    """A stripped file: its bytes, its container (``JPEG``/``PNG``/``WEBP``) and what was removed, by name."""

    data: bytes
    format: str
    removed: list[str] = field(default_factory=list)


def container(data: bytes) -> str | None:
    """``JPEG``, ``PNG`` or ``WEBP`` from the signature, or ``None`` for any other format."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def strip_metadata(data: bytes) -> Stripped:
    """``data`` without metadata (see the module docstring); raises :class:`HygieneError` for other formats."""
    kind = container(data)
    if kind == "JPEG":
        return _strip_jpeg(data)
    if kind == "PNG":
        return _strip_png(data)
    if kind == "WEBP":
        return _strip_webp(data)
    raise HygieneError("not a JPEG, PNG or WebP file")


# -- JPEG ---------------------------------------------------------------------------------------------------------
def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """``(marker, whole segment bytes)`` from SOI to EOI, scan data attached to its SOS; and the EOI's end."""
    segments: list[tuple[int, bytes]] = []
    pos, size = 2, len(data)
    while True:
        if pos >= size or data[pos] != 0xFF:
            raise HygieneError("JPEG structure broken: a marker was expected" if pos < size else
                               "JPEG ends without an end-of-image marker")
        while pos < size and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= size:
            raise HygieneError("JPEG ends without an end-of-image marker")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return segments, pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers have no length
            segments.append((marker, bytes((0xFF, marker))))
            continue
        if pos + 2 > size:
            raise HygieneError("JPEG segment header cut short")
        end = pos + int.from_bytes(data[pos:pos + 2], "big")
        if end > size or end < pos + 2:
            raise HygieneError(f"JPEG segment FF{marker:02X} runs past the end of the file")
        segment = bytes((0xFF, marker)) + data[pos:end]
        pos = end
        if marker == 0xDA:
            # Entropy-coded data runs to the next marker that may follow a scan. A stuffed 0, a restart marker,
            # fill bytes and the reserved codes below C0 (a corrupt byte pair decoders skip over) stay data.
            scan = pos
            while True:
                hit = data.find(b"\xff", scan)
                if hit < 0 or hit + 1 >= size:
                    raise HygieneError("JPEG scan data ends without an end-of-image marker")
                follow = data[hit + 1]
                if follow < 0xC0 or 0xD0 <= follow <= 0xD7 or follow == 0xFF:
                    scan = hit + 1 if follow == 0xFF else hit + 2
                    continue
                break
            segment += data[pos:hit]
            pos = hit
        segments.append((marker, segment))


def _adobe_needed(body: bytes, components: int) -> bool:
    """Whether an Adobe APP14 segment changes decoding: its transform flag selects the colour space, and it
    marks inverted CMYK. For one component, or three coded as YCbCr (transform 1, what a decoder assumes anyway
    without it), it does not."""
    if components == 1:
        return False
    transform = body[11] if len(body) > 11 else -1
    return not (components == 3 and transform == 1)


def _strip_jpeg(data: bytes) -> Stripped:
    segments, end = _jpeg_segments(data)
    frames = [seg for marker, seg in segments if marker in _SOF]
    if not frames or len(frames[0]) < 10:
        raise HygieneError("JPEG has no frame header")
    components = frames[0][9]
    out, removed = [b"\xff\xd8"], []
    for marker, seg in segments:
        body = seg[4:]
        decoding = marker in _SOF or marker in _JPEG_KEEP or marker in (0xDA, 0x01) or 0xD0 <= marker <= 0xD7
        if decoding or (marker == 0xEE and body.startswith(b"Adobe") and _adobe_needed(body, components)):
            out.append(seg)
        else:
            removed.append(_jpeg_name(marker, body))
    if end < len(data):
        removed.append(f"{len(data) - end} bytes after the end of the image")
    out.append(b"\xff\xd9")
    return Stripped(b"".join(out), "JPEG", removed)


_APP_NAMES = ((b"JFIF\x00", "JFIF"), (b"JFXX\x00", "JFIF thumbnail"), (b"Exif\x00", "EXIF"),
              (b"http://ns.adobe.com/xap/1.0/", "XMP"), (b"http://ns.adobe.com/xmp/extension/", "XMP extension"),
              (b"ICC_PROFILE\x00", "ICC profile"), (b"MPF\x00", "MPF index"), (b"Photoshop 3.0\x00", "Photoshop"),
              (b"JP", "JUMBF/C2PA"), (b"Adobe", "Adobe"), (b"Ducky", "Ducky"))


def _jpeg_name(marker: int, body: bytes) -> str:
    if marker == 0xFE:
        return "COM comment"
    label = next((name for magic, name in _APP_NAMES if body.startswith(magic)), "")
    return f"APP{marker - 0xE0} {label}".rstrip() if 0xE0 <= marker <= 0xEF else f"marker FF{marker:02X}"


# -- PNG ----------------------------------------------------------------------------------------------------------
def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _strip_png(data: bytes) -> Stripped:
    pos, size = len(PNG_SIGNATURE), len(data)
    head: list[bytes] = []
    idat: list[bytes] = []
    removed: list[str] = []
    while True:
        if pos + 8 > size:
            raise HygieneError("PNG ends without an IEND chunk")
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if pos + 12 + length > size:
            raise HygieneError(f"PNG chunk {kind.decode('latin-1')!r} runs past the end of the file")
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND":
            break
        if kind == b"IDAT":
            idat.append(body)
        elif kind in _PNG_KEEP:
            if idat:  # IHDR/PLTE/tRNS after the image data: a broken file, not ours to reorder
                raise HygieneError(f"PNG chunk {kind.decode()} after the image data")
            head.append(_png_chunk(kind, body))
        elif kind[:1].isupper():  # critical by the PNG rules: a decoder that does not know it must fail
            raise HygieneError(f"PNG has an unknown critical chunk {kind.decode('latin-1')!r}")
        else:
            removed.append(f"PNG {kind.decode('latin-1')}")
    if not head or head[0][4:8] != b"IHDR" or not idat:
        raise HygieneError("PNG without a header or image data")
    if pos < size:
        removed.append(f"{size - pos} bytes after IEND")
    stream = b"".join(idat)
    pieces = [_png_chunk(b"IDAT", stream[i:i + _IDAT_PIECE]) for i in range(0, max(len(stream), 1), _IDAT_PIECE)]
    return Stripped(PNG_SIGNATURE + b"".join(head) + b"".join(pieces) + _png_chunk(b"IEND", b""), "PNG", removed)


# -- WebP ---------------------------------------------------------------------------------------------------------
def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    declared = int.from_bytes(data[4:8], "little") + 8
    if declared > len(data) or declared < 12:
        raise HygieneError("WebP RIFF size runs past the end of the file")
    chunks, pos = [], 12
    while pos + 8 <= declared:
        kind, length = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if pos + 8 + length > declared:
            raise HygieneError(f"WebP chunk {kind.decode('latin-1')!r} runs past the end of the file")
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return chunks


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _strip_webp(data: bytes) -> Stripped:
    chunks = _riff_chunks(data)
    if not chunks:
        raise HygieneError("WebP without any chunk")
    removed = [f"WebP {k.decode('latin-1').strip()}" for k, _ in chunks if k not in _WEBP_KEEP and k != b"VP8X"]
    if int.from_bytes(data[4:8], "little") + 8 < len(data):
        removed.append(f"{len(data) - int.from_bytes(data[4:8], 'little') - 8} bytes after the RIFF container")
    kept = [(k, b) for k, b in chunks if k in _WEBP_KEEP]
    bitstreams = [c for c in kept if c[0] in (b"VP8 ", b"VP8L")]
    extended = chunks[0][0] == b"VP8X"
    if not extended:
        if chunks[0][0] not in (b"VP8 ", b"VP8L"):
            raise HygieneError("WebP does not start with an image chunk")
        body = [chunks[0]]
    elif any(k in (b"ALPH", b"ANIM", b"ANMF") for k, _ in kept):
        header = chunks[0][1]
        if len(header) < 10:
            raise HygieneError("WebP VP8X header cut short")
        flags = header[0] & 0x12  # alpha (0x10) and animation (0x02); ICC, EXIF and XMP flags are cleared
        body = [(b"VP8X", bytes([flags]) + header[1:10]), *kept]
    elif len(bitstreams) == 1:
        body = bitstreams  # a still image with nothing else: the simple format, like most encoders write it
    else:
        raise HygieneError("WebP extended file without exactly one image chunk")
    payload = b"WEBP" + b"".join(_riff_chunk(k, b) for k, b in body)
    return Stripped(b"RIFF" + struct.pack("<I", len(payload)) + payload, "WEBP", removed)


__all__ = ["HygieneError", "Stripped", "container", "strip_metadata"]
