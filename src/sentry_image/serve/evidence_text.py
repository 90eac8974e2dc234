"""Plain-language wording of the provenance evidence for the demo page.

The readers in :mod:`sentry_image.provenance` report each finding as a signal whose ``evidence`` sentence has a
fixed shape (``c2pa.interpret``, ``watermark.read_watermark``, ``metadata.read_metadata``); the verdict row carries
only that sentence. This module reads the sentence back into its facts and says them for a lay reader. A sentence
it does not recognise is shown as written: a changed wording in a reader degrades to the technical text, never to a
wrong statement (the tests feed the readers' own output through here, so such a change is noticed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..provenance.metadata import KNOWN_GENERATORS

SOURCES = {"c2pa": "Content Credentials (C2PA)", "watermark": "Invisible watermark", "metadata": "File metadata",
           "exif": "Camera information (EXIF)"}
SAYS = {"ai-generated": "points to AI generation", "real": "points to a real photo",
        "none": "says nothing about the origin"}
WEIGHTS = {"strong": "strong evidence", "weak": "weak evidence: easy to forge, never overrides the detector",
           "info": "context only"}
#: Said after "nothing found" for a reader that reported nothing: absence is common and proves nothing.
ABSENT = {
    "c2pa": "Most websites and apps strip Content Credentials, so their absence says nothing either way.",
    "watermark": "Most generators add none, and re-saving or resizing erases it, so its absence says nothing either "
                 "way.",
    "metadata": "No generator notes or camera information. Metadata is easy to remove, so its absence says nothing "
                "either way.",
}

_C2PA = re.compile(
    r"C2PA: (?P<count>\d+) manifest\(s\), claim generator (?P<generator>.*?), signer (?P<signer>.*?); "
    r"actions: (?P<actions>.*?); validation (?P<state>\w+)(?: \(certificate problems only: (?P<cert>[^)]*)\))?"
    r"\. (?:Tampered: (?P<tampered>.*)|AI origin declared: (?P<ai>.*)|Capture declared: (?P<capture>.*)"
    r"|(?P<silent>No origin statement))", re.S)
_AGENT = re.compile(r"\(softwareAgent (.+?)\)(?=:|;|$)")
_WATERMARK = re.compile(r"(?P<payload>.+) decoded \((?P<agree>\d+)/(?P<bits>\d+) bits, [^)]+\)")
_PARTIAL = re.compile(r"(?P<payload>.+) partly read \((?P<agree>\d+)/(?P<bits>\d+) bits, [^;]+; "
                      r"chance (?P<chance>\d+), decision threshold (?P<needed>\d+)\): "
                      r"a degraded mark may be present, not evidence")
#: What the C2PA reader appends when the manifest store came from a ``.c2pa`` file beside the image.
_SIDECAR = " (manifest store from a .c2pa sidecar file)"
_CAMERA = re.compile(r"Camera EXIF: Make '(?P<make>.*)', Model '(?P<model>.*)'")
# A product name is looked for only in a named field's value (Software 'NovelAI'), never in a prompt's text.
_FIELD = re.compile(r"(?:EXIF |XMP )?\w+ '(?P<value>.*)'")
_GENERATOR = re.compile(r"\b(" + "|".join(re.escape(g) for g in KNOWN_GENERATORS) + r")\b", re.I)
# Generation records the metadata reader names by their format rather than by a product name in the text.
_FORMATS = (("ComfyUI ", "ComfyUI"), ("A1111-style", "a Stable Diffusion web UI"),
            ("Midjourney job", "Midjourney"), ("InvokeAI dream", "InvokeAI"), ("Fooocus", "Fooocus"),
            ("stealth metadata", "NovelAI"))

# Certificate-only C2PA failure codes, by prefix: the sentence each adds about the signer.
_CERT_PROBLEMS = (
    ("signingCredential.untrusted", "is not on this server's trust list"),
    ("signingCredential.expired", "has expired"),
    ("signingCredential.revoked", "has been revoked by its issuer"),
    ("signingCredential.invalid", "does not meet the C2PA rules for signing certificates"),
    ("signingCredential.ocsp", "could not have its revocation status checked"),
    ("claimSignature.outsideValidity", "was used outside its period of validity"),
)
_OTHER_TRUST = (("timeStamp.", "the signing time could not be verified"),
                ("cawg.", "an identity statement inside it could not be verified"))
# Integrity failures: what changed after signing.
_TAMPER = (("Hash.mismatch", "the image's content has changed since it was signed (its hash no longer matches)"),
           ("claimSignature.mismatch", "the signature does not match the signed record"),
           ("hashedURI.mismatch", "a part of the record was altered"),
           ("manifest.missing", "a record it refers to is missing"))


@dataclass(frozen=True)
class Finding:
    """One line of the evidence list: what was checked, what it found, and how much that weighs.

    Attributes:
        source: the check, e.g. ``Content Credentials (C2PA)``.
        text: what it found, in plain sentences.
        says: where it points (``points to AI generation``, ...), or ``nothing found``.
        weight: how the verdict may use it (``strong evidence``, ...); empty when nothing was found.
        tone: ``ai``, ``real``, ``none`` or ``absent``: a style hook, never the only carrier of meaning.
        details: the reader's own sentence, for whoever wants the technical facts; empty when nothing was found.
    """

    source: str
    text: str
    says: str
    weight: str
    tone: str
    details: str


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _product(generator: str) -> str:
    """``Microsoft_Responsible_AI/1.0 c2pa-rs/0.28`` -> ``Microsoft Responsible AI``: the name before its version."""
    return generator.split("/", 1)[0].replace("_", " ").strip() or "an unnamed tool"


def _cert_clause(codes: list[str]) -> str:
    cert = [text for prefix, text in _CERT_PROBLEMS if any(c.startswith(prefix) for c in codes)]
    other = [text for prefix, text in _OTHER_TRUST if any(c.startswith(prefix) for c in codes)]
    parts = ([f"the signing certificate {_join(cert)}"] if cert else []) + other
    return _join(parts) if parts else f"the signer could not be verified ({', '.join(codes)})"


def _tamper_clause(codes: list[str]) -> str:
    found = [text for marker, text in _TAMPER if any(marker in c for c in codes)]
    return _join(found) if found else f"the checks failed ({', '.join(codes)})"


def _origin(match: re.Match[str]) -> str:
    if match["ai"] is not None:
        agent = _AGENT.search(match["ai"])
        by = f" ({agent.group(1)})" if agent else ""
        if "compositeWithTrainedAlgorithmicMedia" in match["ai"]:
            return f"The record states that the image combines AI-generated material with other content{by}."
        return f"The record states that an AI generator made the image{by}."
    if match["capture"] is not None:
        return "The record states that a camera captured the image."
    steps = [a.split(" ", 1)[0].removeprefix("c2pa.").replace("_", " ") for a in match["actions"].split("; ")]
    listed = [s for s in dict.fromkeys(steps) if s and s != "none"]
    return ("The record does not say whether a camera or an AI made the image"
            + (f"; it lists these steps: {', '.join(listed)}." if listed else "."))


def c2pa_text(evidence: str) -> str:
    """The C2PA reader's sentence in plain words: who signed, whether the record still matches the file, and
    what it claims. Distinguishes a trusted signer, certificate-only problems (the content hashes still match),
    content changed after signing, and records that cannot be read or were not fetched."""
    if evidence.endswith(_SIDECAR):
        inner = evidence.removesuffix(_SIDECAR)
        told = c2pa_text(inner)
        # A sentence this module does not recognise stays whole, suffix included: never half-translated.
        return evidence if told == inner else (
            f"{told} These Content Credentials come from a separate .c2pa file kept beside the image, not from "
            "inside the image file.")
    if evidence.startswith("C2PA: remote manifest not fetched"):
        return ("The file points to Content Credentials stored online. This server works offline and did not fetch "
                "them, so they were not checked.")
    if evidence.startswith("C2PA: unreadable manifest"):
        return ("The file carries Content Credentials this server could not read (" +
                evidence.split(": ", 2)[-1] + "), so they say nothing either way.")
    match = _C2PA.fullmatch(evidence)
    if match is None:
        return evidence
    first = match["actions"].split("; ")[0]
    agent = _AGENT.search(first) if first.startswith("c2pa.created") else None
    tool = agent.group(1) if agent else _product(match["generator"])
    signed = f"Signed by {match['signer']} with {tool}"
    if match["tampered"] is not None:
        codes = match["tampered"].split(", ")
        return (f"{signed}, but {_tamper_clause(codes)}. The file or its record was changed after signing, so what "
                "the record claims cannot be relied on.")
    if match["cert"]:
        check = (f"{_cert_clause(match['cert'].split(', '))}, but the content hashes are intact (the image was not "
                 "changed after signing)")
    elif match["state"] == "Trusted":
        check = "the signer is on this server's trust list and the content hashes are intact"
    elif match["state"] == "Valid":
        check = ("the signature and content hashes check out (the image was not changed after signing); the "
                 "signer was not checked against a trust list")
    else:
        check = f"its checks ended in the state '{match['state']}'"
    return f"{signed}; {check}. {_origin(match)}"


def watermark_text(evidence: str) -> str:
    """The watermark reader's sentence in plain words: a decoded mark, or a partly read one (context only)."""
    partial = _PARTIAL.fullmatch(evidence)
    if partial is not None:
        return (f"The pixels may hold a weakened copy of the watermark that Stable Diffusion's reference code adds "
                f"({partial['payload']}): {partial['agree']} of {partial['bits']} bits match, more than the "
                f"{partial['chance']} an unmarked image matches on average but fewer than the {partial['needed']} "
                "needed to count as evidence. Re-saving and resizing weaken a real mark; this is context only.")
    match = _WATERMARK.fullmatch(evidence)
    if match is None:
        return evidence
    return (f"The pixels hide a watermark that Stable Diffusion's reference code adds to the images it makes "
            f"({match['payload']}; {match['agree']} of {match['bits']} bits match, where an unmarked image matches "
            "about half). Cameras do not write it.")


def _generators(findings: list[str]) -> list[str]:
    names: list[str] = []
    for part in findings:
        names += [name for marker, name in _FORMATS if part.removeprefix("EXIF ").startswith(marker)]
        field = _FIELD.fullmatch(part)
        names += [m.group(1) for m in _GENERATOR.finditer(field["value"])] if field else []
    return list(dict.fromkeys(names))


def metadata_text(name: str, evidence: str) -> str:
    """The metadata reader's sentences (generator notes, camera EXIF, capture claims, editing software)."""
    if evidence.startswith("Generator metadata: "):
        parts = evidence.removeprefix("Generator metadata: ").split("; ")
        names = _generators(parts)
        if names:
            return f"The file's metadata names {_join(names)} as the software that made it; metadata is easy to " \
                   "remove or forge."
        if any(p.startswith("XMP DigitalSourceType") for p in parts):
            return "The file's metadata declares the image AI-generated; metadata is easy to remove or forge."
        return ("The file's metadata holds image-generation settings (such as prompt, sampler and seed) of the kind "
                "generators write; metadata is easy to remove or forge.")
    camera = _CAMERA.fullmatch(evidence) if name == "exif" else None
    if camera is not None:
        make, model = camera["make"].strip(), camera["model"].strip()
        device = model if model.lower().startswith(make.split(" ")[0].lower()) else f"{make} {model}"
        return f"The file's camera fields name the device: {device}. Anyone can write or copy these fields."
    if evidence == "XMP DigitalSourceType digitalCapture":
        return "The file's metadata says a camera captured the image. Anyone can edit it."
    if evidence.startswith("Edited with "):
        return (f"The file was saved by editing software ({evidence.removeprefix('Edited with ')}). That says "
                "nothing about whether a camera or an AI made the picture.")
    return evidence


def describe_signal(signal: Mapping[str, str]) -> Finding:
    """One signal of a verdict row (``{"name", "hint", "strength", "evidence"}``) as a :class:`Finding`."""
    name, hint, evidence = signal["name"], signal["hint"], signal["evidence"]
    if evidence.startswith(f"{name} reader failed"):
        text = "This check failed on this file, so it says nothing either way."
    elif name == "c2pa":
        text = c2pa_text(evidence)
    elif name == "watermark":
        text = watermark_text(evidence)
    else:
        text = metadata_text(name, evidence)
    tone = {"ai-generated": "ai", "real": "real"}.get(hint, "none")
    return Finding(source=SOURCES.get(name, name), text=text, says=SAYS.get(hint, hint),
                   weight=WEIGHTS.get(signal["strength"], signal["strength"]), tone=tone, details=evidence)


def describe_evidence(signals: Iterable[Mapping[str, str]], *, checked: bool = True) -> list[Finding]:
    """Every signal as a :class:`Finding`, then a "nothing found" line for each reader that reported nothing.

    ``checked`` is False when the detector read no provenance at all: then silence is not a finding.
    """
    signals = list(signals)
    found = [describe_signal(s) for s in signals]
    groups = {"exif": "metadata"}
    reported = {groups.get(s["name"], s["name"]) for s in signals}
    missing = [Finding(source=SOURCES[reader], text=text, says="nothing found", weight="", tone="absent", details="")
               for reader, text in ABSENT.items() if checked and reader not in reported]
    return found + missing


__all__ = ["ABSENT", "Finding", "c2pa_text", "describe_evidence", "describe_signal", "metadata_text",
           "watermark_text"]
