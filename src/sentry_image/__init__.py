"""Sentry-Image: tell whether an image is AI-generated, with a calibrated probability and the evidence.

>>> from sentry_image import load_detector
>>> detector = load_detector()                      # the shipped default, offline
>>> verdict = detector.detect("photo.jpg")          # path, bytes or PIL image
>>> verdict.verdict, verdict.ai_probability, verdict.signals
"""

from .detect import Detector, fuse, load_detector
from .models import create_detector, list_detectors
from .types import Hint, Label, Signal, Strength, Verdict, VerdictLabel

__version__ = "0.1.0"

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
