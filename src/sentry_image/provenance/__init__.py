"""Provenance evidence: C2PA content credentials, invisible watermarks and generator/camera metadata.

``read_provenance`` runs every reader on a decoded image and returns their signals; ``summarize`` reduces the
signals to one hint with this precedence (first rule that matches wins):

1. any strong AI signal -> ``ai-generated``. An AI statement (a C2PA AI claim, a decoded SD watermark, generator
   metadata) is not something a capture pipeline writes by accident, and AI images are often composited from
   real captures, so a strong AI signal beats a strong real one;
2. any strong real signal -> ``real`` (a capture claim from a trusted C2PA signer);
3. any weak AI signal -> ``ai-generated``;
4. any weak real signal (camera EXIF, an untrusted capture claim) -> ``real``;
5. otherwise ``none``: info signals (tampered or unreadable manifests, editing software) never decide.

Each reader is isolated: a reader that fails yields an info signal naming the failure, never an exception.
Each reader also skips its costly part where its evidence cannot be: ``c2pa-python`` runs only on files whose
structure holds (or announces) a manifest store, the watermark decode only where a mark can survive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from sentry_image.imaging import DecodedImage
from sentry_image.types import Hint, Signal, Strength

from .c2pa import read_c2pa, sidecar_path
from .metadata import read_metadata
from .watermark import read_watermark

logger = logging.getLogger(__name__)


#: a sidecar manifest store is a few kB to a few MB; a larger file beside the image is not read
SIDECAR_MAX_BYTES = 16 * 1024 * 1024


def _c2pa(decoded: DecodedImage) -> list[Signal]:
    sidecar = None if decoded.path is None else sidecar_path(decoded.path)
    data = None
    if sidecar is not None and sidecar.stat().st_size <= SIDECAR_MAX_BYTES:
        data = sidecar.read_bytes()
    return read_c2pa(decoded.data, decoded.info.format, sidecar=data)


def _watermark(decoded: DecodedImage) -> list[Signal]:
    return read_watermark(decoded.original, decoded.info.jpeg_quality)


def _metadata(decoded: DecodedImage) -> list[Signal]:
    return read_metadata(decoded.original, decoded.data)


#: The readers, by the name their failures are reported under, in the order they run.
READERS: dict[str, Callable[[DecodedImage], list[Signal]]] = {
    "c2pa": _c2pa, "watermark": _watermark, "metadata": _metadata}


def _run(name: str, decoded: DecodedImage) -> list[Signal]:
    try:
        return READERS[name](decoded)
    except Exception as exc:  # a broken file or a reader bug must cost one signal, never the verdict
        logger.warning("provenance reader %s failed: %s", name, exc, exc_info=True)
        return [Signal(name, Hint.NONE, f"{name} reader failed: {type(exc).__name__}: {exc}", Strength.INFO)]


def read_provenance(decoded: DecodedImage, readers: Collection[str] | None = None) -> list[Signal]:
    """Run the C2PA, watermark and metadata readers on ``decoded`` and return all their signals.

    ``readers`` selects some of ``READERS`` by name (default: all); they run in ``READERS`` order. The readers
    see the file's bytes and the image as stored (first frame, no rotation), never re-encoded pixels.
    """
    unknown = set(readers or ()) - READERS.keys()
    if unknown:
        raise ValueError(f"unknown provenance readers: {', '.join(sorted(unknown))}")
    return [s for name in READERS if readers is None or name in readers for s in _run(name, decoded)]


_PRECEDENCE: tuple[tuple[Strength, Hint], ...] = (
    (Strength.STRONG, Hint.AI),
    (Strength.STRONG, Hint.REAL),
    (Strength.WEAK, Hint.AI),
    (Strength.WEAK, Hint.REAL),
)


def summarize(signals: list[Signal]) -> Hint:
    """The overall provenance reading of ``signals`` (precedence in the module docstring)."""
    present = {(s.strength, s.hint) for s in signals}
    for strength, hint in _PRECEDENCE:
        if (strength, hint) in present:
            return hint
    return Hint.NONE


__all__ = ["READERS", "read_c2pa", "read_metadata", "read_provenance", "read_watermark", "summarize"]
