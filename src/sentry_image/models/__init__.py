"""Detector models: where they come from (:mod:`.checkpoint`), what inference needs (:mod:`.runtime`), the ONNX
format (:mod:`.onnx`), the torch contract (:mod:`.base`) and the registry of families (:mod:`.registry`).

Importing this package never imports torch: the torch-side names (``DetectorModel``, ``create_detector``,
``save_checkpoint`` ...) load their modules on first use, so the inference core stays torch-free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .calibration import Calibration, IsotonicKnots
from .checkpoint import (
    CheckpointError,
    load_model,
    model_config,
    read_config,
    resolve_model,
    save_checkpoint,
    shipped_checkpoints,
)
from .runtime import LoadedModel, Runner, model_id

if TYPE_CHECKING:
    from .base import DetectorModel
    from .registry import create_detector, list_detectors, register_detector

_LAZY = {"DetectorModel": "base", "create_detector": "families", "list_detectors": "families",
         "register_detector": "registry"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Calibration", "CheckpointError", "DetectorModel", "IsotonicKnots", "LoadedModel", "Runner",
           "create_detector", "list_detectors", "load_model", "model_config", "model_id", "read_config",
           "register_detector", "resolve_model", "save_checkpoint", "shipped_checkpoints"]
