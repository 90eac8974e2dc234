"""Generator and camera metadata written the way real tools write it, on small generated images."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from sentry_image.provenance import summarize
from sentry_image.provenance.metadata import decode_user_comment, read_metadata, read_stealth
from sentry_image.types import Hint, Signal, Strength
from tests.helpers.provenance import reencode

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

A1111 = ("photo of a duck\nNegative prompt: monochrome\nSteps: 15, Sampler: UniPC, CFG scale: 5, Seed: 235284042, "
         "Size: 512x400, Model hash: c0d1994c73")
COMFY_PROMPT = json.dumps({"3": {"inputs": {"seed": 1, "steps": 20}, "class_type": "KSampler"},
                           "4": {"inputs": {"ckpt_name": "sd15.ckpt"}, "class_type": "CheckpointLoaderSimple"}})
COMFY_WORKFLOW = json.dumps({"last_node_id": 9, "last_link_id": 9, "nodes": [{"id": 3, "type": "KSampler"}],
                             "links": []})
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
       'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{term}"/>'
       "</rdf:RDF></x:xmpmeta>")


def small(mode: str = "RGB") -> Image.Image:
    return Image.new("RGB", (64, 48), (90, 120, 150)).convert(mode)


def png_with(**chunks: str) -> Image.Image:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    return reencode(small(), "PNG", pnginfo=info)


def with_exif(fmt: str, base: dict[int, object], exif_ifd: dict[int, object] | None = None) -> Image.Image:
    exif = Image.Exif()
    exif.update(base)
    if exif_ifd:
        exif.get_ifd(0x8769).update(exif_ifd)
    return reencode(small(), fmt, exif=exif)


def hints(signals: list[Signal]) -> set[tuple[str, Hint, Strength]]:
    return {(s.name, s.hint, s.strength) for s in signals}


AI = ("metadata", Hint.AI, Strength.STRONG)
CAMERA = ("exif", Hint.REAL, Strength.WEAK)


@pytest.mark.parametrize(("chunks", "words"), [
    ({"parameters": A1111}, "A1111"),
    ({"prompt": COMFY_PROMPT, "workflow": COMFY_WORKFLOW}, "ComfyUI"),
    ({"invokeai_metadata": json.dumps({"generation_mode": "txt2img", "positive_prompt": "a cat", "seed": 3,
                                        "cfg_scale": 7})}, "invokeai_metadata"),
    ({"Software": "NovelAI", "Source": "Stable Diffusion 1D44365E",
      "Comment": json.dumps({"steps": 28, "sampler": "k_euler", "seed": 1, "scale": 11, "uc": "lowres"})}, "NovelAI"),
    ({"parameters": json.dumps({"base_model": "juggernautXL", "full_prompt": ["x"], "sampler": "dpmpp_2m",
                                "guidance_scale": 4}), "fooocus_scheme": "fooocus"}, "Fooocus"),
    ({"Dream": '"a castle" -s 50 -S 1234 -W 512 -H 512 -C 7.5 -A k_lms'}, "InvokeAI"),
])
def test_generator_text_chunks(chunks: dict[str, str], words: str) -> None:
    signals = read_metadata(png_with(**chunks))
    assert hints(signals) == {AI}
    assert words in signals[0].evidence


@pytest.mark.parametrize("chunks", [
    {"parameters": "exposure: +0.3, contrast 12"},  # the key alone proves nothing
    {"prompt": "not json {"}, {"workflow": "[1, 2, 3]"},
    {"Comment": json.dumps({"seed": 4, "rating": 5})},
    {"Title": "Holiday", "Author": "Ann", "Description": "Steps: of the cathedral"},
])
def test_ordinary_text_chunks_say_nothing(chunks: dict[str, str]) -> None:
    assert read_metadata(png_with(**chunks)) == []


@pytest.mark.parametrize("big_endian", [True, False])
def test_exif_user_comment_utf16(big_endian: bool) -> None:
    body = A1111.encode("utf-16-be" if big_endian else "utf-16-le")
    image = with_exif("JPEG", {0x0131: "x"}, {0x9286: b"UNICODE\x00" + body})
    signals = read_metadata(image)
    assert AI in hints(signals)
    assert "UserComment" in signals[0].evidence and "photo of a duck" in signals[0].evidence


def test_user_comment_prefixes() -> None:
    assert decode_user_comment(b"ASCII\x00\x00\x00Screenshot") == "Screenshot"
    assert decode_user_comment(b"UNICODE\x00" + "héllo".encode("utf-16-be")) == "héllo"
    assert decode_user_comment(b"UNICODE\x00" + "héllo".encode("utf-16-le")) == "héllo"
    assert decode_user_comment(b"UNICODE\x00\xff\xfe" + "ab".encode("utf-16-le")) == "ab"
    assert decode_user_comment(b"\x00" * 8 + b"plain") == "plain"
    assert isinstance(decode_user_comment(b"UNI"), str)  # truncated prefix: some text, no exception


def test_comfyui_webp_make_model_is_ai_not_a_camera() -> None:
    image = with_exif("WEBP", {0x010F: "workflow:" + COMFY_WORKFLOW, 0x0110: "prompt:" + COMFY_PROMPT}, None)
    signals = read_metadata(image)
    assert hints(signals) == {AI}
    assert "ComfyUI" in signals[0].evidence


def test_camera_exif_is_a_weak_real_hint() -> None:
    signals = read_metadata(with_exif("JPEG", {0x010F: "Canon", 0x0110: "Canon EOS 40D", 0x0131: "GIMP 2.4.5"}))
    assert hints(signals) == {CAMERA, ("metadata", Hint.NONE, Strength.INFO)}
    assert summarize(signals) == Hint.REAL


def test_generator_beats_camera_exif() -> None:
    signals = read_metadata(with_exif("JPEG", {0x010F: "Canon", 0x0110: "EOS R5", 0x0131: "Adobe Firefly 2"}))
    assert {AI, CAMERA} <= hints(signals)
    assert summarize(signals) == Hint.AI


@pytest.mark.parametrize("software", ["Adobe Photoshop 24.1 (Macintosh)", "GIMP 2.10", "Adobe Lightroom 5.3"])
def test_editing_software_is_info_only(software: str) -> None:
    signals = read_metadata(with_exif("JPEG", {0x0131: software}))
    assert hints(signals) == {("metadata", Hint.NONE, Strength.INFO)}
    assert summarize(signals) == Hint.NONE


def hide(image: Image.Image, magic: bytes, payload: bytes, channel: str = "alpha") -> Image.Image:
    """Write stealth metadata the NovelAI / stealth-pnginfo way: LSBs, column by column, MSB first."""
    data = magic + (len(payload) * 8).to_bytes(4, "big") + payload
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    arr = np.array(image.convert("RGBA"))
    planes = arr[:, :, 3:] if channel == "alpha" else arr[:, :, :3]
    flat = planes.transpose(1, 0, 2).reshape(-1).copy()
    flat[: bits.size] = (flat[: bits.size] & 0xFE) | bits
    planes[...] = flat.reshape(planes.shape[1], planes.shape[0], planes.shape[2]).transpose(1, 0, 2)
    return reencode(Image.fromarray(arr, "RGBA"), "PNG")


@pytest.mark.parametrize(("magic", "channel", "compress"), [
    (b"stealth_pngcomp", "alpha", True), (b"stealth_pnginfo", "alpha", False), (b"stealth_rgbcomp", "rgb", True),
])
def test_stealth_metadata(magic: bytes, channel: str, compress: bool) -> None:
    comment = json.dumps({"prompt": "a fox", "steps": 28, "sampler": "k_euler", "seed": 7}).encode()
    image = hide(Image.new("RGBA", (96, 80), (200, 180, 160, 255)), magic, gzip.compress(comment) if compress
                 else comment, channel)
    text = read_stealth(image)
    assert text is not None and text.startswith(magic.decode()) and "a fox" in text
    assert hints(read_metadata(image)) == {AI}


def test_stealth_garbage_never_raises() -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 50, 4), dtype=np.uint8), "RGBA")
    assert read_stealth(noisy) is None
    broken = hide(Image.new("RGBA", (40, 40), (1, 2, 3, 255)), b"stealth_pngcomp", b"\x1f\x8b not gzip")
    assert read_stealth(broken) == "stealth_pngcomp (compressed payload unreadable)"
    too_long = hide(Image.new("RGBA", (40, 40), (1, 2, 3, 255)), b"stealth_pnginfo", b"")
    assert read_stealth(too_long) == "stealth_pnginfo (invalid payload length 0 bits)"


@pytest.mark.parametrize(("term", "expected"), [
    ("trainedAlgorithmicMedia", Hint.AI), ("compositeWithTrainedAlgorithmicMedia", Hint.AI),
    ("algorithmicMedia", Hint.NONE), ("digitalCapture", Hint.REAL),
])
def test_xmp_digital_source_type(term: str, expected: Hint) -> None:
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.format(term=term))
    assert summarize(read_metadata(reencode(small(), "PNG", pnginfo=info))) == expected
    assert summarize(read_metadata(reencode(small(), "JPEG", xmp=XMP.format(term=term).encode()))) == expected


def test_xmp_raw_packet_fallback() -> None:
    # A container whose XMP Pillow does not expose: the packet is found in the file's bytes.
    data = b"\x00\x01junk" + XMP.format(term="trainedAlgorithmicMedia").encode() + b"\x00tail"
    assert summarize(read_metadata(small(), data)) == Hint.AI


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_corrupt_metadata_never_raises() -> None:
    image = png_with(parameters="\x00\x01\x02" * 50, prompt="{" * 500, workflow='{"nodes": 5}')
    image.info["exif"] = b"Exif\x00\x00MM\x00*garbage"
    image.info["xmp"] = b"<x:xmpmeta><unclosed"
    assert read_metadata(image, b"<x:xmpmeta" + bytes(100)) == []
    assert read_metadata(small("P")) == [] and read_metadata(small("I;16"), b"") == []


def test_midjourney_description() -> None:
    image = png_with(Author="someone", Description="a lighthouse at dusk --ar 3:2 Job ID: 2a1e4f0c-9b7d-4c1e-8f00-1")
    signals = read_metadata(image)
    assert hints(signals) == {AI} and "Midjourney" in signals[0].evidence


def test_unterminated_raw_xmp_is_ignored() -> None:
    assert read_metadata(small(), b"<x:xmpmeta digitalsourcetype/trainedAlgorithmicMedia" + bytes(1000)) == []
