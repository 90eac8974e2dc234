"""C2PA content credentials via ``c2pa-python``, read offline.

What the manifest store says is turned into one signal:

* integrity failures (a hash, hashed-URI or claim-signature mismatch, a missing ingredient manifest, ...) mean the
  file or its manifest changed after signing: the claims are worthless, hint ``none`` (info);
* certificate-only failures (an expired, untrusted or otherwise invalid signing certificate, an untrusted
  timestamp) leave the content bindings intact: real AI generators ship such files, so their claims still count;
* any manifest of the store (the active one *and* its ingredients, at any depth) with an action whose
  ``digitalSourceType`` is ``trainedAlgorithmicMedia`` or ``compositeWithTrainedAlgorithmicMedia`` ->
  ``ai-generated`` (strong: the integrity checks above passed for the whole chain). The evidence says which part
  is AI: the image itself, a region (a composite edit), or an ingredient (named, with its depth in the chain).
  Plain ``algorithmicMedia`` is, by IPTC's definition, made without training data: no hint;
* generators that state AI origin without a source type (Bing Image Creator, early Firefly) are recognised by
  ``GENERATOR_RULES`` -> ``ai-generated`` (strong);
* a ``digitalCapture`` claim -> ``real``: strong only when the signer chains to a trust anchor the user supplied
  (``trust_anchors`` or ``$SENTRY_C2PA_TRUST_ANCHORS``, a PEM file); without one nothing is trusted: weak.

A ``.c2pa`` sidecar file beside the image is read like an embedded store when its bytes are passed in.
Remote manifests and OCSP are never fetched: reading must be offline and must not hang. ``c2pa-python`` is only
asked when ``has_c2pa_store`` finds a store, or a remote one announced, in the container's structure.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from sentry_image.types import Hint, Signal, Strength

from .c2pa_gate import has_c2pa_store

logger = logging.getLogger(__name__)

AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture"})

#: (field, pattern): AI origin stated without an IPTC source type, as apps did before IPTC's terms were common.
#: Fields: ``claim_generator`` (the claim generator string and every ``claim_generator_info`` name),
#: ``software_agent`` and ``description`` of a ``c2pa.created`` action. Only products that exclusively generate
#: images belong in ``claim_generator``: an editor's name there would call every edit AI.
GENERATOR_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Bing Image Creator / Designer sign as "Microsoft_Responsible_AI" with no source type (shared file
    # provenance/c2pa/ms_bing_image_creator.jpg).
    ("claim_generator", re.compile(r"Microsoft[_ ]Responsible[_ ]AI", re.I)),
    # The Firefly web app (2023 claims, "Adobe_Firefly") only generates; its early claims had no source type.
    ("claim_generator", re.compile(r"Adobe[_ ]Firefly", re.I)),
    # Bing's created action names the generator ("Image Creator from Designer", DALL-E inside).
    ("software_agent", re.compile(r"Image Creator from Designer|Bing Image Creator|DALL[-·.\s]?E", re.I)),
    # Generators named as the agent of a creation (older Firefly / Photoshop builds, Stable Diffusion front ends,
    # Google Imagen): a created action whose agent is a generator is a generated image.
    ("software_agent", re.compile(r"Adobe Firefly|Stable Diffusion|Midjourney|\bImagen\b", re.I)),
    # Bing and Google write the statement as free text on the created action.
    ("description", re.compile(r"\bAI[- ]generated (image|content)\b|Created by .*Generative AI", re.I)),
)

# Failures that concern only the signer's certificate or timestamp, not what was signed.
_TRUST_ONLY_PREFIXES = ("signingCredential.", "timeStamp.", "cawg.", "claimSignature.outsideValidity")

_MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
         "HEIF": "image/heif", "HEIC": "image/heic", "AVIF": "image/avif", "GIF": "image/gif"}

#: Environment variable naming a PEM file of trust anchors (the root certificates a user chooses to trust).
TRUST_ANCHORS_ENV = "SENTRY_C2PA_TRUST_ANCHORS"

_contexts: dict[str, Any] = {}
_context_lock = threading.Lock()


def _offline_context(anchors: str = "") -> Any:
    """A reader context that never touches the network, one per trust list (c2pa-python supports sharing it).

    With ``anchors`` (PEM text) a signer chaining to one of them reads as ``Trusted``; without, c2pa-python has
    no anchors at all, so no signer can be trusted and a capture claim stays weak.
    """
    with _context_lock:
        if anchors not in _contexts:
            import c2pa

            config: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
            if anchors:
                config["verify"]["verify_trust"] = True
                config["trust"] = {"trust_anchors": anchors}
            _contexts[anchors] = c2pa.Context(settings=c2pa.Settings.from_dict(config))
        return _contexts[anchors]


def _anchors(trust_anchors: str | Path | None) -> str:
    """PEM text of the trust list: the parameter, else ``$SENTRY_C2PA_TRUST_ANCHORS``; "" when none is set."""
    path = trust_anchors if trust_anchors is not None else os.environ.get(TRUST_ANCHORS_ENV, "")
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # a bad trust list must not cost the reading: read untrusted
        logger.warning("C2PA trust anchors %s unreadable (%s): reading without a trust list", path, exc)
        return ""


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


def _ingredient_links(manifests: dict[str, Any], active: str) -> dict[str, tuple[int, str, str]]:
    """Each ingredient manifest's place in the chain: label -> (depth below the active one, title, relationship).

    Walked breadth-first from the active manifest through every ingredient's ``active_manifest``, so an AI image
    inside an edit of an edit is found at depth 2; a cycle in a crafted store is visited once.
    """
    links: dict[str, tuple[int, str, str]] = {}
    queue, seen = [(active, 0)], {active}
    while queue:
        label, depth = queue.pop(0)
        manifest = manifests.get(label)
        for ingredient in (manifest.get("ingredients") or []) if isinstance(manifest, dict) else []:
            child = ingredient.get("active_manifest") if isinstance(ingredient, dict) else None
            if isinstance(child, str) and child not in seen:
                seen.add(child)
                links[child] = (depth + 1, str(ingredient.get("title") or "untitled"),
                                str(ingredient.get("relationship") or ""))
                queue.append((child, depth + 1))
    return links


def _ai_part(label: str, active: str, what: str, links: dict[str, tuple[int, str, str]], capture: bool) -> str:
    """Which part of the image the AI statement ``what`` (found in manifest ``label``) covers."""
    if label == active:
        if "compositeWithTrainedAlgorithmicMedia" in what:
            return f"composite: a region of the image was generated by AI ({what})"
        return what
    depth, title, relationship = links.get(label, (0, "untitled", ""))
    where = f"{depth} level(s) down" if depth else "not linked from the active manifest"
    if relationship == "componentOf" or capture:
        return f"composite: contains an AI-generated ingredient '{title}' ({where}) placed into the image: {what}"
    return f"contains an AI-generated ingredient '{title}' ({where}): {what}"


def interpret(store: dict[str, Any]) -> Signal:
    """Turn a manifest store (``c2pa.Reader.json()`` parsed) into one signal, as the module docstring describes."""
    found = store.get("manifests")
    manifests: dict[str, Any] = found if isinstance(found, dict) else {}
    label = str(store.get("active_manifest") or next(iter(manifests), ""))
    active: dict[str, Any] = manifests.get(label) or {}
    state = str(store.get("validation_state") or "unknown")
    failures = _failure_codes(store)
    integrity = [c for c in failures if not c.startswith(_TRUST_ONLY_PREFIXES)]
    ai: list[tuple[str, str]] = []
    capture, described = [], []
    # The store's manifest order varies between reads: walk the active one first, then the others by label,
    # so the evidence is the same every time.
    ordered = sorted(manifests.items(), key=lambda kv: (kv[0] != label, str(kv[0])))
    for key, manifest in ordered:
        generators = _generators(manifest)
        for action in _actions(manifest):
            kind = _source_type(action)
            what = f"{action.get('action')}" + (f" {kind}" if kind else "") + (
                f" (softwareAgent {_agent(action)})" if _agent(action) else "")
            described.append(what)
            if kind in AI_SOURCE_TYPES:
                ai.append((key, what))
            elif kind in CAPTURE_SOURCE_TYPES:
                capture.append(what)
            ai += [(key, f"{what}: {hit}") for hit in _rule_hits(generators, action)]
    signer = (active.get("signature_info") or {}).get("issuer") or "unknown signer"
    trust = f"{state} (certificate problems only: {', '.join(failures)})" if failures and not integrity else state
    evidence = (f"C2PA: {len(manifests)} manifest(s), claim generator {(_generators(active) or ['unknown'])[0]}"
                f", signer {signer}; actions: {'; '.join(dict.fromkeys(described)) or 'none'}; validation {trust}")
    if integrity:
        return Signal("c2pa", Hint.NONE, f"{evidence}. Tampered: {', '.join(integrity)}", Strength.INFO)
    if ai:
        where, what = ai[0]
        part = _ai_part(where, label, what, _ingredient_links(manifests, label), bool(capture))
        return Signal("c2pa", Hint.AI, f"{evidence}. AI origin declared: {part}", Strength.STRONG)
    if capture:
        strength = Strength.STRONG if state == "Trusted" else Strength.WEAK
        return Signal("c2pa", Hint.REAL, f"{evidence}. Capture declared: {capture[0]}", strength)
    return Signal("c2pa", Hint.NONE, f"{evidence}. No origin statement", Strength.INFO)


def sidecar_path(image: str | Path) -> Path | None:
    """The ``.c2pa`` manifest store beside ``image`` (``photo.jpg`` -> ``photo.c2pa``), if there is one."""
    path = Path(image).with_suffix(".c2pa")
    return path if path != Path(image) and path.is_file() else None


def read_c2pa(data: bytes, fmt: str, *, sidecar: bytes | None = None,
              trust_anchors: str | Path | None = None) -> list[Signal]:
    """Read the C2PA manifest store of ``data``; ``fmt`` is a Pillow format name or a MIME type.

    ``sidecar``: the bytes of a separate ``.c2pa`` manifest store for ``data`` (see ``sidecar_path``), read
    instead of an embedded one. ``trust_anchors``: a PEM file of trusted roots (default
    ``$SENTRY_C2PA_TRUST_ANCHORS``), which lets a trusted capture claim count as strong ``real`` evidence.
    Returns no signal when the file carries no manifest, and an info signal (never an exception) when the
    manifest cannot be read: an unknown signing algorithm, a remote manifest (its URL is reported, never
    fetched), a corrupt store.
    """
    if sidecar is None and not has_c2pa_store(data):
        return []
    import c2pa

    mime = fmt if "/" in fmt else _MIME.get(fmt.upper())
    try:
        with c2pa.Reader(mime, io.BytesIO(data), sidecar, _offline_context(_anchors(trust_anchors))) as reader:
            store = json.loads(reader.json())
    except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):
        return []  # no store, or a container C2PA does not define (BMP, ...): nothing to say
    except (c2pa.C2paError, ValueError, OSError) as exc:
        message = str(exc) or type(exc).__name__
        if message.startswith("Remote"):
            url = _REMOTE_URL.search(message)
            what = f"remote manifest not fetched (offline): URL {url.group(1) if url else 'unknown'}"
            return [Signal("c2pa", Hint.NONE, f"C2PA: {what} ({message})", Strength.INFO)]
        return [Signal("c2pa", Hint.NONE, f"C2PA: unreadable manifest: {message}", Strength.INFO)]
    signal = interpret(store if isinstance(store, dict) else {})
    return [replace(signal, evidence=f"{signal.evidence} (manifest store from a .c2pa sidecar file)")
            if sidecar is not None else signal]


_REMOTE_URL = re.compile(r"\burl (\S+)")

__all__ = ["AI_SOURCE_TYPES", "CAPTURE_SOURCE_TYPES", "GENERATOR_RULES", "TRUST_ANCHORS_ENV", "has_c2pa_store",
           "interpret", "read_c2pa", "sidecar_path"]
