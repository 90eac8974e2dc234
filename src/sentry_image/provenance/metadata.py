"""Generator and camera metadata: PNG text chunks, EXIF, XMP, IPTC-IIM and NovelAI's alpha-channel "stealth" data.

Generator metadata (a generation recipe, a known generator name, an IPTC AI source type, a generative edit in an
editor's history) is a strong AI signal; camera Make/Model a weak real one (EXIF is trivial to forge or copy);
editing software is context only. Which writer puts what where, and how each is recognised, is in
:mod:`.metadata_writers`; the IPTC/XMP source statements in :mod:`.iptc`; the LSB payloads in :mod:`.stealth`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TypeVar

from PIL import Image

from sentry_image.types import Hint, Signal, Strength

from .iptc import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, SourceFacts, iim_facts, xmp_facts
from .metadata_writers import GENERATOR_RE, KNOWN_GENERATORS, MAX_JSON, describe_generation_text, short
from .stealth import read_stealth

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Editing software and camera/social apps: say the file was edited or re-saved, not where its pixels came from.
EDITING_SOFTWARE: tuple[str, ...] = (
    "Photoshop", "GIMP", "Lightroom", "Affinity", "Capture One", "Snapseed", "Pixelmator", "paint.net",
    "darktable", "RawTherapee", "Picasa", "ACDSee", "ImageMagick", "Paint Shop Pro", "Luminar", "Instagram",
    "VSCO", "Canva", "Photoscape", "Windows Photo Editor", "Apple Photos",
)
_EDITOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(g) for g in EDITING_SOFTWARE) + r")\b", re.I)
# IFD0 tags read as text: ComfyUI fills Model, then Make, ImageDescription, DocumentName downwards. UserComment
# (0x9286) and MakerNote (0x927C) belong in the Exif IFD, but Fooocus writes both into IFD0 (its generation record
# and its scheme name); XPComment is Windows' UTF-16LE comment.
_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x010E: "ImageDescription", 0x013B: "Artist",
         0x010D: "DocumentName", 0x9286: "UserComment", 0x927C: "MakerNote", 0x9C9C: "XPComment"}


def decode_user_comment(raw: bytes | str, big_endian: bool = False) -> str:
    """Decode an EXIF UserComment: an 8-byte charset prefix (``ASCII``, ``UNICODE``, ``JIS``, or zeros) + text.

    ``UNICODE`` is UTF-16 in the file's byte order by the standard, but writers disagree (piexif always writes
    big-endian), so the byte order is read from the text itself when it is ASCII-like.
    """
    if isinstance(raw, str):
        return raw.strip("\x00 ")
    head, body = raw[:8], raw[8 : 8 + 2 * MAX_JSON]
    if head.startswith(b"UNICODE"):
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", "replace").strip("\x00 ")
        even_zeros, odd_zeros = body[0::2].count(0), body[1::2].count(0)
        if even_zeros != odd_zeros:
            big_endian = even_zeros > odd_zeros
        return body.decode("utf-16-be" if big_endian else "utf-16-le", "replace").strip("\x00 ")
    if head.startswith(b"JIS"):
        return body.decode("shift_jis", "replace").strip("\x00 ")
    if head.startswith(b"ASCII") or head == b"\x00" * 8:
        return body.decode("utf-8", "replace").strip("\x00 ")
    return raw[: 2 * MAX_JSON].decode("utf-8", "replace").strip("\x00 ")


def _texts(image: Image.Image) -> dict[str, str]:
    """Text chunks (PNG tEXt/iTXt/zTXt) and comments, by key."""
    out = {str(k): str(v) for k, v in image.info.items() if isinstance(v, str) and not str(k).startswith("XML:")}
    comment = image.info.get("comment")
    if isinstance(comment, bytes):
        out["comment"] = comment[: 2 * MAX_JSON].decode("utf-8", "replace")
    return out


def _tag_text(name: str, value: object, big_endian: bool) -> str | None:
    if isinstance(value, tuple) and all(isinstance(v, int) and 0 <= v < 256 for v in value[: 2 * MAX_JSON]):
        value = bytes(value[: 2 * MAX_JSON])  # Pillow returns BYTE arrays (the XP tags) as tuples
    if isinstance(value, str):
        return value[: 2 * MAX_JSON].strip("\x00 ")
    if not isinstance(value, bytes) or not value:
        return None
    if name == "UserComment":
        return decode_user_comment(value, big_endian)
    if name == "XPComment":
        return value[: 2 * MAX_JSON].decode("utf-16-le", "replace").strip("\x00 ")
    if name == "MakerNote":
        return None  # a camera's MakerNote is binary; only Fooocus' text form (a str above) says anything
    return value[: 2 * MAX_JSON].decode("utf-8", "replace").strip("\x00 ")


def _exif(image: Image.Image) -> dict[str, str]:
    exif = image.getexif()
    big_endian = exif.endian == ">"
    out = {name: text for tag, name in _TAGS.items() if (text := _tag_text(name, exif.get(tag), big_endian))}
    comment = _tag_text("UserComment", exif.get_ifd(0x8769).get(0x9286), big_endian)
    if comment:
        out["UserComment"] = comment
    return out


def _plausible_camera(make: str, model: str) -> bool:
    text = f"{make} {model}".strip()
    return bool(make.strip()) and len(text) <= 96 and text.isprintable() and "{" not in text and not (
        GENERATOR_RE.search(text) or make.lower().startswith(("prompt:", "workflow:")))


def _guard(part: str, read: Callable[[], T], default: T) -> T:
    """Run one part of the reader; a malformed block of metadata must not hide the others."""
    try:
        return read()
    except Exception as exc:
        logger.info("metadata: cannot read %s: %s", part, exc)
        return default


def _source_findings(label: str, facts: SourceFacts) -> list[str]:
    found = [f"{label} DigitalSourceType {t}" for t in sorted(facts.source_types & AI_SOURCE_TYPES)]
    found += [d for key, value in facts.fields if (d := describe_generation_text(key, value))]
    found += [f"{label} editing history records '{e}' (a generative edit)" for e in dict.fromkeys(
        facts.generative_edits)]
    return found


def read_metadata(image: Image.Image, data: bytes = b"") -> list[Signal]:
    """Generator, editing-software and camera evidence from ``image`` (as opened, with its metadata) and ``data``.

    Returns at most one strong AI signal (all generator findings joined), one camera/capture signal and one info
    signal for editing software.
    """
    ai: list[str] = []
    empty: dict[str, str] = {}
    texts = _guard("text chunks", lambda: _texts(image), empty)
    ai += [d for k, v in texts.items() if (d := describe_generation_text(k, v))]
    if texts.get("fooocus_scheme"):
        ai.append(f"Fooocus metadata scheme '{short(texts['fooocus_scheme'], 20)}'")
    exif = _guard("EXIF", lambda: _exif(image), empty)
    ai += [f"EXIF {d}" for k, v in exif.items() if k != "MakerNote" and (d := describe_generation_text(k, v))]
    if exif.get("MakerNote", "").strip().lower() in ("fooocus", "a1111") and "Fooocus" in exif.get("Software", ""):
        ai.append(f"Fooocus metadata scheme '{short(exif['MakerNote'], 20)}' in EXIF MakerNote")
    xmp = _guard("XMP", lambda: xmp_facts(image, data), SourceFacts())
    iim = _guard("IPTC-IIM", lambda: iim_facts(image, data), SourceFacts())
    ai += _source_findings("XMP", xmp) + _source_findings("IPTC-IIM", iim)
    stealth = _guard("stealth metadata", lambda: read_stealth(image), None)
    if stealth:
        ai.append(f"stealth metadata in pixel LSBs, {stealth}")
    signals = []
    if ai:
        signals.append(Signal("metadata", Hint.AI, "Generator metadata: " + "; ".join(dict.fromkeys(ai)),
                              Strength.STRONG))
    make, model = exif.get("Make", ""), exif.get("Model", "")
    if _plausible_camera(make, model):
        signals.append(Signal("exif", Hint.REAL, f"Camera EXIF: Make '{make}', Model '{model}'", Strength.WEAK))
    elif (xmp.source_types | iim.source_types) & CAPTURE_SOURCE_TYPES:
        signals.append(Signal("metadata", Hint.REAL, "XMP DigitalSourceType digitalCapture", Strength.WEAK))
    named = [exif.get("Software", ""), texts.get("Software", "")] + [
        v for k, v in xmp.fields + iim.fields if k in ("XMP CreatorTool", "IPTC OriginatingProgram")]
    editors = [s for s in named if _EDITOR_RE.search(s[:4096])]
    if editors:
        signals.append(Signal("metadata", Hint.NONE, f"Edited with {short(editors[0], 80)}", Strength.INFO))
    return signals


__all__ = ["EDITING_SOFTWARE", "KNOWN_GENERATORS", "decode_user_comment", "describe_generation_text",
           "read_metadata", "read_stealth"]
