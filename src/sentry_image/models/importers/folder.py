"""Writing an imported network as our self-describing checkpoint folder, with the authors' operating point.

The folder is exactly what :func:`sentry_image.models.checkpoint.save_checkpoint` writes (``model.safetensors`` +
``config.json``, plus ``model.onnx``), but it is written here: :func:`~sentry_image.models.checkpoint.resolve_model`
imports on demand for ``import:FAMILY:FILE`` references, so this module importing the checkpoint module back would
close an import cycle. ``tests/models/test_importers_base.py`` pins the two writers to the same files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...types import Label
from ..calibration import Calibration

if TYPE_CHECKING:
    from ..base import DetectorModel

#: the authors' decision rule: the network's sigmoid output against 0.5, with no band of abstention
AUTHORS_CALIBRATION = Calibration(threshold=0.5, uncertain_band=(0.5, 0.5), method="identity",
                                  fitted_on="none: the authors' threshold, sigmoid(logit) >= 0.5")
#: calibrated probabilities of torch and onnxruntime may differ by this much before the graph is not written
ONNX_PARITY = 1e-4
# the checkpoint format of models.checkpoint (FORMAT_VERSION, WEIGHTS, GRAPH, CONFIG, LABEL_NAMES)
FORMAT_VERSION = 1
WEIGHTS, GRAPH, CONFIG = "model.safetensors", "model.onnx", "config.json"
LABEL_NAMES = {str(int(Label.REAL)): "real", str(int(Label.FAKE)): "ai-generated"}


def sha256(file: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (what the import record and the import cache name it by)."""
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_imported(model: DetectorModel, out: str | Path, *, family: str, file: str | Path, paper: str, source: str,
                   licence: str, notes: str = "") -> Path:
    """Write ``model`` as our checkpoint folder ``out`` with the authors' operating point and the import record.

    ``config.json`` records ``{"imported": {family, file, sha256, paper, source, licence, notes}}``. ``model.onnx``
    is written too when the network exports and onnxruntime agrees with torch; otherwise ``config.json`` says why
    under ``imported.onnx`` and the checkpoint runs on the torch backend only.
    """
    from safetensors.torch import save_file

    file, out = Path(file), Path(out)
    record: dict[str, Any] = {"family": family, "file": file.name, "sha256": sha256(file), "paper": paper,
                              "source": source, "licence": licence, "notes": notes}
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": "pt"})
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "name": f"{family}-{file.stem}", "version": "0",
        "architecture": model.registry_name, "args": model.init_args,
        "preprocessing": model.preprocess_cfg.to_dict(), "labels": LABEL_NAMES,
        "calibration": AUTHORS_CALIBRATION.to_dict(),
        "num_parameters": int(sum(p.numel() for p in model.parameters())), "imported": record,
    }
    graph, why = _export(model, config)
    if graph is None:
        record["onnx"] = f"not written: {why}; the checkpoint runs on the torch backend only"
    else:
        (out / GRAPH).write_bytes(graph)
    (out / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")
    return out


def _export(model: DetectorModel, config: dict[str, Any]) -> tuple[bytes | None, str]:
    try:
        from ..onnx import ExportError, check_parity, export_bytes
    except ImportError as exc:  # onnx is part of the train extra
        return None, f"the onnx package is not installed ({exc.name})"
    try:
        graph = export_bytes(model, config)
        gap = check_parity(model, AUTHORS_CALIBRATION, graph)
    except (ExportError, ImportError) as exc:
        return None, f"the network does not export to ONNX ({exc})"
    if gap > ONNX_PARITY:
        return None, f"onnxruntime differs from torch by {gap:.2e} in probability (limit {ONNX_PARITY:.0e})"
    return graph, ""


__all__ = ["AUTHORS_CALIBRATION", "CONFIG", "GRAPH", "ONNX_PARITY", "WEIGHTS", "sha256", "write_imported"]
