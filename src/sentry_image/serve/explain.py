"""Plain-language wording of a verdict for the demo page (the JSON stays the contract; this is for people)."""

from __future__ import annotations

from typing import Any

SIGNAL_NAMES = {
    "c2pa": "Content Credentials (C2PA): a signed record, written by the app or camera, of how the file was made",
    "watermark": "An invisible watermark of the kind Stable Diffusion's reference code hides in its images",
    "metadata": "Metadata inside the file (PNG text, EXIF or XMP fields), where generators leave notes",
    "exif": "Camera information (EXIF), which anyone can edit",
}
SAYS = {"ai-generated": "points to AI generation", "real": "points to a real photo",
        "none": "says nothing about the origin"}
WEIGHT = {"strong": "strong evidence", "weak": "weak evidence: easy to forge", "info": "context only"}
HEADLINES = {
    "ai-generated": ("Likely AI-generated", "ai"),
    "real": ("Likely a real photo", "real"),
    "uncertain": ("Not sure", "uncertain"),
}


def explain(verdict: dict[str, Any]) -> dict[str, Any]:
    """Headline, a sentence on what the verdict means, and each piece of evidence described for a lay reader."""
    if verdict.get("error"):
        err = verdict["error"]
        return {"headline": "Could not check this file", "tone": "error",
                "meaning": f"{err['message']} (code {err['code']}).", "evidence": [], "percent": None}
    headline, tone = HEADLINES.get(verdict["verdict"], ("Result", "uncertain"))
    prob = verdict["ai_probability"]
    percent = None if prob is None else round(100 * prob)
    decided = verdict.get("decided_by") or "model"
    if decided.startswith("provenance:"):
        meaning = ("The file itself carries a mark of its origin, and that mark settles the verdict. Such marks are "
                   "strong evidence, but their absence proves nothing: most sites strip them.")
    elif verdict["verdict"] == "uncertain":
        meaning = ("The detector's score is in the range where it is often wrong. Treat the image as unverified and "
                   "look for its source.")
    else:
        meaning = (f"The detector looked only at the pixels and estimates a {percent}% chance that they were made by "
                   "an AI generator. It is a statistical judgement, not proof: check the source of the image too.")
    evidence = [{"what": SIGNAL_NAMES.get(s["name"], s["name"]), "says": SAYS.get(s["hint"], s["hint"]),
                 "strength": WEIGHT.get(s["strength"], s["strength"]), "details": s["evidence"]}
                for s in verdict.get("signals", [])]
    return {"headline": headline, "tone": tone, "meaning": meaning, "evidence": evidence, "percent": percent}
