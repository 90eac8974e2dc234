"""Generator and camera metadata: PNG text chunks, EXIF, XMP and NovelAI's alpha-channel "stealth" metadata.

Generator metadata (a generation recipe, a known generator name, an IPTC AI source type) is a strong AI signal;
camera Make/Model a weak real one (EXIF is trivial to forge or copy); editing software is context only. Text is
recognised by content, not by key alone: Fooocus writes JSON under A1111's ``parameters`` key, and ComfyUI writes
``prompt:{...}`` / ``workflow:{...}`` into the EXIF Make/Model of WebP files, which must not read as a camera.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from sentry_image.types import Hint, Signal, Strength

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Software / CreatorTool / Source strings that name an image generator (matched case-insensitively).
KNOWN_GENERATORS: tuple[str, ...] = (
    "NovelAI", "Stable Diffusion", "stable-diffusion-webui", "AUTOMATIC1111", "ComfyUI", "InvokeAI", "Fooocus",
    "Midjourney", "DALL-E", "DALL·E", "DALLE", "Adobe Firefly", "Imagen", "Gemini", "Leonardo.Ai", "Ideogram",
    "Draw Things", "DiffusionBee", "NightCafe", "Craiyon", "Dream by WOMBO", "Image Creator from Designer",
    "Bing Image Creator", "Microsoft Designer", "Stability AI", "DreamStudio", "SDXL", "FLUX.1", "Kandinsky",
    "Playground AI", "SwarmUI", "Easy Diffusion", "Made with Google AI",
)
#: Editing software: says the file was edited, not where its pixels came from.
EDITING_SOFTWARE: tuple[str, ...] = (
    "Photoshop", "GIMP", "Lightroom", "Affinity", "Capture One", "Snapseed", "Pixelmator", "paint.net",
    "darktable", "RawTherapee", "Picasa", "ACDSee", "ImageMagick", "Paint Shop Pro", "Luminar",
)
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture"})

_GENERATOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(g) for g in KNOWN_GENERATORS) + r")\b", re.I)
_EDITOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(g) for g in EDITING_SOFTWARE) + r")\b", re.I)
_A1111_RE = re.compile(r"(^|\n)\s*Steps: \d+, (Sampler|CFG scale|Seed|Size|Model)\b")
_DREAM_RE = re.compile(r"^\s*\".*\"(?=.*\s-s\s*\d+)(?=.*\s-S\s*\d+)", re.S)  # old InvokeAI "Dream" chunk
_GEN_KEYS = frozenset({"seed", "steps", "sampler", "sampler_name", "cfg", "cfg_scale", "guidance_scale", "scale",
                       "negative_prompt", "uc", "scheduler", "base_model", "positive_prompt", "generation_mode",
                       "denoising_strength", "full_prompt", "noise_seed"})
_MIDJOURNEY_RE = re.compile(r"\bJob ID: [0-9a-f]{8}-[0-9a-f]{4}-", re.I)  # Midjourney's PNG "Description"
_DST_RE = re.compile(r"digitalsourcetype/(\w+)", re.I)
_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x010E: "ImageDescription", 0x013B: "Artist"}
_MAX_TEXT = 4 << 20  # stealth payloads larger than this are not metadata; stop before inflating a bomb


def _short(text: str, n: int = 100) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _json(text: str) -> Any:
    text = text.strip()
    if not text.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def describe_generation_text(key: str, text: str) -> str | None:
    """Why ``text`` (stored under ``key``) is an image-generation record, or ``None`` if it is not one."""
    if not isinstance(text, str) or not text.strip():
        return None
    for prefix in ("prompt:", "workflow:"):  # ComfyUI's WebP EXIF form
        if text.startswith(prefix) and isinstance(_json(text[len(prefix):]), dict):
            return f"ComfyUI {prefix[:-1]} graph in {key}"
    if _A1111_RE.search(text):
        return f"A1111-style generation parameters in {key}: {_short(text)}"
    if _MIDJOURNEY_RE.search(text):
        return f"Midjourney job in {key}: {_short(text)}"
    if _DREAM_RE.search(text):
        return f"InvokeAI dream command in {key}: {_short(text)}"
    data = _json(text)
    if isinstance(data, dict):
        nodes = [v for v in data.values() if isinstance(v, dict)]
        if nodes and all("class_type" in v for v in nodes):
            return f"ComfyUI prompt graph in {key}"
        if isinstance(data.get("nodes"), list) and ("links" in data or "last_node_id" in data):
            return f"ComfyUI workflow in {key}"
        keys = {str(k).lower() for k in data} | {str(k).lower() for v in nodes for k in v}
        hits = sorted(_GEN_KEYS & keys)
        if len(hits) >= 3:  # "seed" or "steps" alone occur in unrelated JSON
            return f"generation settings JSON in {key} ({', '.join(hits[:5])})"
    if key.lower() in ("software", "source", "creatortool", "credit") and _GENERATOR_RE.search(text):
        return f"{key} '{_short(text, 60)}'"
    return None


def decode_user_comment(raw: bytes | str, big_endian: bool = False) -> str:
    """Decode an EXIF UserComment: an 8-byte charset prefix (``ASCII``, ``UNICODE``, ``JIS``, or zeros) + text.

    ``UNICODE`` is UTF-16 in the file's byte order by the standard, but writers disagree (piexif always writes
    big-endian), so the byte order is read from the text itself when it is ASCII-like.
    """
    if isinstance(raw, str):
        return raw.strip("\x00 ")
    head, body = raw[:8], raw[8:]
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
    return raw.decode("utf-8", "replace").strip("\x00 ")


def _texts(image: Image.Image) -> dict[str, str]:
    """Text chunks (PNG tEXt/iTXt/zTXt) and comments, by key."""
    out = {str(k): str(v) for k, v in image.info.items() if isinstance(v, str) and not str(k).startswith("XML:")}
    comment = image.info.get("comment")
    if isinstance(comment, bytes):
        out["comment"] = comment.decode("utf-8", "replace")
    return out


def _exif(image: Image.Image) -> dict[str, str]:
    exif = image.getexif()
    out = {name: str(exif[tag]).strip("\x00 ") for tag, name in _TAGS.items() if isinstance(exif.get(tag), str)}
    raw = exif.get_ifd(0x8769).get(0x9286)
    if isinstance(raw, bytes | str) and raw:
        out["UserComment"] = decode_user_comment(raw, big_endian=exif.endian == ">")
    return out


def _xmp_packets(image: Image.Image, data: bytes) -> list[str]:
    packets = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
               for k, v in image.info.items() if k in ("xmp", "XML:com.adobe.xmp") and isinstance(v, bytes | str)]
    # Containers whose XMP Pillow does not expose (HEIF, some WebP/TIFF writers): find the packets in the bytes.
    start = data.find(b"<x:xmpmeta") if not packets else -1
    while start >= 0 and len(packets) < 8:
        end = data.find(b"</x:xmpmeta>", start, start + (4 << 20))
        if end < 0:
            break
        packets.append(data[start : end + 12].decode("utf-8", "replace"))
        start = data.find(b"<x:xmpmeta", end)
    return packets


def _walk(obj: Any, key: str) -> list[str]:
    if isinstance(obj, dict):
        return [str(v) for k, v in obj.items() if k == key and isinstance(v, str)] + [
            x for v in obj.values() for x in _walk(v, key)]
    if isinstance(obj, list):
        return [x for v in obj for x in _walk(v, key)]
    return []


def _xmp_facts(image: Image.Image, data: bytes) -> tuple[set[str], list[str]]:
    """IPTC DigitalSourceType terms and CreatorTool strings of the XMP, via ``getxmp()`` and the raw packet."""
    types: set[str] = set()
    tools: list[str] = []
    try:
        parsed = image.getxmp()  # {} without defusedxml, or on malformed XML: the raw scan below still runs
        types |= {t.rstrip("/").rsplit("/", 1)[-1] for t in _walk(parsed, "DigitalSourceType")}
        tools += _walk(parsed, "CreatorTool")
    except Exception as exc:
        logger.debug("getxmp failed: %s", exc)
    for packet in _xmp_packets(image, data):
        types |= {m.group(1) for m in _DST_RE.finditer(packet) if "DigitalSourceType" in packet}
        tools += re.findall(r'CreatorTool(?:="|>)([^"<]{1,200})', packet)
    return types, tools


_STEALTH_MAGIC = {"alpha": (b"stealth_pnginfo", b"stealth_pngcomp"), "rgb": (b"stealth_rgbinfo", b"stealth_rgbcomp")}


def _lsb_bits(image: Image.Image, channel: str, n: int) -> np.ndarray:
    """The first ``n`` LSBs of the alpha or RGB channels, pixels read down the columns (x outer, y inner).

    Only the columns holding those bits are converted, so probing a large photo for the magic costs nothing.
    """
    width, height = image.size
    per_pixel = 1 if channel == "alpha" else 3
    cols = min(width, -(-n // (height * per_pixel)))
    arr = np.asarray(image.crop((0, 0, cols, height)))
    if arr.ndim != 3:
        return np.zeros(0, dtype=np.uint8)
    planes = arr[:, :, -1:] if channel == "alpha" else arr[:, :, :3]
    return (planes.transpose(1, 0, 2).reshape(-1) & 1)[:n]


def read_stealth(image: Image.Image) -> str | None:
    """NovelAI / A1111 "stealth" metadata hidden in pixel LSBs, or ``None``.

    Layout: a 15-byte magic (``stealth_pnginfo``/``stealth_pngcomp`` in alpha LSBs, ``stealth_rgbinfo``/
    ``stealth_rgbcomp`` in RGB LSBs), a 32-bit big-endian payload length in bits, then the payload (gzip for
    ``*comp``), all bits MSB first, pixels taken column by column.
    """
    channels = {"RGBA": ("alpha", "rgb"), "LA": ("alpha",), "RGB": ("rgb",)}.get(image.mode, ())
    for channel in channels:
        head = _lsb_bits(image, channel, 152)
        if head.size < 152 or np.packbits(head[:120]).tobytes() not in _STEALTH_MAGIC[channel]:
            continue
        magic = np.packbits(head[:120]).tobytes().decode()
        length = int.from_bytes(np.packbits(head[120:152]).tobytes(), "big")
        if length <= 0 or length > 8 * _MAX_TEXT:
            return f"{magic} (invalid payload length {length} bits)"
        payload = np.packbits(_lsb_bits(image, channel, 152 + length)[152:]).tobytes()
        if magic.endswith("comp"):
            # gzip; max_length bounds the output so a crafted payload cannot inflate into a memory bomb
            try:
                payload = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload, _MAX_TEXT)
            except zlib.error:
                return f"{magic} (compressed payload unreadable)"  # the 15-byte magic alone is deliberate
        return f"{magic}: {_short(payload.decode('utf-8', 'replace'))}"
    return None


def _plausible_camera(make: str, model: str) -> bool:
    text = f"{make} {model}".strip()
    return bool(make.strip()) and len(text) <= 96 and text.isprintable() and "{" not in text and not (
        _GENERATOR_RE.search(text) or make.startswith(("prompt:", "workflow:")))


def _guard(part: str, read: Callable[[], T], default: T) -> T:
    """Run one part of the reader; a malformed block of metadata must not hide the others."""
    try:
        return read()
    except Exception as exc:
        logger.info("metadata: cannot read %s: %s", part, exc)
        return default


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
        ai.append(f"Fooocus metadata scheme '{_short(texts['fooocus_scheme'], 20)}'")
    exif = _guard("EXIF", lambda: _exif(image), empty)
    ai += [f"EXIF {d}" for k, v in exif.items() if (d := describe_generation_text(k, v))]
    no_xmp: tuple[set[str], list[str]] = (set(), [])
    types, tools = _guard("XMP", lambda: _xmp_facts(image, data), no_xmp)
    ai += [f"XMP DigitalSourceType {t}" for t in sorted(types & AI_SOURCE_TYPES)]
    ai += [f"XMP CreatorTool '{_short(t, 60)}'" for t in tools if _GENERATOR_RE.search(t)]
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
    elif types & CAPTURE_SOURCE_TYPES:
        signals.append(Signal("metadata", Hint.REAL, "XMP DigitalSourceType digitalCapture", Strength.WEAK))
    editors = [s for s in [exif.get("Software", ""), texts.get("Software", ""), *tools] if _EDITOR_RE.search(s)]
    if editors:
        signals.append(Signal("metadata", Hint.NONE, f"Edited with {_short(editors[0], 80)}", Strength.INFO))
    return signals


__all__ = ["EDITING_SOFTWARE", "KNOWN_GENERATORS", "decode_user_comment", "describe_generation_text",
           "read_metadata", "read_stealth"]
