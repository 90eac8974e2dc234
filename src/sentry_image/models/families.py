"""Imports every detector family so that its ``@register_detector`` factories run. Add new families here."""

from . import clip_probe, cnnspot, efficientnet_lite, npr, timm_zoo, tiny  # noqa: F401
