"""Every detector family, imported so that its ``@register_detector`` factories run: what callers list and create.

Add a new family module here. The families need torch (and timm), so the inference core never imports this module.
"""

from . import clip_probe, cnnspot, efficientnet_lite, lowlevel, npr, timm_zoo, tiny  # noqa: F401
from .registry import RegistryEntry, create_detector, get_entry, list_detectors

__all__ = ["RegistryEntry", "create_detector", "get_entry", "list_detectors"]
