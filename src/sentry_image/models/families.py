"""Imports every detector family so that its ``@register_detector`` factories run. Add new families here."""

from . import efficientnet_lite, tiny  # noqa: F401
