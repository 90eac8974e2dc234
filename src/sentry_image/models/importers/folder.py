"""Writing an imported network as our self-describing checkpoint folder, with the authors' operating point.

The folder is what :func:`~sentry_image.models.checkpoint_io.save_checkpoint` writes for any trained network
(``model.safetensors`` + ``config.json``), plus ``model.onnx`` when the network exports and onnxruntime agrees, and
the import record in ``config.json``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..calibration import Calibration
from ..checkpoint_io import CONFIG, GRAPH, WEIGHTS, read_config, save_checkpoint, write_config

if TYPE_CHECKING:
    from ..base import DetectorModel

#: the authors' decision rule: the network's sigmoid output against 0.5, with no band of abstention
AUTHORS_CALIBRATION = Calibration(threshold=0.5, uncertain_band=(0.5, 0.5), method="identity",
                                  fitted_on="none: the authors' threshold, sigmoid(logit) >= 0.5")
#: calibrated probabilities of torch and onnxruntime may differ by this much before the graph is not written
ONNX_PARITY = 1e-4


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
    file, out = Path(file), Path(out)
    record: dict[str, Any] = {"family": family, "file": file.name, "sha256": sha256(file), "paper": paper,
                              "source": source, "licence": licence, "notes": notes}
    model.eval()
    save_checkpoint(model, out, calibration=AUTHORS_CALIBRATION, name=f"{family}-{file.stem}", version="0",
                    extra={"imported": record})
    config = read_config(out)
    graph, why = _export(model, config)
    if graph is None:
        config["imported"]["onnx"] = f"not written: {why}; the checkpoint runs on the torch backend only"
        write_config(out, config)
    else:
        (out / GRAPH).write_bytes(graph)
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
