"""A checkpoint is a self-describing folder: ``model.safetensors`` + ``config.json``.

``config.json`` holds everything needed to rebuild and use the model without reading file names: the registry
name and its arguments, preprocessing, label names, calibration (threshold, uncertain band), the hash of the
training data and the metrics measured on its own held-out split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from ..types import Label
from .base import Calibration, DetectorModel, PreprocessConfig
from .registry import create_detector

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
LABEL_NAMES = {str(int(Label.REAL)): "real", str(int(Label.FAKE)): "ai-generated"}


class CheckpointError(Exception):
    """A checkpoint folder is missing, malformed, or does not match its weights."""


def save_checkpoint(
    model: DetectorModel,
    folder: str | Path,
    *,
    calibration: Calibration | None = None,
    name: str | None = None,
    version: str = "0",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (weights + config) into ``folder`` and return the folder path.

    ``extra`` is merged into ``config.json`` (training data hash, metrics, licence notes, ...).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not model.registry_name:
        raise CheckpointError("model was not built by create_detector(): its registry name is unknown")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt"})
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": name or model.registry_name,
        "version": version,
        "architecture": model.registry_name,
        "args": model.init_args,
        "preprocessing": model.preprocess_cfg.to_dict(),
        "labels": LABEL_NAMES,
        "calibration": (calibration or Calibration()).to_dict(),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
    }
    config.update(extra or {})
    (folder / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")
    return folder


def read_config(folder: str | Path) -> dict[str, Any]:
    """Read and sanity-check a checkpoint's ``config.json``."""
    folder = Path(folder)
    path = folder / CONFIG
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder (expected {CONFIG} and {WEIGHTS} inside)")
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG}")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable config ({exc})") from exc
    for key in ("architecture", "preprocessing", "calibration"):
        if key not in config:
            raise CheckpointError(f"{path}: missing key {key!r}")
    if config.get("labels", LABEL_NAMES) != LABEL_NAMES:
        raise CheckpointError(f"{path}: label names {config.get('labels')} differ from {LABEL_NAMES}")
    return dict(config)


def load_checkpoint(folder: str | Path) -> tuple[DetectorModel, Calibration, dict[str, Any]]:
    """Rebuild the model described by ``folder/config.json`` and load its weights strictly."""
    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder}: no {WEIGHTS}")
    try:
        model = create_detector(config["architecture"], **config.get("args", {}))
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder}: cannot build {config['architecture']!r}: {exc}") from exc
    model.preprocess_cfg = PreprocessConfig.from_dict(config["preprocessing"])
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{weights}: unreadable weights ({exc})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shape_mismatch = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or shape_mismatch:
        raise CheckpointError(
            f"{folder}: weights do not match config architecture {config['architecture']!r} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {shape_mismatch[:5]})"
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, Calibration.from_dict(config["calibration"]), config


__all__ = ["CheckpointError", "load_checkpoint", "read_config", "save_checkpoint"]
