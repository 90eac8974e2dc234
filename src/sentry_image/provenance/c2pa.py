"""C2PA content credentials via ``c2pa-python``, read offline.

What the manifest store says is turned into one signal:

* integrity failures (a hash, hashed-URI or claim-signature mismatch, a missing ingredient manifest, ...) mean the
  file or its manifest changed after signing: the claims are worthless, hint ``none`` (info);
* certificate-only failures (an expired, untrusted or otherwise invalid signing certificate, an untrusted
  timestamp) leave the content bindings intact: real AI generators ship such files, so their claims still count;
* any manifest of the store (the active one *and* its ingredients) with an action whose ``digitalSourceType`` is
  ``trainedAlgorithmicMedia`` or ``compositeWithTrainedAlgorithmicMedia`` -> ``ai-generated`` (strong). Plain
  ``algorithmicMedia`` is, by IPTC's definition, made without training data: no hint;
* generators that state AI origin without a source type (Bing Image Creator) are recognised by
  ``GENERATOR_RULES`` -> ``ai-generated`` (strong);
* a ``digitalCapture`` claim -> ``real``: strong only when the signer is trusted, which needs a trust list; none
  is loaded offline, so in practice it is weak.

Remote manifests and OCSP are never fetched: reading must be offline and must not hang. ``c2pa-python`` is only
asked when ``has_c2pa_store`` finds a store, or a remote one announced, in the container's structure.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from typing import Any

from sentry_image.types import Hint, Signal, Strength

logger = logging.getLogger(__name__)

AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture"})

#: (field, pattern): AI origin stated without an IPTC source type. Fields: ``claim_generator`` (the claim
#: generator string and every ``claim_generator_info`` name), ``software_agent`` and ``description`` of a
#: ``c2pa.created`` action. Only products that exclusively generate images belong in ``claim_generator``.
GENERATOR_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("claim_generator", re.compile(r"Microsoft[_ ]Responsible[_ ]AI", re.I)),  # Bing Image Creator / Designer
    ("software_agent", re.compile(r"Image Creator from Designer|Bing Image Creator|DALL[-·.\s]?E", re.I)),
    ("description", re.compile(r"\bAI[- ]generated (image|content)\b|Created by .*Generative AI", re.I)),
)

# Failures that concern only the signer's certificate or timestamp, not what was signed.
_TRUST_ONLY_PREFIXES = ("signingCredential.", "timeStamp.", "cawg.", "claimSignature.outsideValidity")

_MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
         "HEIF": "image/heif", "HEIC": "image/heic", "AVIF": "image/avif", "GIF": "image/gif"}

_context: Any = None
_context_lock = threading.Lock()


def _offline_context() -> Any:
    """A reader context that never touches the network, created once (c2pa-python supports sharing it)."""
    global _context
    with _context_lock:
        if _context is None:
            import c2pa

            settings = c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
            _context = c2pa.Context(settings=settings)
        return _context


def _source_type(action: dict[str, Any]) -> str:
    params = action.get("parameters")
    value = action.get("digitalSourceType") or (params.get("digitalSourceType") if isinstance(params, dict) else "")
    return str(value or "").rstrip("/").rsplit("/", 1)[-1]


def _agent(action: dict[str, Any]) -> str:
    agent = action.get("softwareAgent")
    if isinstance(agent, dict):
        agent = agent.get("name")
    return str(agent or "")


def _description(action: dict[str, Any]) -> str:
    params = action.get("parameters")
    desc = action.get("description") or (params.get("description") if isinstance(params, dict) else "")
    return str(desc or "")


def _generators(manifest: dict[str, Any]) -> list[str]:
    """Claim generator names: the v1 ``claim_generator`` string and the v2 ``claim_generator_info`` entries."""
    names = [str(manifest["claim_generator"])] if manifest.get("claim_generator") else []
    for info in manifest.get("claim_generator_info") or []:
        if isinstance(info, dict) and info.get("name"):
            names.append(str(info["name"]) + (f"/{info['version']}" if info.get("version") else ""))
    return names


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            data = assertion.get("data")
            out += [a for a in (data.get("actions") or []) if isinstance(a, dict)] if isinstance(data, dict) else []
    return out


def _failure_codes(store: dict[str, Any]) -> list[str]:
    codes = [str(s.get("code")) for s in store.get("validation_status") or [] if isinstance(s, dict)]
    results = store.get("validation_results") or {}
    groups = [results.get("activeManifest") or {}]
    groups += [d.get("validationDeltas") or {} for d in results.get("ingredientDeltas") or [] if isinstance(d, dict)]
    for group in groups:
        codes += [str(s.get("code")) for s in group.get("failure") or [] if isinstance(s, dict)]
    return list(dict.fromkeys(codes))


def _rule_hits(generators: list[str], action: dict[str, Any]) -> list[str]:
    fields = {"claim_generator": generators, "software_agent": [_agent(action)], "description": [_description(action)]}
    created = str(action.get("action", "")).startswith("c2pa.created")
    return [f"{field} '{value}'" for field, pattern in GENERATOR_RULES
            for value in fields[field] if value and (field == "claim_generator" or created) and pattern.search(value)]


def interpret(store: dict[str, Any]) -> Signal:
    """Turn a manifest store (``c2pa.Reader.json()`` parsed) into one signal, as the module docstring describes."""
    manifests = store.get("manifests") or {}
    active: dict[str, Any] = manifests.get(store.get("active_manifest")) or next(iter(manifests.values()), {})
    state = str(store.get("validation_state") or "unknown")
    failures = _failure_codes(store)
    integrity = [c for c in failures if not c.startswith(_TRUST_ONLY_PREFIXES)]
    ai, capture, described = [], [], []
    # The store's manifest order varies between reads: walk the active one first, then the others by label,
    # so the evidence is the same every time.
    ordered = sorted(manifests.items(), key=lambda kv: (kv[0] != store.get("active_manifest"), str(kv[0])))
    for _, manifest in ordered:
        generators = _generators(manifest)
        for action in _actions(manifest):
            kind = _source_type(action)
            what = f"{action.get('action')}" + (f" {kind}" if kind else "") + (
                f" (softwareAgent {_agent(action)})" if _agent(action) else "")
            described.append(what)
            if kind in AI_SOURCE_TYPES:
                ai.append(what)
            elif kind in CAPTURE_SOURCE_TYPES:
                capture.append(what)
            ai += [f"{what}: {hit}" for hit in _rule_hits(generators, action)]
    signer = (active.get("signature_info") or {}).get("issuer") or "unknown signer"
    trust = f"{state} (certificate problems only: {', '.join(failures)})" if failures and not integrity else state
    evidence = (f"C2PA: {len(manifests)} manifest(s), claim generator {(_generators(active) or ['unknown'])[0]}"
                f", signer {signer}; actions: {'; '.join(dict.fromkeys(described)) or 'none'}; validation {trust}")
    if integrity:
        return Signal("c2pa", Hint.NONE, f"{evidence}. Tampered: {', '.join(integrity)}", Strength.INFO)
    if ai:
        return Signal("c2pa", Hint.AI, f"{evidence}. AI origin declared: {ai[0]}", Strength.STRONG)
    if capture:
        strength = Strength.STRONG if state == "Trusted" else Strength.WEAK
        return Signal("c2pa", Hint.REAL, f"{evidence}. Capture declared: {capture[0]}", strength)
    return Signal("c2pa", Hint.NONE, f"{evidence}. No origin statement", Strength.INFO)


_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # ISO-BMFF ``uuid`` box of a C2PA store
_JPEG_XMP = (b"http://ns.adobe.com/xap/1.0/", b"http://ns.adobe.com/xmp/extension/")
_PNG_XMP = b"XML:com.adobe.xmp\x00"
_FILL, _APP11 = re.compile(rb"\xff+"), re.compile(rb"\xff\xeb")
_REMOTE = b"provenance"  # XMP dcterms:provenance announces a remote manifest, which c2pa-python reports


def _jumbf(body: bytes) -> bool:
    # An APP11 body: CI "JP", En, Z, then the JUMBF superbox (LBox, TBox "jumb") whose description says "c2pa".
    return b"jumb" in body[:24] or b"c2pa" in body[:40]


def _jpeg(data: bytes) -> bool:
    """APP11 segments holding a JUMBF box (the store), or APP1 XMP announcing a remote manifest."""
    pos, size = 2, len(data)
    for _ in range(1 << 14):  # real headers have tens of segments: past this many, search the bytes instead
        fill = _FILL.match(data, pos)  # any number of 0xFF bytes may precede a marker
        if fill is None or fill.end() >= size:
            raise ValueError("JPEG segment expected")
        pos, marker = fill.end() - 1, data[fill.end()]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xD9 or end > size or end < pos + 4:
            raise ValueError("JPEG header ends early")
        body = data[pos + 4 : end]
        if (marker == 0xEB and _jumbf(body)) or (marker == 0xE1 and body.startswith(_JPEG_XMP) and _REMOTE in body):
            return True
        if marker == 0xDA:
            break
        pos = end
    else:
        raise ValueError("too many JPEG segments")
    # Entropy-coded data never holds 0xFFEB (a 0xFF there is followed by 0x00 or a restart marker), so an APP11
    # after the first scan (between progressive scans, in an appended image) is found by a plain byte search.
    return any(_jumbf(data[hit.end() + 2 : hit.end() + 42]) for hit in _APP11.finditer(data, pos))


def _png(data: bytes) -> bool:
    """A ``caBX`` chunk (the store), or an iTXt XMP packet announcing a remote manifest."""
    pos, size = 8, len(data)
    while pos + 12 <= size:
        kind, end = data[pos + 4 : pos + 8], pos + 12 + int.from_bytes(data[pos : pos + 4], "big")
        if end > size:
            break
        if kind == b"caBX":
            return True
        if kind == b"iTXt" and data[pos + 8 : pos + 8 + len(_PNG_XMP)] == _PNG_XMP:
            body = data[pos + 8 + len(_PNG_XMP) : end - 4]
            if body[:1] != b"\x00" or _REMOTE in body:  # a compressed packet: let the reader inflate it
                return True
        if kind == b"IEND":
            return False
        pos = end
    raise ValueError("PNG ends before IEND")


def _webp(data: bytes) -> bool:
    """A RIFF ``C2PA`` chunk (the store), or an ``XMP `` chunk announcing a remote manifest."""
    pos, declared = 12, 8 + int.from_bytes(data[4:8], "little")
    if declared > len(data):
        raise ValueError("WebP shorter than its RIFF header says")
    while pos + 8 <= declared:
        kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if pos + 8 + length > declared:
            raise ValueError("WebP chunk runs past the end")
        if kind == b"C2PA" or (kind == b"XMP " and _REMOTE in data[pos + 8 : pos + 8 + length]):
            return True
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return False


def _bmff(data: bytes) -> bool:
    """A top-level C2PA ``uuid`` (or ``jumb``/``c2pa``) box, or XMP announcing a remote manifest."""
    pos, size = 0, len(data)
    while pos < size:
        length, kind, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if length == 1:
            length, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif length == 0:  # the last box runs to the end of the file
            length = size - pos
        if length < header or pos + length > size:
            raise ValueError("ISO-BMFF box runs past the end")
        if kind in (b"jumb", b"c2pa") or (kind == b"uuid" and data[pos + header : pos + header + 16] == _C2PA_UUID):
            return True
        pos += length
    # XMP sits in a top-level uuid box (MP4) or in an item whose bytes may be anywhere (HEIF): find the packets
    # (split, not a regular expression, so that many unclosed packet tags cannot make the search quadratic).
    return any(_REMOTE in packet.split(b"</x:xmpmeta>", 1)[0] for packet in data.split(b"<x:xmpmeta")[1:])


def has_c2pa_store(data: bytes) -> bool:
    """Whether ``data`` may carry a C2PA manifest store, embedded or announced as remote in its XMP.

    JPEG segments, PNG chunks, WebP RIFF chunks and ISO-BMFF (HEIF/AVIF) top-level boxes are walked. TIFF/DNG
    (whose store hides behind an IFD tag), GIF, unknown bytes and any structure that cannot be walked fall back
    to a byte search: a false "yes" costs one reader call, a false "no" would lose a finding. BMP has no C2PA.
    """
    try:
        if data.startswith(b"\xff\xd8\xff"):
            return _jpeg(data)
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(data)
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return _webp(data)
        if data[4:8] == b"ftyp":
            return _bmff(data)
        if data.startswith(b"BM"):
            return False
    except ValueError as exc:
        logger.debug("C2PA gate: %s; searching the bytes instead", exc)
    # Every embedded store carries the JUMBF label "c2pa".
    return b"c2pa" in data or _REMOTE in data


def read_c2pa(data: bytes, fmt: str) -> list[Signal]:
    """Read the C2PA manifest store embedded in ``data``; ``fmt`` is a Pillow format name or a MIME type.

    Returns no signal when the file carries no manifest, and an info signal (never an exception) when the
    manifest cannot be read: an unknown signing algorithm, a remote-only manifest, a corrupt store.
    """
    if not has_c2pa_store(data):
        return []
    import c2pa

    mime = fmt if "/" in fmt else _MIME.get(fmt.upper())
    try:
        with c2pa.Reader(mime, io.BytesIO(data), None, _offline_context()) as reader:
            store = json.loads(reader.json())
    except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):
        return []  # no store, or a container C2PA does not define (BMP, ...): nothing to say
    except (c2pa.C2paError, ValueError, OSError) as exc:
        message = str(exc) or type(exc).__name__
        what = "remote manifest not fetched (offline)" if message.startswith("Remote") else "unreadable manifest"
        return [Signal("c2pa", Hint.NONE, f"C2PA: {what}: {message}", Strength.INFO)]
    return [interpret(store)]


__all__ = ["AI_SOURCE_TYPES", "CAPTURE_SOURCE_TYPES", "GENERATOR_RULES", "has_c2pa_store", "interpret", "read_c2pa"]
