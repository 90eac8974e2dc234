"""IPTC and XMP source statements read exactly: which packets are found, which property values come out, which
IIM datasets are read, and the limits that keep a crafted file cheap.

Packets and IIM blocks are written here by hand from the XMP specification (part 1: the ``x:xmpmeta`` wrapper,
simple properties as attributes or elements, ``rdf:Alt``/``rdf:Seq`` items) and the IPTC-IIM 4.2 record layout
(``0x1C``, record, dataset, a 2-byte big-endian size; a set high bit means an extended length) inside a Photoshop
image resource ``8BIM 0x0404`` (a Pascal name padded to an even length, then a 4-byte size). The cases come from
faults the other provenance tests let through (``benchmarks/mutation.py``).
"""

from __future__ import annotations

import logging
import struct

import pytest
from PIL import Image

from sentry_image.provenance.iptc import MAX_PACKET, iim_datasets, iim_facts, xmp_facts, xmp_packets, xmp_values
from tests.helpers import metadata_writers as w

pytestmark = pytest.mark.core

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"


def bare() -> Image.Image:
    return Image.new("RGB", (8, 8))


def raw_packet(body: str = "") -> bytes:
    return f"<x:xmpmeta>{body}</x:xmpmeta>".encode()


def record(dataset: int, text: str | bytes, rec: int = 2) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return bytes([0x1C, rec, dataset]) + struct.pack(">H", len(raw)) + raw


def resource(iim: bytes, name: bytes = b"", size: int | None = None) -> bytes:
    """Photoshop image resource 0x0404: ``8BIM``, the id, a Pascal name padded to even length, size, data."""
    pascal = bytes([len(name)]) + name
    pascal += b"\x00" * (len(pascal) % 2)
    return b"8BIM\x04\x04" + pascal + struct.pack(">I", len(iim) if size is None else size) + iim


# --- XMP packets: from the container, else from the file's bytes -------------------------------------------------

def test_container_packets_are_returned_as_text() -> None:
    packet = w.xmp_packet({"xmp:CreatorTool": "Tool"})
    for image, _ in (w.jpeg(xmp=packet), w.webp(xmp=packet)):
        assert xmp_packets(image, b"") == [packet]
    for key, value in (("xmp", packet.encode()), ("XML:com.adobe.xmp", packet)):  # bytes (JPEG, WebP), str (PNG)
        image = bare()
        image.info[key] = value
        assert xmp_packets(image, b"") == [packet]


def test_container_packet_wins_over_the_bytes() -> None:
    image, _ = w.jpeg(xmp=raw_packet("inside").decode())
    assert xmp_packets(image, b"junk" + raw_packet("outside")) == ["<x:xmpmeta>inside</x:xmpmeta>"]


def test_packet_with_invalid_utf8_is_replaced() -> None:
    image = bare()
    image.info["xmp"] = b"<x:xmpmeta>caf\xe9</x:xmpmeta>"
    assert xmp_packets(image, b"") == ["<x:xmpmeta>caf\ufffd</x:xmpmeta>"]
    assert xmp_packets(bare(), b"<x:xmpmeta>caf\xe9</x:xmpmeta>") == ["<x:xmpmeta>caf\ufffd</x:xmpmeta>"]


def test_other_info_keys_are_not_packets() -> None:
    image = bare()
    image.info.update({"comment": "<x:xmpmeta>c</x:xmpmeta>", "xmp": 7, "Title": "XML"})
    assert xmp_packets(image, b"..." + raw_packet("file")) == ["<x:xmpmeta>file</x:xmpmeta>"]


def test_raw_packets_are_cut_at_their_closing_tag() -> None:
    data = b"\x00junk" + raw_packet("one") + b"middle" + raw_packet("two") + b"tail"
    assert xmp_packets(bare(), data) == ["<x:xmpmeta>one</x:xmpmeta>", "<x:xmpmeta>two</x:xmpmeta>"]


def test_raw_scan_keeps_eight_packets() -> None:
    data = b"".join(raw_packet(str(i)) + b" " for i in range(9))
    assert xmp_packets(bare(), data) == [f"<x:xmpmeta>{i}</x:xmpmeta>" for i in range(8)]


def test_unclosed_raw_packet_ends_the_scan() -> None:
    data = raw_packet("a") + b"<x:xmpmeta>open" + b" " * 50 + raw_packet("b")[11:]  # "b</x:xmpmeta>" closes "open"
    assert xmp_packets(bare(), data) == ["<x:xmpmeta>a</x:xmpmeta>", "<x:xmpmeta>open" + " " * 50 + "b</x:xmpmeta>"]
    assert xmp_packets(bare(), raw_packet("a") + b"<x:xmpmeta>never closed") == ["<x:xmpmeta>a</x:xmpmeta>"]


def test_raw_packet_may_span_max_packet_bytes_not_more() -> None:
    filler = MAX_PACKET - len(raw_packet())
    assert [len(p) for p in xmp_packets(bare(), raw_packet("x" * filler))] == [MAX_PACKET]
    assert xmp_packets(bare(), raw_packet("x" * (filler + 1))) == []


def test_container_packet_is_cut_at_max_packet() -> None:
    image = bare()
    image.info["xmp"] = raw_packet("x" * MAX_PACKET)
    assert [len(p) for p in xmp_packets(image, b"")] == [MAX_PACKET]


# --- XMP property values -----------------------------------------------------------------------------------------

def test_attribute_values_of_any_prefix() -> None:
    packet = '<rdf:Description xmp:CreatorTool="Tool A" my:CreatorTool="Tool B" xmp:CreatorToolX="no"/>'
    assert xmp_values(packet, "CreatorTool") == ["Tool A", "Tool B"]


def test_element_values_items_and_text() -> None:
    packet = (w.alt("dc:description", "first") + "<dc:description><rdf:Seq><rdf:li>a</rdf:li><rdf:li>b</rdf:li>"
              "</rdf:Seq></dc:description><exif:description> plain <b>bold</b> text </exif:description>")
    assert xmp_values(packet, "description") == ["first", "a", "b", "plain bold text"]


def test_values_are_unescaped_stripped_and_empty_ones_dropped() -> None:
    packet = ('<x:Credit>  A &amp; B  </x:Credit><x:Credit>   </x:Credit><x:Credit></x:Credit>'
              '<d x:Credit="&lt;C&gt;" y:Credit=" "/>')
    assert xmp_values(packet, "Credit") == ["<C>", "A & B"]


def test_unclosed_element_gives_nothing() -> None:
    assert xmp_values("<dc:description>open text", "description") == []
    assert xmp_values("<dc:description>open</xmp:description>", "description") == []  # closed by another prefix


def test_only_sixteen_elements_are_read() -> None:
    packet = "".join(f"<dc:title>t{i}</dc:title>" for i in range(20))
    assert xmp_values(packet, "title") == [f"t{i}" for i in range(16)]


def test_element_closing_tag_farther_than_max_packet_is_not_looked_for() -> None:
    assert xmp_values("<dc:title>" + "x" * MAX_PACKET + "</dc:title>", "title") == []
    assert xmp_values("<dc:title>" + "x" * (MAX_PACKET - 12) + "</dc:title>", "title") == ["x" * (MAX_PACKET - 12)]


# --- XMP facts ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "code"), [
    ("https://example.org/codes/trainedAlgorithmicMedia/", "trainedAlgorithmicMedia"),
    ("trainedAlgorithmicMedia", "trainedAlgorithmicMedia"), ("https://example.org/codes/myCodeX", "myCodeX"),
])
def test_source_type_in_a_default_namespace_is_read_from_the_parsed_xmp(value: str, code: str) -> None:
    # no prefix and no cv.iptc.org URI: only the XML parser sees it; a second rdf:Description makes a list
    element = f'<DigitalSourceType xmlns="{EXT}">{value}</DigitalSourceType>'
    packet = w.xmp_packet({"xmp:CreatorTool": "x"}).replace(
        "</rdf:Description>", f'</rdf:Description><rdf:Description rdf:about="">{element}</rdf:Description>')
    image, data = w.jpeg(xmp=packet)
    assert xmp_facts(image, data).source_types == {code}


def test_unparsable_xmp_is_still_scanned(caplog: pytest.LogCaptureFixture) -> None:
    image = bare()
    image.info["xmp"] = f'<x:xmpmeta><a Iptc4xmpExt:DigitalSourceType="{DST}digitalCapture"'.encode()
    with pytest.raises(Exception) as parse_error:
        image.getxmp()
    with caplog.at_level(logging.DEBUG, logger="sentry_image.provenance.iptc"):
        assert xmp_facts(image, b"").source_types == {"digitalCapture"}
    assert [r.getMessage() for r in caplog.records] == [f"getxmp failed: {parse_error.value}"]


def test_source_type_values_without_the_iptc_uri() -> None:
    packet = w.xmp_packet({"Iptc4xmpExt:DigitalSourceType": "https://example.org/v/compositeCapture"},
                          "<Iptc4xmpExt:DigitalSourceType>digitalCapture</Iptc4xmpExt:DigitalSourceType>")
    image, data = w.jpeg(xmp=packet)
    assert xmp_facts(image, data).source_types == {"compositeCapture", "digitalCapture"}


def test_source_type_uri_outside_the_property_is_not_a_source_type() -> None:
    packet = w.xmp_packet({"xmp:Label": DST + "trainedAlgorithmicMedia"})
    image, data = w.jpeg(xmp=packet)
    assert xmp_facts(image, data).source_types == set()


def test_software_and_record_fields_in_order() -> None:
    packet = w.xmp_packet({"xmp:CreatorTool": "Tool", "photoshop:Credit": "Credit line",
                           "Iptc4xmpExt:AISystemUsed": "Gen 2", "tiff:ImageDescription": "desc"},
                          w.alt("dc:description", "words") + w.alt("exif:UserComment", "note"))
    image, data = w.jpeg(xmp=packet)
    assert xmp_facts(image, data).fields == [
        ("XMP CreatorTool", "Tool"), ("XMP Credit", "Credit line"), ("XMP AISystemUsed", "Gen 2"),
        ("XMP description", "words"), ("XMP UserComment", "note"), ("XMP ImageDescription", "desc")]
    two = raw_packet('<d xmp:CreatorTool="A"/>') + raw_packet('<d xmp:CreatorTool="B"/>')  # every packet counts
    assert xmp_facts(bare(), two).fields == [("XMP CreatorTool", "A"), ("XMP CreatorTool", "B")]


@pytest.mark.parametrize(("history", "edits"), [
    ('<rdf:li stEvt:action="edited" stEvt:parameters="Generative Fill"/>', ["Generative Fill"]),
    ('<rdf:li stEvt:changed="generative expand; firefly"/>', ["generative expand", "firefly"]),
    ("<rdf:li><stEvt:action>Generative Remove</stEvt:action><stEvt:parameters>Generative Upscale"
     "</stEvt:parameters></rdf:li>", ["Generative Remove", "Generative Upscale"]),
    ("<photoshop:History>Generative Extend &amp; more</photoshop:History>", ["Generative Extend"]),
    ('<rdf:li stEvt:parameters="Generative&#32;Fill"/>', ["Generative Fill"]),
    ('<rdf:li stEvt:softwareAgent="Generative Fill 1.0" stEvt:action="saved"/>', []),  # not an event field
    ('<rdf:li stEvt:action="Generative Filler"/>', []),  # a whole word only
])
def test_generative_edits_in_the_editing_history(history: str, edits: list[str]) -> None:
    image, data = w.jpeg(xmp=w.xmp_packet(elements=history))
    assert xmp_facts(image, data).generative_edits == edits


def test_history_field_is_read_up_to_2000_characters() -> None:
    near = '<rdf:li stEvt:parameters="' + "x " * 990 + 'Generative Fill"/>'  # ends at character 1995
    far = '<rdf:li stEvt:parameters="' + "x " * 1000 + 'Generative Fill"/>'  # 2015: past the bound
    assert xmp_facts(*w.jpeg(xmp=w.xmp_packet(elements=near))).generative_edits == ["Generative Fill"]
    assert xmp_facts(*w.jpeg(xmp=w.xmp_packet(elements=far))).generative_edits == []


# --- IPTC-IIM ----------------------------------------------------------------------------------------------------

def test_iim_datasets_named_in_order() -> None:
    block = (record(0, b"\x00\x04") + record(25, "kw") + record(65, "Prog") + record(110, "Cred") + record(115, "Src")
             + record(120, "Cap") + record(5, "Object name") + record(110, "caf\xe9".encode("latin-1")))
    assert iim_datasets(block) == [("IPTC Keywords", "kw"), ("IPTC OriginatingProgram", "Prog"),
                                   ("IPTC Credit", "Cred"), ("IPTC Source", "Src"), ("IPTC Caption", "Cap"),
                                   ("IPTC Credit", "caf\ufffd")]


def test_iim_other_records_are_skipped_not_stopping() -> None:
    block = record(110, "envelope", rec=1) + record(110, "app", rec=2) + record(110, "digest", rec=3)
    assert iim_datasets(block) == [("IPTC Credit", "app")]


def test_iim_stops_at_a_bad_marker_or_an_extended_length() -> None:
    assert iim_datasets(record(110, "a") + b"\x1d" + record(110, "b")[1:]) == [("IPTC Credit", "a")]
    extended = bytes([0x1C, 2, 110, 0x80, 0x04]) + struct.pack(">I", 3) + b"big"
    assert iim_datasets(record(110, "a") + extended + record(110, "b")) == [("IPTC Credit", "a")]


def test_iim_header_needs_five_bytes() -> None:
    assert iim_datasets(record(110, "")) == [("IPTC Credit", "")]  # a 5-byte header and no data
    assert iim_datasets(record(110, "a") + record(110, "")[:4]) == [("IPTC Credit", "a")]
    assert iim_datasets(b"") == []


def test_iim_reads_at_most_4096_datasets() -> None:
    assert len(iim_datasets(record(110, "x") * 4100)) == 4096


@pytest.mark.parametrize("name", [b"", b"a", b"ab", b"abc"])
def test_iim_block_found_in_the_bytes_behind_any_pascal_name(name: bytes) -> None:
    # the resource's own size ends the block, and the first resource is the one read
    data = (b"\xff\xd8junk" + resource(record(25, DST + "trainedAlgorithmicMedia") + record(110, "Made with Google AI"),
                                       name) + record(110, "after") + resource(record(110, "second"), name))
    facts = iim_facts(bare(), data)
    assert facts.fields == [("IPTC Credit", "Made with Google AI")]  # Keywords only count for the source type
    assert facts.source_types == {"trainedAlgorithmicMedia"}


def test_iim_block_from_the_container_wins() -> None:
    image, _ = w.jpeg(app13=w.iim([(65, "Inside")]))
    assert iim_facts(image, resource(record(65, "Outside"))).fields == [("IPTC OriginatingProgram", "Inside")]


def test_iim_block_is_read_to_one_mib() -> None:
    filler = record(0, b"\x00" * 32000)  # 32,005 bytes of a dataset we do not read
    block = filler * 32 + record(110, "inside") + filler + record(110, "outside")  # "outside" starts past 1 MiB
    assert iim_facts(bare(), resource(block)).fields == [("IPTC Credit", "inside")]


def test_iim_resource_is_looked_for_in_the_first_16_mib() -> None:
    block = resource(record(110, "found"))
    assert iim_facts(bare(), b"\x00" * ((16 << 20) - 6) + block).fields == [("IPTC Credit", "found")]
    assert iim_facts(bare(), b"\x00" * ((16 << 20) - 5) + block).fields == []


def test_iim_record_running_past_its_resource_is_cut_there() -> None:
    data = resource(record(110, "abc")[:-1]) + b"Z" + record(110, "after")
    assert iim_facts(bare(), data).fields == [("IPTC Credit", "ab")]


def test_iim_resource_cut_short_reads_nothing() -> None:
    assert iim_facts(bare(), b"xx8BIM\x04\x04").fields == []
    assert iim_facts(bare(), b"xx8BIM\x04\x04\x00\x00\x00\x00").fields == []
