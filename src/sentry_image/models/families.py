"""Every detector family, imported so that its ``@register_detector`` factories run: what callers list and create.

Add a new family module here. The families need torch (and timm), so the inference core never imports this module.
"""

from . import (  # noqa: F401
    clip_probe,
    cnndetection,
    cnnspot,
    efficientnet_lite,
    freqnet,
    lowlevel,
    npr,
    npr_official,
    timm_zoo,
    tiny,
    univfd,
)
from .registry import RegistryEntry, create_detector, get_entry, list_detectors

__all__ = ["RegistryEntry", "create_detector", "get_entry", "list_detectors"]
