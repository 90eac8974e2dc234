"""Detector networks: the registry, the contract, checkpoints and the families."""

from .base import Calibration, DetectorModel, PreprocessConfig, preprocess
from .checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from .registry import create_detector, list_detectors, register_detector

__all__ = [
    "Calibration",
    "CheckpointError",
    "DetectorModel",
    "PreprocessConfig",
    "create_detector",
    "list_detectors",
    "load_checkpoint",
    "preprocess",
    "read_config",
    "register_detector",
    "save_checkpoint",
]
