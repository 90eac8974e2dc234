"""IPTC and XMP statements about an image's source: DigitalSourceType, producing software, editing history.

The IPTC Photo Metadata Standard defines Digital Source Type (``Iptc4xmpExt:DigitalSourceType``, values from
``http://cv.iptc.org/newscodes/digitalsourcetype/``) in the IPTC Extension schema, which exists in XMP only: the
legacy IIM record (JPEG APP13, Photoshop resource 0x0404) has no dataset for it. Some writers still leave the code's
URI in an IIM text dataset, so the IIM Credit / Source / OriginatingProgram / Keywords datasets are read too.
Everything here is read from bounded raw text, so a malformed packet costs its own facts, never the others'.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

logger = logging.getLogger(__name__)

AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture"})
MAX_PACKET = 4 << 20
_DST_RE = re.compile(r"digitalsourcetype/(\w+)", re.I)
#: XMP properties (local names, any prefix) whose value names software or carries a generation record.
XMP_FIELDS = ("CreatorTool", "Credit", "AISystemUsed", "description", "UserComment", "ImageDescription")
#: Editing events an editor records when a generative model made part of the pixels (Photoshop, Lightroom).
_GENERATIVE_EVENT_RE = re.compile(r"\bGenerative (?:Fill|Expand|Remove|Upscale|Extend)\b|\bFirefly\b", re.I)
_HISTORY_RE = re.compile(r"\b(?:stEvt:(?:action|parameters|changed)|photoshop:History)\s*=\s*\"([^\"]{0,2000})\""
                         r"|<(?:stEvt:(?:action|parameters)|photoshop:History)>([^<]{0,2000})<", re.I)
_IIM_NAMES = {25: "Keywords", 65: "OriginatingProgram", 110: "Credit", 115: "Source", 120: "Caption"}


@dataclass
class SourceFacts:
    """What the XMP and IIM blocks state: source-type codes, (field, value) pairs, generative edit events."""

    source_types: set[str] = field(default_factory=set)
    fields: list[tuple[str, str]] = field(default_factory=list)
    generative_edits: list[str] = field(default_factory=list)


def xmp_packets(image: Image.Image, data: bytes) -> list[str]:
    """The XMP packets Pillow exposes, else those found in the file's bytes (HEIF, some WebP/TIFF writers)."""
    packets = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
               for k, v in image.info.items() if k in ("xmp", "XML:com.adobe.xmp") and isinstance(v, bytes | str)]
    start = data.find(b"<x:xmpmeta") if not packets else -1
    while start >= 0 and len(packets) < 8:
        end = data.find(b"</x:xmpmeta>", start, start + MAX_PACKET)
        if end < 0:
            break
        packets.append(data[start : end + 12].decode("utf-8", "replace"))
        start = data.find(b"<x:xmpmeta", end)
    return [p[:MAX_PACKET] for p in packets]


def _walk(obj: Any, key: str) -> list[str]:
    if isinstance(obj, dict):
        return [str(v) for k, v in obj.items() if k == key and isinstance(v, str)] + [
            x for v in obj.values() for x in _walk(v, key)]
    if isinstance(obj, list):
        return [x for v in obj for x in _walk(v, key)]
    return []


def xmp_values(packet: str, name: str) -> list[str]:
    """Values of the property ``name`` (any prefix), as an attribute or an element (``rdf:Alt``/``Seq`` items)."""
    out = re.findall(rf"\b\w+:{name}=\"([^\"]*)\"", packet)
    for opening in list(re.finditer(rf"<(\w+):{name}\b[^>/]*>", packet))[:16]:
        # a bounded find per element, not a lazy regex: an unclosed element must not rescan the packet each time
        end = packet.find(f"</{opening.group(1)}:{name}>", opening.end(), opening.end() + MAX_PACKET)
        body = packet[opening.end() : end] if end >= 0 else ""
        items = re.findall(r"<rdf:li\b[^>]*>([^<]*)</rdf:li>", body)
        out += items or [re.sub(r"<[^>]*>", "", body)]
    return [html.unescape(v).strip() for v in out if v.strip()]


def xmp_facts(image: Image.Image, data: bytes) -> SourceFacts:
    """Source-type codes, software/record fields and generative edit events of the image's XMP."""
    facts = SourceFacts()
    try:
        parsed = image.getxmp()  # {} without defusedxml, or on malformed XML: the raw scan below still runs
        facts.source_types |= {t.rstrip("/").rsplit("/", 1)[-1] for t in _walk(parsed, "DigitalSourceType")}
    except Exception as exc:
        logger.debug("getxmp failed: %s", exc)
    for packet in xmp_packets(image, data):
        if "DigitalSourceType" in packet:  # attribute, element or rdf:resource form alike
            facts.source_types |= {m.group(1) for m in _DST_RE.finditer(packet)}
        for value in xmp_values(packet, "DigitalSourceType"):
            facts.source_types |= {m.group(1) for m in _DST_RE.finditer(value)} or {value.rsplit("/", 1)[-1]}
        facts.fields += [(f"XMP {name}", v) for name in XMP_FIELDS for v in xmp_values(packet, name)]
        for match in _HISTORY_RE.finditer(packet):
            event = html.unescape(match.group(1) or match.group(2) or "")
            facts.generative_edits += [m.group(0) for m in _GENERATIVE_EVENT_RE.finditer(event)]
    return facts


def _iim_block(image: Image.Image, data: bytes) -> bytes:
    """The IIM bytes of Photoshop resource 0x0404 (JPEG APP13 as Pillow reads it, else found in the bytes)."""
    resources = image.info.get("photoshop")
    if isinstance(resources, dict) and isinstance(resources.get(0x0404), bytes):
        return bytes(resources[0x0404])
    at = data.find(b"8BIM\x04\x04", 0, 16 << 20)
    if at < 0:
        return b""
    name_len = data[at + 6] if at + 6 < len(data) else 0
    pos = at + 6 + ((name_len + 2) & ~1)  # Pascal name padded to an even length
    size = int.from_bytes(data[pos : pos + 4], "big")
    return data[pos + 4 : pos + 4 + min(size, 1 << 20)]


def iim_datasets(block: bytes) -> list[tuple[str, str]]:
    """(name, text) of the record-2 datasets we read; stops at the first malformed or extended-length record."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos + 5 <= len(block) and block[pos] == 0x1C and len(out) < 4096:
        record, dataset, size = block[pos + 1], block[pos + 2], int.from_bytes(block[pos + 3 : pos + 5], "big")
        if size & 0x8000:  # extended length: never used by the text datasets we read
            break
        if record == 2 and dataset in _IIM_NAMES:
            out.append((f"IPTC {_IIM_NAMES[dataset]}", block[pos + 5 : pos + 5 + size].decode("utf-8", "replace")))
        pos += 5 + size
    return out


def iim_facts(image: Image.Image, data: bytes) -> SourceFacts:
    """Source-type URIs and software/credit fields of the legacy IPTC-IIM block."""
    facts = SourceFacts()
    for name, text in iim_datasets(_iim_block(image, data)):
        facts.source_types |= {m.group(1) for m in _DST_RE.finditer(text)}
        if name != "IPTC Keywords":
            facts.fields.append((name, text))
    return facts


__all__ = ["AI_SOURCE_TYPES", "CAPTURE_SOURCE_TYPES", "SourceFacts", "iim_datasets", "iim_facts", "xmp_facts",
           "xmp_packets", "xmp_values"]
