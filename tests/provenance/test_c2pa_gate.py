"""``has_c2pa_store``: c2pa-python runs only where the container holds (or announces) a manifest store."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from sentry_image.provenance import c2pa as c2pa_module
from sentry_image.provenance.c2pa import has_c2pa_store, read_c2pa
from sentry_image.types import Hint, Signal, Strength
from tests.helpers.provenance import shared_data

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

ROOT = shared_data() / "provenance"
TABLE = ROOT / "expected.csv"
ROWS = list(csv.DictReader(TABLE.open(encoding="utf-8"))) if TABLE.is_file() else []
WORDS = "made with c2pa-aware tools; provenance unknown"
REMOTE_XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
              'dcterms:provenance="https://cai-manifests.example/manifests/urn-uuid-1234"/></rdf:RDF></x:xmpmeta>')
PLAIN_XMP = REMOTE_XMP.replace("dcterms:provenance", "dcterms:description").replace("cai-manifests", "c2pa")
JUMBF = struct.pack(">I", 40) + b"jumb" + struct.pack(">I", 32) + b"jumd" + b"c2pa" + bytes(12) + b"c2pa\x00" + bytes(3)


def encode(fmt: str, **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(buf, format=fmt, **save)
    return buf.getvalue()


def png_text(key: str, text: str, itxt: bool = False) -> bytes:
    info = PngInfo()
    (info.add_itxt if itxt else info.add_text)(key, text)
    return encode("PNG", pnginfo=info)


def exif_with(text: str) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = text  # ImageDescription
    return exif


def png_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` with one more chunk before IEND."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return data[:-12] + chunk + data[-12:]


def webp_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    out = data + kind + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)
    return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


FTYP = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
APP11 = b"\xff\xeb" + struct.pack(">H", 10 + len(JUMBF)) + b"JP\x02\x11\x00\x00\x00\x01" + JUMBF


@pytest.mark.parametrize(("name", "data"), [
    ("JPEG comment", encode("JPEG", comment=WORDS.encode())),
    ("JPEG EXIF", encode("JPEG", exif=exif_with(WORDS))),
    ("JPEG XMP without provenance", encode("JPEG", xmp=PLAIN_XMP.encode())),
    ("PNG tEXt", png_text("Comment", WORDS)),
    ("PNG iTXt", png_text("Description", WORDS, itxt=True)),
    ("PNG XMP without provenance", png_text("XML:com.adobe.xmp", PLAIN_XMP, itxt=True)),
    ("WebP EXIF", encode("WEBP", exif=exif_with(WORDS))),
    ("WebP XMP without provenance", encode("WEBP", xmp=PLAIN_XMP.encode())),
    ("HEIF-like boxes", FTYP + box(b"meta", WORDS.encode()) + box(b"mdat", b"c2pa" * 8)),
    ("BMP", encode("BMP") + WORDS.encode()),
])
def test_the_word_c2pa_in_ordinary_metadata_is_no_store(name: str, data: bytes) -> None:
    assert b"c2pa" in data  # the old whole-file byte test would have run the reader on each of these
    assert not has_c2pa_store(data), name


@pytest.mark.parametrize(("name", "data"), [
    ("JPEG APP11 JUMBF", encode("JPEG")[:2] + APP11 + encode("JPEG")[2:]),
    ("PNG caBX", png_chunk(encode("PNG"), b"caBX", JUMBF)),
    ("WebP C2PA chunk", webp_chunk(encode("WEBP"), b"C2PA", JUMBF)),
    ("ISO-BMFF C2PA uuid", FTYP + box(b"uuid", bytes.fromhex("d8fec3d61b0e483c92975828877ec481") + JUMBF)),
    ("ISO-BMFF jumb", FTYP + JUMBF + box(b"mdat", bytes(16))),
    ("ISO-BMFF 64-bit mdat, then a store", FTYP + struct.pack(">I4sQ", 1, b"mdat", 24) + bytes(8) + JUMBF),
    ("JPEG remote", encode("JPEG", xmp=REMOTE_XMP.encode())),
    ("PNG remote", png_text("XML:com.adobe.xmp", REMOTE_XMP, itxt=True)),
    ("WebP remote", encode("WEBP", xmp=REMOTE_XMP.encode())),
    ("HEIF remote (XMP item)", FTYP + box(b"meta", bytes(8)) + box(b"mdat", REMOTE_XMP.encode())),
])
def test_stores_and_remote_announcements_are_found(name: str, data: bytes) -> None:
    assert has_c2pa_store(data), name


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_remote_manifest_still_reported(fmt: str) -> None:
    xmp = REMOTE_XMP.encode()
    data = png_text("XML:com.adobe.xmp", REMOTE_XMP, itxt=True) if fmt == "PNG" else encode(fmt, xmp=xmp)
    [signal] = read_c2pa(data, fmt)
    assert (signal.hint, signal.strength) == (Hint.NONE, Strength.INFO)
    assert "remote manifest not fetched (offline)" in signal.evidence


@pytest.mark.parametrize(("name", "data"), [
    ("JPEG cut inside a segment", encode("JPEG", comment=WORDS.encode())[:50]),
    ("JPEG with more segments than any real header", b"\xff\xd8" + b"\xff\xfe\x00\x02" * 20_000 + b"c2pa"),
    ("PNG without IEND", png_text("Comment", WORDS)[:-12]),
    ("WebP shorter than its header", encode("WEBP", exif=exif_with(WORDS))[:-6]),
    ("ISO-BMFF box past the end", FTYP + box(b"meta", WORDS.encode())[:-4]),
    ("TIFF (no walk)", encode("TIFF", tiffinfo=exif_with(WORDS))),
    ("GIF (no walk)", encode("GIF", comment=WORDS.encode())),
])
def test_unwalkable_structure_falls_back_to_the_byte_search(name: str, data: bytes) -> None:
    # Never "no store" on a structure that could not be walked: the labels anywhere in the bytes decide.
    assert has_c2pa_store(data), name
    assert not has_c2pa_store(data.replace(b"c2pa", b"----").replace(b"provenance", b"----------")), name


def test_no_store_means_the_reader_is_not_called(monkeypatch: pytest.MonkeyPatch) -> None:
    import c2pa

    def fail(*_: object) -> None:
        raise AssertionError("c2pa-python must not run on a file without a store")

    monkeypatch.setattr(c2pa, "Reader", fail)
    assert read_c2pa(encode("JPEG", comment=WORDS.encode()), "JPEG") == []


def ungated(data: bytes, fmt: str, monkeypatch: pytest.MonkeyPatch) -> list[Signal]:
    with monkeypatch.context() as patch:
        patch.setattr(c2pa_module, "has_c2pa_store", lambda _: True)
        return read_c2pa(data, fmt)


@pytest.mark.skipif(not ROWS, reason=f"shared data not found: {ROOT} (set SENTRY_SHARED_DATA)")
@pytest.mark.parametrize("row", ROWS, ids=[row["path"] for row in ROWS])
def test_gate_keeps_every_real_world_reading(row: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / row["path"]
    data, fmt = path.read_bytes(), Image.open(path).format or ""
    reading = ungated(data, fmt, monkeypatch)
    if reading or row["kind"] in ("c2pa", "c2pa-invalid"):
        assert has_c2pa_store(data), [s.evidence for s in reading]
    assert read_c2pa(data, fmt) == reading


@pytest.mark.skipif(not ROWS, reason=f"shared data not found: {ROOT} (set SENTRY_SHARED_DATA)")
def test_truncated_store_falls_back_to_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (ROOT / "c2pa" / "c2pars_CA_opened_color.jpg").read_bytes()
    cut = data[: data.index(b"\xff\xeb") + 200]  # ends inside the first APP11 segment of the store
    assert has_c2pa_store(cut)
    signals = read_c2pa(cut, "JPEG")
    assert signals == ungated(cut, "JPEG", monkeypatch) and signals  # the reader ran and said something
    assert all(s.name == "c2pa" for s in signals)
