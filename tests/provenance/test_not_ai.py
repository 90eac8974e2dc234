"""What is not AI: editors, camera apps, screenshots, re-saves and prompts that merely name a tool; and what is."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
from PIL import Image

from sentry_image.provenance import summarize
from sentry_image.provenance.metadata import read_metadata
from sentry_image.types import Hint
from tests.helpers import metadata_writers as w

pytestmark = pytest.mark.core

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def ai_hints(written: w.Written) -> list[str]:
    return [s.evidence for s in read_metadata(*written) if s.hint == Hint.AI]


@pytest.mark.parametrize("software", [
    "Adobe Photoshop 25.0 (Windows)", "GIMP 2.10.36", "Adobe Lightroom Classic 13.1 (Macintosh)", "Snapseed 2.0",
    "Instagram", "G998BXXU5CVDB",  # Samsung camera firmware
    "17.1.2",  # Apple camera: the iOS version
    "HDR+ 1.0.540104767zd",  # Google Pixel camera
    "Adobe Photoshop Express", "Picasa", "Windows Photo Editor 10.0.10011.16384",
])
@pytest.mark.parametrize("container", ["jpeg", "png-text"])
def test_editors_and_camera_apps_are_never_ai(software: str, container: str) -> None:
    if container == "jpeg":
        written = w.jpeg(exif=w.tiff({0x0131: w.ascii_tag(software)}))
    else:
        written = w.png({"Software": software})
    assert ai_hints(written) == []
    assert summarize(read_metadata(*written)) == Hint.NONE


def test_editor_in_xmp_creator_tool_is_context_only() -> None:
    written = w.jpeg(xmp=w.xmp_packet({"xmp:CreatorTool": "Adobe Photoshop 25.0 (Macintosh)"}))
    signals = read_metadata(*written)
    assert [(s.hint, s.evidence) for s in signals] == [(Hint.NONE, "Edited with Adobe Photoshop 25.0 (Macintosh)")]


def history(*events: tuple[str, str]) -> str:
    items = "".join(f'<rdf:li stEvt:action="{action}" stEvt:softwareAgent="Adobe Photoshop 25.0" '
                    f'stEvt:parameters="{parameters}"/>' for action, parameters in events)
    return f"<xmpMM:History><rdf:Seq>{items}</rdf:Seq></xmpMM:History>"


def test_photoshop_generative_fill_in_history_is_ai() -> None:
    packet = w.xmp_packet({"xmp:CreatorTool": "Adobe Photoshop 25.0 (Windows)"},
                          history(("created", ""), ("edited", "Generative Fill"), ("saved", "to image/jpeg")))
    evidence = ai_hints(w.jpeg(xmp=packet))
    assert len(evidence) == 1 and "Generative Fill" in evidence[0]


def test_ordinary_photoshop_history_is_not_ai() -> None:
    packet = w.xmp_packet({"xmp:CreatorTool": "Adobe Photoshop 25.0 (Windows)"},
                          history(("created", ""), ("converted", "from image/png to image/jpeg"), ("saved", "/")))
    assert ai_hints(w.jpeg(xmp=packet)) == []


def test_composite_with_trained_algorithmic_media_is_ai() -> None:
    packet = w.xmp_packet({"Iptc4xmpExt:DigitalSourceType": DST + "compositeWithTrainedAlgorithmicMedia",
                           "xmp:CreatorTool": "Adobe Photoshop 25.0 (Windows)"})
    signals = read_metadata(*w.jpeg(xmp=packet))
    assert summarize(signals) == Hint.AI
    assert any(s.hint == Hint.NONE and "Photoshop" in s.evidence for s in signals)  # the editor stays context


@pytest.mark.parametrize("written", [
    # macOS screenshot: EXIF UserComment and XMP exif:UserComment "Screenshot"
    lambda: w.png(exif=w.tiff({}, {0x9286: (7, b"ASCII\x00\x00\x00Screenshot")}),
                  xmp=w.xmp_packet({"exif:UserComment": "Screenshot", "exif:PixelXDimension": "640"})),
    lambda: w.png({"Software": "Greenshot"}), lambda: w.png({"Software": "gnome-screenshot"}),
    lambda: w.save(Image.open(io.BytesIO(w.png({"parameters": w.A1111})[1])).convert("RGB"), "JPEG"),
    lambda: w.save(w.base(), "PNG"), lambda: w.save(w.base(), "WEBP", lossless=True),
], ids=["macos-screenshot", "greenshot", "gnome-screenshot", "resaved-without-metadata", "png", "webp"])
def test_screenshots_and_resaves_say_nothing(written: Callable[[], w.Written]) -> None:
    assert ai_hints(written()) == []


@pytest.mark.parametrize("written", [
    lambda: w.png({"Description": "a castle at dusk, in the style of Midjourney"}),
    lambda: w.png({"Title": "My Stable Diffusion tutorial", "Comment": "made with love, not with DALL-E"}),
    lambda: w.jpeg(exif=w.tiff({0x010E: w.ascii_tag("Inspired by NovelAI and ComfyUI art")})),
    lambda: w.jpeg(exif=w.tiff({}, {0x9286: w.user_comment("Shot for a Midjourney vs. photo comparison")})),
    lambda: w.jpeg(xmp=w.xmp_packet(elements=w.alt("dc:description", "Fooocus-style lighting, Gemini festival"))),
    lambda: w.jpeg(xmp=w.xmp_packet(elements=w.alt("dc:title", "trainedAlgorithmicMedia explained"))),
    lambda: w.jpeg(app13=w.iim([(120, "Photo for an article about Adobe Firefly"), (25, "Midjourney")])),
], ids=["png-description", "png-title-comment", "exif-description", "user-comment", "xmp-description",
        "xmp-title-term", "iim-caption-keywords"])
def test_prompts_and_captions_that_name_a_tool_are_not_the_tool(written: Callable[[], w.Written]) -> None:
    assert ai_hints(written()) == []


@pytest.mark.filterwarnings("ignore:Corrupt EXIF", "ignore:Truncated File Read")
@pytest.mark.parametrize("written", [
    lambda: w.png({"parameters": "x" * (6 << 20)}),  # a huge text chunk
    lambda: w.png({"prompt": "[" * 200_000, "workflow": "{" * 200_000}),  # nesting past the parser's limit
    lambda: w.jpeg(exif=w.tiff({0x010F: w.ascii_tag("Canon")}, {0x9286: (7, b"UNICODE\x00\xff")})[:40]),
    lambda: w.jpeg(app13=w.iim([(110, "x")])[:-3] + b"\x1c\x02\x6e\xff\xff"),  # truncated IIM record
    lambda: w.png(xmp=w.xmp_packet(elements="<dc:description>" * 20_000)),  # unclosed elements
    lambda: w.png(xmp=w.xmp_packet({"exif:UserComment": '{"c": ' * 50_000})),
    lambda: w.stealth(w.base("RGBA", (64, 64)), b"\x1f\x8b" + b"\x00" * 300),  # gzip header, broken stream
], ids=["huge-text", "deep-json", "truncated-exif", "truncated-iim", "unclosed-xmp", "broken-json-xmp",
        "broken-stealth"])
def test_malformed_metadata_never_raises_nor_hangs(written: Callable[[], w.Written]) -> None:
    image, data = written()
    started = time.perf_counter()
    read_metadata(image, data)
    assert time.perf_counter() - started < 5.0
