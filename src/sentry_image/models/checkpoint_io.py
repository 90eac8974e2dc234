"""The checkpoint folder's files: their names, ``config.json`` read, checked and written, and torch weights saved.

The lowest layer of the checkpoint code: :mod:`.checkpoint` (which resolves and loads any model reference) and the
importers of published checkpoints (which :mod:`.checkpoint` calls for ``import:`` references) both write folders
through :func:`save_checkpoint`, so the format lives in one place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..types import Label
from .calibration import Calibration
from .runtime import CheckpointError

if TYPE_CHECKING:
    from .base import DetectorModel

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
GRAPH = "model.onnx"
CONFIG = "config.json"
LABEL_NAMES = {str(int(Label.REAL)): "real", str(int(Label.FAKE)): "ai-generated"}


def read_config(folder: str | Path) -> dict[str, Any]:
    """Read and sanity-check a checkpoint folder's ``config.json``."""
    folder = Path(folder)
    path = folder / CONFIG
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder (expected {CONFIG} and {GRAPH} or {WEIGHTS})")
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG}")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable config ({exc})") from exc
    return check_config(config, str(path))


def check_config(config: Any, where: str) -> dict[str, Any]:
    """The keys every checkpoint config needs, and the label convention (REAL=0, FAKE=1)."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: the config must be a JSON object")
    for key in ("architecture", "preprocessing", "calibration"):
        if key not in config:
            raise CheckpointError(f"{where}: missing key {key!r}")
    if config.get("labels", LABEL_NAMES) != LABEL_NAMES:
        raise CheckpointError(f"{where}: label names {config.get('labels')} differ from {LABEL_NAMES}")
    return dict(config)


def save_checkpoint(model: DetectorModel, folder: str | Path, *, calibration: Calibration | None = None,
                    name: str | None = None, version: str = "0", extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (torch weights + config) into ``folder`` and return the folder path.

    ``extra`` is merged into ``config.json`` (training data hash, metrics, licence notes, ...).
    """
    from safetensors.torch import save_file

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
    write_config(folder, config)
    return folder


def write_config(folder: str | Path, config: dict[str, Any]) -> Path:
    """Write ``config.json`` into ``folder`` (one place, one format)."""
    path = Path(folder) / CONFIG
    path.write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")
    return path


__all__ = ["CONFIG", "FORMAT_VERSION", "GRAPH", "LABEL_NAMES", "WEIGHTS", "check_config", "read_config",
           "save_checkpoint", "write_config"]
