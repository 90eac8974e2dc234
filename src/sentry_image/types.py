"""Shared value types: labels, provenance signals and verdicts.

Everything here is plain data so that every layer (models, detect, CLI, service) speaks the same language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Label(IntEnum):
    """Ground-truth label. Explicit integers: never derived from folder sort order."""

    REAL = 0
    FAKE = 1


class Hint(StrEnum):
    """What a piece of evidence says about the image's origin."""

    AI = "ai-generated"
    REAL = "real"
    NONE = "none"


class Strength(StrEnum):
    """How much a signal should weigh against the learned detector.

    ``strong`` evidence (a valid C2PA AI claim, a decoded watermark, generator metadata) decides the verdict;
    ``weak`` evidence (camera EXIF, an untrusted capture claim) is reported but never overrides the model;
    ``info`` is context only (a manifest without any origin statement, an unreadable manifest).
    """

    STRONG = "strong"
    WEAK = "weak"
    INFO = "info"


class VerdictLabel(StrEnum):
    """The three verdicts a user sees."""

    AI = "ai-generated"
    REAL = "real"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Signal:
    """One piece of provenance evidence.

    Attributes:
        name: which reader produced it (``c2pa``, ``watermark``, ``metadata``, ``exif``, ...).
        hint: what it says about origin.
        evidence: a human-readable sentence with the facts found (generator, claim, bit agreement, ...).
        strength: how it may be used when fusing with the detector score.
    """

    name: str
    hint: Hint
    evidence: str
    strength: Strength = Strength.INFO

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "hint": str(self.hint), "evidence": self.evidence, "strength": str(self.strength)}


class ImageError(Exception):
    """The one error value: why an input got no verdict. ``code`` is stable and machine-readable (the codes are
    listed in :mod:`sentry_image.imaging.decode`; those of URL inputs, ``fetch_failed``, ``fetch_refused`` and
    ``too_large``, in :mod:`sentry_image.imaging.fetch`); ``path`` names the input (a URL for a fetched one)."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.code = code
        self.message = message
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce replays only the formatted message; worker processes must send the code back.
        return (type(self), (self.code, self.message, self.path))

    def to_dict(self) -> dict[str, str]:
        """The ``error`` object of a verdict row."""
        return {"code": self.code, "message": self.message}


@dataclass
class ImageInfo:
    """Facts about the file, reported as evidence (never used by the learned detector).

    ``width``/``height`` are as displayed (after EXIF orientation); ``mode`` is the decoded mode before RGB
    conversion; ``jpeg_quality`` is the IJG quality whose tables best match the file's (None if not JPEG);
    ``orientation`` is the EXIF orientation tag (None when absent).
    """

    format: str
    width: int
    height: int
    mode: str
    frames: int
    bytes: int
    jpeg_quality: int | None = None
    orientation: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Region:
    """One scored region of an image (``detect --explain``): a box in the image's displayed pixels and the
    calibrated probability the detector gives the image were all of it like this region."""

    x: int
    y: int
    width: int
    height: int
    ai_probability: float

    def to_dict(self) -> dict[str, Any]:
        return {"box": [self.x, self.y, self.width, self.height],
                "ai_probability": round(float(self.ai_probability), 6)}


@dataclass
class Verdict:
    """The result for one input: the contract shared by the CLI (json/jsonl/csv), the Python API and the service.

    Attributes:
        path: the input's name (file path, upload name or ``<bytes>``).
        ai_probability: the learned detector's calibrated probability that the pixels are AI-generated
            (``None`` when the input could not be scored).
        verdict: ``ai-generated``, ``real`` or ``uncertain`` after fusing the score with strong provenance.
        threshold: the operating threshold applied to ``ai_probability``.
        model: ``name@version`` of the detector.
        signals: provenance evidence found in the file.
        decided_by: ``model`` or ``provenance:<signal name>``: what settled the verdict.
        reasons: plain-language sentences explaining the verdict.
        image: decoded facts (format, width, height, JPEG quality estimate, ...).
        error: set when the input failed; then probability and verdict are ``None``.
        regions: per-region probabilities (the detector's map of where it looked), when asked for (``explain``).
    """

    path: str
    ai_probability: float | None
    verdict: VerdictLabel | None
    threshold: float | None
    model: str | None
    signals: list[Signal] = field(default_factory=list)
    decided_by: str | None = None
    reasons: list[str] = field(default_factory=list)
    image: dict[str, Any] | None = None
    error: ImageError | None = None
    regions: list[Region] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ai_probability": None if self.ai_probability is None else round(float(self.ai_probability), 6),
            "verdict": None if self.verdict is None else str(self.verdict),
            # six decimals like the probability: the stored float's last digits carry no meaning
            "threshold": None if self.threshold is None else round(float(self.threshold), 6),
            "model": self.model,
            "signals": [s.to_dict() for s in self.signals],
            "decided_by": self.decided_by,
            "reasons": list(self.reasons),
            "image": self.image,
            "error": None if self.error is None else self.error.to_dict(),
            "regions": None if self.regions is None else [r.to_dict() for r in self.regions],
        }

    @classmethod
    def failed(cls, path: str, code: str, message: str, model: str | None = None) -> Verdict:
        return cls(path=path, ai_probability=None, verdict=None, threshold=None, model=model,
                   error=ImageError(code, message, path))


__all__ = ["Hint", "ImageError", "ImageInfo", "Label", "Region", "Signal", "Strength", "Verdict", "VerdictLabel"]
