"""``has_c2pa_store`` at the edges of each container walk, on bytes built in the test.

Covered: when a walk gives up and the byte search decides (and the debug line saying why); JPEG markers without a
length, empty and overlong segments, fill bytes, an early EOI, the segment limit, a remote XMP announcement after the
tables, APP11 stores found after the scan, and the window of an APP11 body where the JUMBF box type or the "c2pa"
label is looked for; PNG chunks past the end, compressed or tail-ending XMP text; WebP padding, empty and overlong
chunks and the bounds of an XMP chunk; ISO-BMFF 64-bit, to-the-end, empty and ``c2pa``/``uuid`` boxes and where an
XMP packet ends. In each case a wrong walk turns "a store" into "none" (a lost finding) or the reverse (a reader call
on every such file), so the expected answer is worked out from the container's layout.
"""

from __future__ import annotations

import logging
import struct

import pytest
from PIL.PngImagePlugin import PngInfo

from sentry_image.provenance.c2pa_gate import has_c2pa_store
from tests.provenance.test_c2pa_gate import FTYP, JUMBF, REMOTE_XMP, box, encode, png_chunk, webp_chunk

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")  # the uuid box of XMP in MP4
JPEG, PNG, WEBP = encode("JPEG"), encode("PNG"), encode("WEBP")


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def after_soi(*parts: bytes, jpeg: bytes = JPEG) -> bytes:
    return jpeg[:2] + b"".join(parts) + jpeg[2:]


WORD = segment(0xFE, b"made with c2pa-aware tools")  # the label in a comment: no store
XMP_APP1 = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + REMOTE_XMP.encode())


def riff(form: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    body = form + b"".join(kind + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
                           for kind, data in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def overrun(payload: bytes, extra: int) -> bytes:
    """A WebP whose one chunk says it holds ``extra`` bytes more than the (correctly sized) RIFF has."""
    body = b"WEBPEXIF" + struct.pack("<I", len(payload) + extra) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- when the walk gives up, the bytes decide, and the debug log says why --------------------------------------------
@pytest.mark.parametrize(("data", "why"), [
    (b"\xff\xd8" + segment(0xFE, b"c2pa"), "JPEG segment expected"),  # the header ends right after a segment
    (b"\xff\xd8" + segment(0xFE, b"c2pa") + b"\x00 not a marker", "JPEG segment expected"),
    (b"\xff\xd8" + segment(0xFE, b"c2pa") + b"\xff\xff", "JPEG segment expected"),  # fill bytes, then nothing
    (b"\xff\xd8\xff\xfe\x00\x40c2pa", "JPEG header ends early"),  # a segment longer than the file
    (b"\xff\xd8\xff\xfe\x00\x00c2pa", "JPEG header ends early"),  # a length too short for its own field
    (b"\xff\xd8\xff\xd9\x00\x02" + segment(0xFE, b"c2pa"), "JPEG header ends early"),  # EOI before any scan
    (b"\xff\xd8" + b"\xff\xfe\x00\x02" * 20_000 + b"c2pa", "too many JPEG segments"),
    (png_chunk(PNG, b"tEXt", b"Comment\x00c2pa tools")[:-12], "PNG ends before IEND"),
    (png_chunk(PNG, b"tEXt", b"Comment\x00c2pa tools")[:-20], "PNG ends before IEND"),  # cut inside a chunk
    (webp_chunk(WEBP, b"EXIF", b"c2pa tools")[:-6], "WebP shorter than its RIFF header says"),
    (overrun(b"c2pa", 2), "WebP chunk runs past the end"),  # however little it overruns
    (FTYP + box(b"meta", b"c2pa tools")[:-4], "ISO-BMFF box runs past the end"),
])
def test_an_unwalkable_structure_is_logged_and_searched(data: bytes, why: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sentry_image.provenance.c2pa_gate")
    assert has_c2pa_store(data) is True
    assert [r.getMessage() for r in caplog.records] == [f"C2PA gate: {why}; searching the bytes instead"]


# -- JPEG -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("marker", [0x01, 0xD0, 0xD7, 0xD8])  # TEM, RST0, RST7 and SOI carry no length
def test_markers_without_a_length_are_stepped_over(marker: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sentry_image.provenance.c2pa_gate")
    assert has_c2pa_store(after_soi(bytes([0xFF, marker]), WORD)) is False
    assert has_c2pa_store(after_soi(bytes([0xFF, marker]), XMP_APP1)) is True
    assert caplog.records == []  # walked to the end, never given up


def test_an_empty_segment_is_walked_over() -> None:
    assert has_c2pa_store(after_soi(segment(0xFE, b""), WORD)) is False


def test_a_remote_announcement_after_the_tables_is_found() -> None:
    sos = JPEG.index(b"\xff\xda")
    assert has_c2pa_store(JPEG[:sos] + XMP_APP1 + JPEG[sos:]) is True


def test_a_store_quoted_inside_another_segment_is_not_the_images() -> None:
    quoted = b"\xff\xeb\x00\x30JP\x02\x11\x00\x00\x00\x01" + JUMBF
    assert has_c2pa_store(after_soi(segment(0xFE, quoted))) is False


def app11_body(label: bytes, at: int) -> bytes:
    """A 48-byte APP11 body holding ``label`` at offset ``at`` and nothing else the gate looks for."""
    body = bytearray(b"JP" + bytes(46))
    body[at : at + len(label)] = label
    return bytes(body)


# The JUMBF superbox type sits at offset 12 of the body (16 with a 64-bit size): the gate looks in the first 24
# bytes; the description box's "c2pa" type, at 24, is looked for in the first 40.
WINDOW = [(b"jumb", 20, True), (b"jumb", 21, False), (b"c2pa", 36, True), (b"c2pa", 37, False), (b"", 0, False)]


@pytest.mark.parametrize(("label", "at", "found"), WINDOW)
def test_app11_window_in_the_header(label: bytes, at: int, found: bool) -> None:
    assert has_c2pa_store(after_soi(segment(0xEB, app11_body(label, at)))) is found


@pytest.mark.parametrize(("label", "at", "found"), WINDOW)
def test_app11_window_after_the_scan(label: bytes, at: int, found: bool) -> None:
    # An APP11 after the first scan (an appended image, between progressive scans) is found by a byte search.
    assert has_c2pa_store(JPEG + segment(0xEB, app11_body(label, at))) is found


# -- PNG ------------------------------------------------------------------------------------------------------------
def itxt_xmp(text: bytes, crc: bytes | None = None) -> bytes:
    """PNG with an uncompressed iTXt XMP chunk of ``text`` (``crc``: the CRC field's bytes, default a zero one)."""
    body = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + text
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + (crc or bytes(4))
    return PNG[:-12] + chunk + PNG[-12:]


def test_a_compressed_xmp_packet_is_left_to_the_reader() -> None:
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>", zip=True)
    assert has_c2pa_store(encode("PNG", pnginfo=info)) is True


def test_xmp_text_is_searched_to_its_last_byte_and_no_further() -> None:
    assert has_c2pa_store(itxt_xmp(b'<x:xmpmeta xmlns:dcterms="x"/> dcterms:provenance')) is True
    assert has_c2pa_store(itxt_xmp(b"<x:xmpmeta/> dcterms:proven", crc=b"ance")) is False


# -- WebP -----------------------------------------------------------------------------------------------------------
def test_an_empty_c2pa_chunk_at_the_very_end_is_found() -> None:
    assert has_c2pa_store(riff(b"WEBP", (b"VP8X", bytes(10)), (b"C2PA", b""))) is True


def test_odd_chunks_are_padded_to_an_even_size() -> None:
    assert has_c2pa_store(riff(b"WEBP", (b"VP8X", bytes(10)), (b"ABCD", b"odd"), (b"EXIF", b"c2pa tools"))) is False


@pytest.mark.parametrize(("xmp", "pad", "found"), [
    (b"provenance and <x:xmpmeta/>", b"", True),  # the chunk's first byte
    (b"<x:xmpmeta/> and a long tail after dcterms:provenance", b"", True),  # its last byte
    (b"<x:xmpmeta/> no remote, provenanc", b"e", False),  # the pad byte is no text
])
def test_webp_xmp_chunk_is_searched_within_its_length(xmp: bytes, pad: bytes, found: bool) -> None:
    data = riff(b"WEBP", (b"VP8X", bytes(10)), (b"XMP ", xmp))
    if pad:
        data = data[:-1] + pad
    assert has_c2pa_store(data) is found


def test_other_riff_forms_are_searched_not_walked() -> None:
    # A WAV or AVI file is RIFF too, but not WebP: its chunks are not walked, the bytes decide.
    assert has_c2pa_store(riff(b"WAVE", (b"LIST", b"made with c2pa tools"))) is True


# -- ISO-BMFF -------------------------------------------------------------------------------------------------------
def large(kind: bytes, body: bytes, size: int | None = None) -> bytes:
    """A box with a 64-bit size (``size``: the size field, default the box's own)."""
    return struct.pack(">I4sQ", 1, kind, 16 + len(body) if size is None else size) + body


@pytest.mark.parametrize(("data", "found"), [
    (FTYP + large(b"mdat", b"made with c2pa tools"), False),
    (FTYP + large(b"uuid", C2PA_UUID + JUMBF), True),
    (FTYP + large(b"mdat", b"c2pa\x00\x00\x00\x00", size=(1 << 56) + 24), True),  # past any file: bytes decide
    (FTYP + struct.pack(">I4s", 0, b"mdat") + b"made with c2pa tools", False),  # size 0: to the end of the file
    (FTYP + box(b"free", b"") + box(b"mdat", b"made with c2pa tools"), False),  # an empty box
    (FTYP + box(b"c2pa", bytes(16)), True),
    (FTYP + box(b"uuid", XMP_UUID + b"<x:xmpmeta/>") + box(b"mdat", b"c2pa"), False),  # another uuid
    (FTYP + box(b"mdat", b"<x:xmpmeta>plain</x:xmpmeta> pixels' provenance </x:xmpmeta>"), False),
])
def test_bmff_boxes(data: bytes, found: bool) -> None:
    assert has_c2pa_store(data) is found
