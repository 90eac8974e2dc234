"""Sentry-Image: tell whether an image is AI-generated, with a calibrated probability and the evidence.

>>> from sentry_image import load_detector
>>> detector = load_detector()                      # the shipped default, offline
>>> verdict = detector.detect("photo.jpg")          # path, bytes or PIL image
>>> verdict.verdict, verdict.ai_probability, verdict.signals

Names are imported on first use, so that commands which never touch a model (``sentry-image data ...``) do not
pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .types import Hint, Label, Signal, Strength, Verdict, VerdictLabel

if TYPE_CHECKING:
    from .detect import Detector, fuse, load_detector
    from .models import create_detector, list_detectors

__version__ = "0.2.0"

_LAZY = {
    "Detector": "detect",
    "fuse": "detect",
    "load_detector": "detect",
    "create_detector": "models",
    "list_detectors": "models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Detector",
    "Hint",
    "Label",
    "Signal",
    "Strength",
    "Verdict",
    "VerdictLabel",
    "__version__",
    "create_detector",
    "fuse",
    "list_detectors",
    "load_detector",
]
