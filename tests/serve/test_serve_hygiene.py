"""Benchmark images are served without metadata: the container is rewritten, the decoded pixels are the uploaded
ones exactly, and the project's own provenance reader finds nothing left, on generated and on real files."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from sentry_image.imaging import decode_image
from sentry_image.provenance import read_provenance
from sentry_image.serve.errors import ApiError
from sentry_image.serve.image_hygiene import HygieneError, strip_metadata
from sentry_image.serve.served_images import prepare
from tests.helpers.builders import image_bytes, noise_image
from tests.helpers.paths import SHARED
from tests.helpers.serve_helpers import AI_XMP, JUMBF, camera_exif, camera_jpeg, generator_jpeg, generator_png

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
JPEG_DECODING = {0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xDA}  # frame, tables, restart interval, scan


def _pixels(data: bytes) -> tuple[str, tuple[int, int], np.ndarray, object, object]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        palette = image.getpalette() if image.mode == "P" else None
        return image.mode, image.size, np.asarray(image), palette, image.info.get("transparency")


def _assert_same_pixels(original: bytes, stripped: bytes) -> None:
    mode, size, arr, palette, key = _pixels(original)
    mode2, size2, arr2, palette2, key2 = _pixels(stripped)
    assert (mode, size, palette, key) == (mode2, size2, palette2, key2)
    assert np.array_equal(arr, arr2)


def _evidence(data: bytes) -> list[str]:
    """What the provenance reader's metadata and C2PA parts say about the file (empty: nothing at all)."""
    return [f"{s.name}:{s.hint.value}:{s.evidence}" for s in read_provenance(decode_image(data), ("c2pa", "metadata"))]


def _jpeg_markers(data: bytes) -> list[int]:
    markers, pos = [], 2
    while data[pos + 1] != 0xDA:
        markers.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return markers


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    while pos < len(data):
        chunks.append(data[pos + 4:pos + 8])
        pos += 12 + int.from_bytes(data[pos:pos + 4], "big")
    return chunks


def _webp_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 12
    while pos < len(data):
        length = int.from_bytes(data[pos + 4:pos + 8], "little")
        chunks.append(data[pos:pos + 4])
        pos += 8 + length + (length & 1)
    return chunks


def _noise_alpha(size: tuple[int, int], seed: int) -> Image.Image:
    rgba = noise_image(size, seed=seed).convert("RGBA")
    rgba.putalpha(noise_image(size, seed=seed + 1).convert("L"))
    return rgba


def _with_c2pa_chunk(webp: bytes) -> bytes:
    """``webp`` with a RIFF ``C2PA`` chunk (where C2PA writers put the manifest store), RIFF size fixed."""
    chunk = b"C2PA" + len(JUMBF).to_bytes(4, "little") + JUMBF + b"\x00" * (len(JUMBF) & 1)
    body = webp[12:] + chunk
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body


def _palette_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", '{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}')
    image = noise_image((48, 40), seed=5).quantize(16)
    return image_bytes(image, "PNG", pnginfo=info, transparency=3, icc_profile=ICC, exif=camera_exif())


def _sixteen_bit_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "portrait\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 6, Seed: 9, Size: 32x32")
    arr = np.random.default_rng(3).integers(0, 65535, (32, 32), dtype=np.uint16)
    return image_bytes(Image.fromarray(arr), "PNG", pnginfo=info)


def _big_png_with_text() -> bytes:  # large enough that the encoder splits its data over several IDAT chunks
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", AI_XMP)
    return image_bytes(noise_image((256, 200), seed=8), "PNG", pnginfo=info)


GENERATED: dict[str, Callable[[], bytes]] = {
    "jpeg-camera": lambda: camera_jpeg(1, (64, 48)),
    "jpeg-generator-c2pa": lambda: generator_jpeg(2, (64, 48)),
    "jpeg-progressive-restarts": lambda: image_bytes(noise_image((72, 56), seed=3), "JPEG", progressive=True,
                                                     restart_marker_blocks=3, exif=camera_exif(),
                                                     xmp=AI_XMP.encode()),
    "jpeg-grey": lambda: image_bytes(noise_image((40, 40), seed=4, mode="L"), "JPEG", exif=camera_exif()),
    "jpeg-cmyk-adobe": lambda: image_bytes(noise_image((40, 40), seed=5, mode="CMYK"), "JPEG", icc_profile=ICC,
                                           exif=camera_exif()),
    "png-generator-c2pa": lambda: generator_png(6, (48, 40)),
    "png-palette-trns-icc-exif": _palette_png,
    "png-16bit-parameters": _sixteen_bit_png,
    "png-several-idat": _big_png_with_text,
    "webp-lossy-exif-xmp-icc-c2pa": lambda: _with_c2pa_chunk(image_bytes(
        noise_image((48, 40), seed=9), "WEBP", quality=80, exif=camera_exif(), xmp=AI_XMP.encode(), icc_profile=ICC)),
    "webp-lossy-alpha": lambda: image_bytes(_noise_alpha((48, 40), 10), "WEBP", quality=80, exif=camera_exif()),
    "webp-lossless-alpha": lambda: image_bytes(_noise_alpha((48, 40), 12), "WEBP", lossless=True,
                                               xmp=AI_XMP.encode()),
    "webp-animated": lambda: image_bytes(noise_image((32, 32), seed=14), "WEBP", save_all=True, exif=camera_exif(),
                                         append_images=[noise_image((32, 32), seed=15)], duration=100),
}


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_stripping_keeps_every_pixel_and_leaves_no_metadata(case: str) -> None:
    original = GENERATED[case]()
    stripped = strip_metadata(original)
    assert stripped.removed, "the fixture must carry metadata"
    _assert_same_pixels(original, stripped.data)
    assert _evidence(stripped.data) == []
    assert strip_metadata(stripped.data).data == stripped.data  # nothing left to remove: a fixed point
    if stripped.format == "JPEG":
        allowed = JPEG_DECODING | ({0xEE} if case == "jpeg-cmyk-adobe" else set())  # Adobe: inverted CMYK
        assert set(_jpeg_markers(stripped.data)) <= allowed and stripped.data.endswith(b"\xff\xd9")
        assert (0xEE in _jpeg_markers(stripped.data)) == (case == "jpeg-cmyk-adobe")
    elif stripped.format == "PNG":
        chunks = _png_chunks(stripped.data)
        assert set(chunks) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"} and chunks.count(b"IDAT") == 1
    else:
        chunks = _webp_chunks(stripped.data)
        assert set(chunks) <= {b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"}
        if chunks[0] == b"VP8X":
            assert stripped.data[20] & 0x2C == 0  # the ICC, EXIF and XMP flags are cleared with their chunks
            assert "alpha" in case or "animated" in case


def test_generator_and_camera_metadata_were_there_before() -> None:
    """The reader sees the fixtures' metadata: the empty readings after stripping are not a blind reader."""
    assert any(":ai-generated:Generator metadata" in e for e in _evidence(generator_png(1)))
    assert any(e.startswith("c2pa:") for e in _evidence(generator_jpeg(1)))
    assert any(":real:Camera EXIF" in e for e in _evidence(camera_jpeg(1)))
    assert any(e.startswith("c2pa:") for e in _evidence(GENERATED["webp-lossy-exif-xmp-icc-c2pa"]()))


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda d: d[: len(d) // 2], "end-of-image"),
    (lambda d: d.replace(b"\xff\xda", b"\xff\x00", 1), "frame|marker"),
])
def test_broken_jpeg_is_refused(damage: Callable[[bytes], bytes], problem: str) -> None:
    with pytest.raises(HygieneError, match=problem):
        strip_metadata(damage(camera_jpeg(1)))


def test_unknown_critical_png_chunk_is_refused_by_name() -> None:
    data = image_bytes(noise_image((8, 8)), "PNG")
    chunk = b"\x00\x00\x00\x00ABCD\x00\x00\x00\x00"
    with pytest.raises(HygieneError, match="ABCD"):
        strip_metadata(data[:33] + chunk + data[33:])


def test_other_formats_become_lossless_png() -> None:
    gif = noise_image((30, 20), seed=1).quantize(32)
    gif_bytes = image_bytes(gif, "GIF", transparency=2, comment=b"made with a generator")
    tiff_bytes = image_bytes(noise_image((30, 20), seed=2), "TIFF", exif=camera_exif(), icc_profile=ICC)
    for name, data in (("a.gif", gif_bytes), ("b.tif", tiff_bytes),
                       ("c.bmp", image_bytes(noise_image((30, 20), seed=3), "BMP"))):
        served = prepare(name, data, normalise="none", side=64, quality=90, max_pixels=10**6)
        assert served.format == "PNG" and served.uploaded.format != "PNG"
        assert not served.served.metadata and set(_png_chunks(served.data)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT",
                                                                                  b"IEND"}
        before, after = decode_image(data).original, decode_image(served.data).original
        assert np.array_equal(np.asarray(before.convert("RGBA")), np.asarray(after.convert("RGBA")))
    cmyk = image_bytes(noise_image((30, 20), seed=4, mode="CMYK"), "TIFF")
    with pytest.raises(ApiError) as refused:
        prepare("press-photo.tif", cmyk, normalise="none", side=64, quality=90, max_pixels=10**6)
    assert refused.value.code == "image_not_servable" and "press-photo.tif" in refused.value.message


def test_normalise_jpeg_gives_one_size_and_quality() -> None:
    shapes = [(200, 120, "PNG"), (64, 300, "WEBP"), (100, 100, "JPEG")]
    served = [prepare(f"x.{fmt}", image_bytes(noise_image((w, h), seed=w), fmt), normalise="jpeg", side=64,
                      quality=85, max_pixels=10**6) for w, h, fmt in shapes]
    tables = []
    for item in served:
        with Image.open(io.BytesIO(item.data)) as image:
            assert (image.format, image.size, image.mode) == ("JPEG", (64, 64), "RGB")
            tables.append(image.quantization)
        assert set(_jpeg_markers(item.data)) <= JPEG_DECODING and not item.served.metadata
    assert all(t == tables[0] for t in tables)  # one quality for every image, whatever it came as


# -- real files ---------------------------------------------------------------------------------------------------
def _provenance_rows() -> list[dict[str, str]]:
    with (SHARED / "provenance" / "expected.csv").open(newline="") as fh:
        # Watermarks live in the pixels, not the container: stripping rightly leaves them to the pixel readers.
        return [r for r in csv.DictReader(fh) if r["kind"] != "watermark"]


@pytest.mark.slow
def test_real_provenance_files_lose_every_metadata_reading() -> None:
    found_before = 0
    for row in _provenance_rows():
        path = SHARED / "provenance" / row["path"]
        data = path.read_bytes()
        before = _evidence(data)
        found_before += any(":ai-generated:" in e or ":real:" in e for e in before)
        served = prepare(path.name, data, normalise="none", side=256, quality=90, max_pixels=50_000_000)
        assert _evidence(served.data) == [], row["path"]
        assert not served.served.metadata and not served.served.generator_metadata, row["path"]
        original, after = decode_image(data).original, decode_image(served.data).original
        assert original.size == after.size and np.array_equal(np.asarray(original), np.asarray(after)), row["path"]
    assert found_before >= 20  # the real files do carry what stripping must remove


def _smallest_of_each(formats: set[str]) -> list[Path]:
    with (SHARED / "manifest.csv").open(newline="") as fh:
        rows = sorted((r for r in csv.DictReader(fh) if r["format"] in formats), key=lambda r: int(r["bytes"]))
    return [SHARED / next(r["path"] for r in rows if r["format"] == fmt) for fmt in sorted(formats)]


def test_real_camera_containers_become_png_with_the_same_pixels() -> None:
    paths = _smallest_of_each({"TIFF", "HEIF", "AVIF"})  # formats only photos come in, in the shared data
    for path in paths:
        data = path.read_bytes()
        served = prepare(path.name, data, normalise="none", side=256, quality=90, max_pixels=50_000_000)
        assert served.format == "PNG" and not served.served.metadata, path
        assert np.array_equal(np.asarray(decode_image(data).original), np.asarray(decode_image(served.data).original))
