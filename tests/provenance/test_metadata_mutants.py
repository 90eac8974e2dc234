"""read_metadata's exact findings: the words of each signal, the order they are joined in, which EXIF tags and
text chunks are read and how, when a camera is believed, and which software counts as an editor.

Files are built with the writers' own layouts (``tests/helpers/metadata_writers.py``: hand-built EXIF with a chosen
byte order, XMP packets, IIM blocks, LSB payloads); each expected evidence string is worked out from the rules the
module documents (one strong AI signal joining every distinct finding, then the camera, then the editor). The
cases come from faults the other provenance tests let through (``benchmarks/mutation.py``).
"""

from __future__ import annotations

import json
import logging

import pytest

from sentry_image.provenance import metadata
from sentry_image.provenance.metadata import decode_user_comment, read_metadata
from sentry_image.provenance.metadata_writers import MAX_JSON
from sentry_image.types import Hint, Signal, Strength
from tests.helpers import metadata_writers as w

pytestmark = pytest.mark.core

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
X = "Shot on iPhone X"  # ends in a letter the trimming must keep
INFOTEXT = "a duck\nSteps: 20, Sampler: Euler a"
FOUND = "A1111-style generation parameters in {key}: a duck Steps: 20, Sampler: Euler a"


def ai(*findings: str) -> Signal:
    return Signal("metadata", Hint.AI, "Generator metadata: " + "; ".join(findings), Strength.STRONG)


def camera(make: str, model: str) -> Signal:
    return Signal("exif", Hint.REAL, f"Camera EXIF: Make '{make}', Model '{model}'", Strength.WEAK)


def edited(name: str) -> Signal:
    return Signal("metadata", Hint.NONE, f"Edited with {name}", Strength.INFO)


def exif_jpeg(ifd0: dict[int, str | tuple[int, bytes]], exif_ifd: dict[int, tuple[int, bytes]] | None = None,
              big_endian: bool = True) -> w.Written:
    tags = {tag: w.ascii_tag(v) if isinstance(v, str) else v for tag, v in ifd0.items()}
    return w.jpeg(exif=w.tiff(tags, exif_ifd, big_endian))


# --- decode_user_comment -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "text"), [
    (f" {X}\x00 ", X),  # already text: only trimmed
    (b"UNICODE\x00\xfe\xff" + f"{X}\x00".encode("utf-16-be"), X),  # the BOM says big-endian
    (b"UNICODE\x00\xff\xfe" + "ab".encode("utf-16-le") + b"c", "ab\ufffd"),  # an odd byte is replaced
    (b"UNICODE\x00" + f"{X}\x00".encode("utf-16-le"), X),
    (b"UNICODE\x00" + "ab".encode("utf-16-le") + b"c", "ab\ufffd"),
    (b"JIS\x00\x00\x00\x00\x00" + "日本 X\x00".encode("shift_jis"), "日本 X"),
    (b"JIS\x00\x00\x00\x00\x00" + b"\x81", "\ufffd"),  # a lead byte without its trail byte
    (b"ASCII\x00\x00\x00caf\xe9 \x00\x00", "caf\ufffd"), (b"ASCII\x00\x00\x00" + f"{X}\x00".encode(), X),
    (b"\x00" * 8 + b"  plain\x00", "plain"),
    (b"Screenshot taken X\x00", "Screenshot taken X"), (b"caf\xe9 au lait", "caf\ufffd au lait"),  # no prefix
])
def test_user_comment_every_charset(raw: bytes | str, text: str) -> None:
    assert decode_user_comment(raw) == text


def test_user_comment_is_read_to_32_mib() -> None:
    cap = 2 * MAX_JSON
    assert decode_user_comment(b"\x00" * 8 + b"a" * cap + b"b") == "a" * cap
    assert decode_user_comment(b"a" * cap + b"b") == "a" * cap  # no charset prefix: the whole value, cut alike


def test_user_comment_byte_order_from_ascii_like_text_else_the_file() -> None:
    # "hi" leaves a zero byte in every pair: where the zeros sit gives the byte order, whatever the file says
    assert decode_user_comment(b"UNICODE\x00" + "hi".encode("utf-16-be"), big_endian=False) == "hi"
    assert decode_user_comment(b"UNICODE\x00" + "hi".encode("utf-16-le"), big_endian=True) == "hi"
    # "日本" has no zero byte: the file's byte order decides, little-endian unless told
    assert decode_user_comment(b"UNICODE\x00" + "日本".encode("utf-16-le")) == "日本"
    assert decode_user_comment(b"UNICODE\x00" + "日本".encode("utf-16-be"), big_endian=True) == "日本"


@pytest.mark.parametrize("big_endian", [True, False])
@pytest.mark.parametrize("in_ifd0", [True, False])  # the Exif IFD, or IFD0 where Fooocus writes it
def test_user_comment_in_the_files_byte_order(big_endian: bool, in_ifd0: bool) -> None:
    # 26 characters U+4E00 (a zero low byte) balance the 26 ASCII ones: only the file's byte order can decode it
    text = "一" * 26 + "\nSteps: 20, Sampler: Euler"
    comment = {0x9286: w.user_comment(text, "utf-16-be" if big_endian else "utf-16-le")}
    signals = read_metadata(*exif_jpeg(comment if in_ifd0 else {}, None if in_ifd0 else comment, big_endian))
    assert signals == [ai(f"EXIF A1111-style generation parameters in UserComment: {text.replace(chr(10), ' ')}")]


# --- text chunks and comments -------------------------------------------------------------------------------------

def test_png_text_finding_in_words() -> None:
    assert read_metadata(*w.png({"parameters": INFOTEXT})) == [ai(FOUND.format(key="parameters"))]


def test_jpeg_comment_is_read() -> None:
    assert read_metadata(*w.jpeg(comment=INFOTEXT.encode() + b"\xff")) == [
        ai(FOUND.format(key="comment") + "\ufffd")]


def test_xml_keys_are_not_text_chunks() -> None:
    assert read_metadata(*w.png({"XML:com.example": INFOTEXT})) == []


@pytest.mark.parametrize(("scheme", "shown"), [("fooocus", "fooocus"), ("a" * 25, "a" * 17 + "...")])
def test_fooocus_scheme_chunk(scheme: str, shown: str) -> None:
    assert read_metadata(*w.png({"fooocus_scheme": scheme})) == [ai(f"Fooocus metadata scheme '{shown}'")]


def test_empty_fooocus_scheme_says_nothing() -> None:
    assert read_metadata(*w.png({"fooocus_scheme": ""})) == []


# --- EXIF tags -----------------------------------------------------------------------------------------------------

def test_exif_findings_are_prefixed_and_in_tag_order() -> None:
    signals = read_metadata(*exif_jpeg({0x0131: "NovelAI", 0x010E: INFOTEXT, 0x013B: "Made with Google AI"}))
    assert signals == [ai("EXIF Software 'NovelAI'", "EXIF " + FOUND.format(key="ImageDescription"))]


@pytest.mark.parametrize("scheme", ["A1111", "Fooocus"])
def test_fooocus_maker_note_scheme(scheme: str) -> None:
    signals = read_metadata(*exif_jpeg({0x0131: "Fooocus v2.5.5", 0x927C: f" {scheme}"}))
    assert signals == [ai("EXIF Software 'Fooocus v2.5.5'", f"Fooocus metadata scheme '{scheme}' in EXIF MakerNote")]


@pytest.mark.parametrize("ifd0", [
    {0x0131: "GIMP 2.10", 0x927C: "fooocus"},  # the scheme name alone, without Fooocus as the software
    {0x0131: "Fooocus v2.5.5", 0x927C: "fooocus v2"},  # not a scheme name
    {0x927C: "fooocus"},  # no Software at all
])
def test_maker_note_alone_is_not_fooocus(ifd0: dict[int, str]) -> None:
    assert not [s for s in read_metadata(*exif_jpeg(ifd0)) if "MakerNote" in s.evidence]


def test_binary_maker_note_is_never_read() -> None:
    # a camera's MakerNote is binary (UNDEFINED); even one holding the word is no Fooocus scheme, nor a record
    signals = read_metadata(*exif_jpeg({0x0131: "Fooocus v2.5.5", 0x927C: (w.UNDEFINED, b"fooocus")}))
    assert signals == [ai("EXIF Software 'Fooocus v2.5.5'")]
    assert read_metadata(*exif_jpeg({0x927C: INFOTEXT})) == []  # a text MakerNote is no record either


@pytest.mark.parametrize(("raw", "tail"), [
    (f"{INFOTEXT} X\x00".encode("utf-16-le"), " X"), (INFOTEXT.encode("utf-16-le") + b"!", "\ufffd"),  # odd byte
])
def test_xp_comment_is_utf16le(raw: bytes, tail: str) -> None:
    comment = (1, raw)  # BYTE array, as Windows writes it
    assert read_metadata(*exif_jpeg({0x9C9C: comment})) == [ai("EXIF " + FOUND.format(key="XPComment") + tail)]


def test_byte_tuples_are_read_as_bytes() -> None:
    image, data = w.png()
    image.getexif()[0x9C9C] = tuple(INFOTEXT.encode("utf-16-le"))  # some Pillow paths give BYTE arrays as tuples
    assert read_metadata(image, data) == [ai("EXIF " + FOUND.format(key="XPComment"))]


def test_text_tags_are_trimmed_of_nul_and_spaces_only() -> None:
    signals = read_metadata(*exif_jpeg({0x010F: "Canon ", 0x0110: "PowerShot G1 X\x00"}))
    assert signals == [camera("Canon", "PowerShot G1 X")]


def test_undefined_text_tags_are_utf8() -> None:
    tags = {0x010F: (w.UNDEFINED, b"Canon\x00 "), 0x0110: (w.UNDEFINED, b"PowerShot G1 X\x00")}
    assert read_metadata(*exif_jpeg(tags)) == [camera("Canon", "PowerShot G1 X")]
    tags[0x0110] = (w.UNDEFINED, b"EOS \xe9")
    assert read_metadata(*exif_jpeg(tags)) == [camera("Canon", "EOS \ufffd")]


@pytest.mark.parametrize("field", ["comment", "ascii", "undefined", "xp"])
def test_text_fields_are_read_to_32_mib(field: str) -> None:
    # a graph padded with spaces to the 2 * MAX_JSON a field is read to, then junk: cut there, the padding trims
    # away and the graph is found; read any further, the junk would make it one oversized non-JSON value
    graph = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}})
    cap = 2 * MAX_JSON
    image, data = w.png()
    if field == "comment":
        image.info["comment"] = graph.encode().ljust(cap) + b"x"
    elif field == "xp":
        image.getexif()[0x9C9C] = (graph.ljust(cap // 2) + "x").encode("utf-16-le")
    else:
        padded = graph.ljust(cap) + "x"
        image.getexif()[0x010E] = padded if field == "ascii" else padded.encode()
    found = {"comment": "ComfyUI prompt graph in comment", "xp": "EXIF ComfyUI prompt graph in XPComment"}.get(
        field, "EXIF ComfyUI prompt graph in ImageDescription")
    assert read_metadata(image, data) == [ai(found)]


def test_number_tuples_are_not_text() -> None:
    image, data = w.jpeg(exif=w.tiff({0x010F: w.ascii_tag("Canon")}))
    image.getexif()[0x9C9C] = (256, 65)  # a SHORT array: not bytes, so not read, and the rest still is
    image.getexif()[0x010E] = (0x4E00,)
    assert read_metadata(image, data) == [camera("Canon", "")]


def test_exif_ifd_user_comment_wins_over_ifd0() -> None:
    ifd0 = {0x9286: INFOTEXT}  # Fooocus' place for it
    assert read_metadata(*exif_jpeg(ifd0, {0x9286: w.user_comment("Screenshot")})) == []
    assert read_metadata(*exif_jpeg(ifd0, {0x9286: (w.UNDEFINED, b"")})) == [
        ai("EXIF " + FOUND.format(key="UserComment"))]


# --- cameras -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "model", "believed"), [
    ("Canon", "", True), ("", "EOS R5", False), ("A" * 50, "B" * 45, True), ("A" * 50, "B" * 46, False),
    ("Canon", "EOS\tR5", False), ("Canon", "{EOS}", False), ("Canon", "Stable Diffusion", False),
    ("Prompt: a cat", "x", False), ("workflow:  x", "y", False), ("Workflows Inc", "W1", True),
])
def test_when_camera_exif_is_believed(make: str, model: str, believed: bool) -> None:
    tags = {tag: v for tag, v in ((0x010F, make), (0x0110, model)) if v}
    expected = [camera(make, model)] if believed else []
    assert [s for s in read_metadata(*exif_jpeg(tags)) if s.hint == Hint.REAL] == expected


@pytest.mark.parametrize("term", ["digitalCapture", "computationalCapture"])
def test_capture_source_type_stands_in_for_a_camera(term: str) -> None:
    capture = Signal("metadata", Hint.REAL, "XMP DigitalSourceType digitalCapture", Strength.WEAK)
    packet = w.xmp_packet({"Iptc4xmpExt:DigitalSourceType": DST + term})
    assert read_metadata(*w.jpeg(xmp=packet)) == [capture]
    assert read_metadata(*w.jpeg(app13=w.iim([(115, DST + term)]))) == [capture]
    with_camera = w.jpeg(exif=w.tiff({0x010F: w.ascii_tag("Canon")}), xmp=packet)
    assert read_metadata(*with_camera) == [camera("Canon", "")]


# --- XMP, IPTC and stealth findings -------------------------------------------------------------------------------

def test_source_findings_sorted_labelled_and_unique() -> None:
    packet = w.xmp_packet({"xmp:CreatorTool": "Adobe Firefly"}, (
        f"<Iptc4xmpExt:DigitalSourceType>{DST}trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>"
        f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{DST}compositeWithTrainedAlgorithmicMedia"/>'
        '<rdf:li stEvt:parameters="Generative Fill"/><rdf:li stEvt:parameters="Generative Fill"/>'))
    iim = w.iim([(65, "Midjourney"), (110, DST + "trainedAlgorithmicMedia")])
    # PNG keeps the packet twice (as XML:com.adobe.xmp and xmp): each finding is still said once
    for written in (w.jpeg(xmp=packet, app13=iim), w.png(xmp=packet)):
        found = read_metadata(*written)[0].evidence.removeprefix("Generator metadata: ").split("; ")
        assert found[:4] == ["XMP DigitalSourceType compositeWithTrainedAlgorithmicMedia",
                             "XMP DigitalSourceType trainedAlgorithmicMedia", "XMP CreatorTool 'Adobe Firefly'",
                             "XMP editing history records 'Generative Fill' (a generative edit)"]
    assert found == found[:4]
    assert read_metadata(*w.jpeg(xmp=packet, app13=iim))[0].evidence.endswith(
        "; IPTC-IIM DigitalSourceType trainedAlgorithmicMedia; IPTC OriginatingProgram 'Midjourney'")


def test_stealth_finding_in_words() -> None:
    written = w.stealth(w.base("RGBA", (40, 40)), b"hello", b"stealth_pnginfo")
    assert read_metadata(*written) == [ai("stealth metadata in pixel LSBs, stealth_pnginfo: hello")]


# --- editors -------------------------------------------------------------------------------------------------------

def test_editor_named_by_the_first_field_that_names_one() -> None:
    packet = w.xmp_packet({"xmp:CreatorTool": "Adobe Photoshop 25.0", "photoshop:Credit": "GIMP"})
    written = w.jpeg(exif=w.tiff({0x0131: w.ascii_tag("Snapseed 2.0")}), xmp=packet,
                     app13=w.iim([(65, "Lightroom")]))
    assert read_metadata(*written) == [edited("Snapseed 2.0")]
    assert read_metadata(*w.jpeg(xmp=packet, app13=w.iim([(65, "Lightroom")]))) == [edited("Adobe Photoshop 25.0")]
    assert read_metadata(*w.jpeg(app13=w.iim([(110, "GIMP"), (65, "Lightroom 6")]))) == [edited("Lightroom 6")]
    assert read_metadata(*w.png({"Software": "paint.net 5.0"})) == [edited("paint.net 5.0")]


def test_editor_name_is_shown_on_eighty_characters_and_searched_in_4096() -> None:
    long = "GIMP " + "x" * 80
    assert read_metadata(*w.png({"Software": long})) == [edited(long[:77] + "...")]
    assert read_metadata(*w.png({"Software": "x" * 4091 + " GIMP"})) == [edited("x" * 77 + "...")]
    assert read_metadata(*w.png({"Software": "x" * 4092 + " GIMP"})) == []


def test_signals_come_ai_camera_editor() -> None:
    written = exif_jpeg({0x010F: "Canon", 0x0110: "EOS R5", 0x0131: "Adobe Photoshop (NovelAI)"})
    assert read_metadata(*written) == [ai("EXIF Software 'Adobe Photoshop (NovelAI)'"), camera("Canon", "EOS R5"),
                                       edited("Adobe Photoshop (NovelAI)")]


# --- one malformed part never hides the others --------------------------------------------------------------------

@pytest.mark.parametrize(("reader", "part"), [
    ("_texts", "text chunks"), ("_exif", "EXIF"), ("xmp_facts", "XMP"), ("iim_facts", "IPTC-IIM"),
    ("read_stealth", "stealth metadata"),
])
def test_a_failing_part_is_logged_and_skipped(reader: str, part: str, caplog: pytest.LogCaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # a PNG with a record in its text chunks and a generator in its EXIF: whichever reader breaks, the rest is read
    image, data = w.png({"parameters": INFOTEXT}, exif=w.tiff({0x0131: w.ascii_tag("NovelAI")}))

    def broken(*_: object) -> None:
        raise ValueError("malformed block")

    monkeypatch.setattr(metadata, reader, broken)
    with caplog.at_level(logging.INFO, logger="sentry_image.provenance.metadata"):
        signals = read_metadata(image, data)
    found = [f for f, lost in ((FOUND.format(key="parameters"), "_texts"), ("EXIF Software 'NovelAI'", "_exif"))
             if lost != reader]
    assert signals == [ai(*found)]
    assert [r.getMessage() for r in caplog.records] == [f"metadata: cannot read {part}: malformed block"]
