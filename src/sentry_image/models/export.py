"""``sentry-image export onnx``: write a checkpoint as one self-contained ``.onnx`` file (the ``train`` extra).

A checkpoint with torch weights is exported from them and checked against torch on a random batch; a graph-only
checkpoint (the shipped default) has its graph copied and stamped with the folder's ``config.json``, so a
recalibrated folder exports with its new calibration.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import GRAPH, WEIGHTS, load_torch, read_config, resolve_model
from .fusion import ARCHITECTURE as FUSION
from .onnx import DEFAULT_OPSET, check_parity, export_bytes, proto_config, quantize_int8, with_metadata
from .runtime import model_id

log = logging.getLogger(__name__)


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how closely it matches torch on a random check batch (``None`` for a
    graph-only checkpoint: there is no torch model to compare with)."""

    path: Path
    model: str
    size_bytes: int
    max_prob_diff: float | None
    int8: bool


def export_onnx(model: str | Path | None, out: str | Path, *, opset: int = DEFAULT_OPSET,
                int8: bool = False) -> ExportReport:
    """Export a checkpoint (``None``/name/folder, as :func:`sentry_image.load_detector` takes) to ``out``.

    The file is written to a temporary name and renamed, so ``out`` is either the old file or the whole new one.
    ``int8`` writes the INT8 dynamically quantised graph instead (smaller; see the README for what it costs).
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"{out}: the output file should end in .onnx")
    source = resolve_model(model)
    if source.is_file():
        raise ValueError(f"{source} is already an ONNX file")
    stored = read_config(source)
    if stored.get("architecture") == FUSION:
        branches = ", ".join(str(source / b["folder"] / GRAPH) for b in stored["branches"])
        raise ValueError(f"{source} is a fusion of branches that are ONNX graphs already ({branches}); the folder "
                         "itself is what onnxruntime loads (`detect --model` it, or export one branch folder)")
    diff: float | None = None
    if (source / WEIGHTS).is_file():
        net, calibration, config = load_torch(source)
        data = export_bytes(net, config, opset=opset)
        if int8:
            data = quantize_int8(data)
        diff = check_parity(net, calibration, data)
    else:
        import onnx

        config = stored
        proto = onnx.load(str(source / GRAPH))
        data = with_metadata(proto, {**config, "onnx": proto_config(proto).get("onnx", {})})
        if int8:
            data = quantize_int8(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    log.info("exported %s to %s", model_id(config), out)
    return ExportReport(path=out, model=model_id(config), size_bytes=len(data), max_prob_diff=diff, int8=int8)


__all__ = ["ExportReport", "export_onnx"]
