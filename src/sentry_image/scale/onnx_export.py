"""Export a detector to ONNX: dynamic batch, preprocessing and calibration carried inside the file.

The graph maps ``pixels`` ``[batch, 3, H, W]`` (already preprocessed, as the torch model takes them) to ``logits``
``[batch]``. The checkpoint's ``config.json`` (architecture, preprocessing, calibration, threshold, ...) is stored
as the model's ``metadata_props`` under :data:`METADATA_KEY`, so a lone ``.onnx`` file is as self-describing as a
checkpoint folder and nothing is guessed from its name.

The TorchScript exporter (``dynamo=False``) is used on purpose: the dynamo exporter needs onnxscript, writes the
weights as external data unless told not to, and needs an example batch >= 2 to keep the batch dynamic.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from ..detect import resolve_model
from ..models.base import Calibration, DetectorModel
from ..models.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

METADATA_KEY = "sentry_image.config"
INPUT_NAME, OUTPUT_NAME = "pixels", "logits"
DEFAULT_OPSET = 17


class ExportError(Exception):
    """The model could not be exported, or the exported graph disagrees with the torch model."""


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how closely it matches torch on a random check batch."""

    path: Path
    model: str
    size_bytes: int
    max_prob_diff: float
    int8: bool


def onnx_config(config: dict[str, Any], *, opset: int, int8: bool) -> dict[str, Any]:
    """The checkpoint config as stored in the ONNX file, plus how the graph was made."""
    stored = dict(config)
    stored["onnx"] = {"input": INPUT_NAME, "output": OUTPUT_NAME, "opset": opset, "int8": int8,
                      "torch_version": torch.__version__}
    return stored


def export_bytes(net: DetectorModel, config: dict[str, Any], *, opset: int = DEFAULT_OPSET) -> bytes:
    """Serialise ``net`` as an ONNX model (bytes) with a dynamic batch and ``config`` in its metadata."""
    cfg = net.preprocess_cfg
    example = torch.zeros(2, 3, cfg.crop_size, cfg.crop_size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo; it is chosen deliberately (module docstring).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            # A file object is accepted by the TorchScript exporter, though typed as a path only.
            torch.onnx.export(net.eval(), (example,), buf, dynamo=False, opset_version=opset,  # type: ignore[arg-type]
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        except Exception as exc:  # the exporter raises many types; the user needs the architecture named
            raise ExportError(f"cannot export {net.registry_name!r} to ONNX: {exc}") from exc
    proto = onnx.load_from_string(buf.getvalue())
    _set_metadata(proto, onnx_config(config, opset=opset, int8=False))
    return bytes(proto.SerializeToString())


def _set_metadata(proto: onnx.ModelProto, config: dict[str, Any]) -> None:
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(config, sort_keys=True)


def quantize_int8(model_bytes: bytes) -> bytes:
    """INT8 dynamic quantisation of the weights (activations quantised on the fly); metadata kept."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load_from_string(model_bytes)
    config = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    root = logging.getLogger()
    level = root.level
    with tempfile.TemporaryDirectory(prefix="sentry-onnx-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model_bytes)
        # The quantiser advises its pre-processing on the root logger; measured on the default detector, neither
        # that nor per-channel weights changed the result (benchmarks/onnx_vs_torch.py), so the advice is muted.
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        except (ValueError, RuntimeError) as exc:  # e.g. a convolution whose weight is computed, not stored
            raise ExportError(f"INT8 quantisation failed: {exc}") from exc
        finally:
            root.setLevel(level)
        quantized = onnx.load(dst)
    config["onnx"]["int8"] = True
    _set_metadata(quantized, config)
    return bytes(quantized.SerializeToString())


def check_parity(net: DetectorModel, calibration: Calibration, model_bytes: bytes, *, batch: int = 4,
                 seed: int = 0) -> float:
    """Largest difference of calibrated probabilities between torch and onnxruntime on a random batch."""
    from .onnx_runtime import make_session

    size = net.preprocess_cfg.crop_size
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((batch, 3, size, size), dtype=np.float32))
    with torch.inference_mode():
        ref = net(x).float().reshape(-1).numpy()
    got = make_session(model_bytes).run(None, {INPUT_NAME: x.numpy()})[0].reshape(-1)
    return float(np.max(np.abs(calibration.probability(ref) - calibration.probability(got))))


def export_onnx(model: str | Path | None, out: str | Path, *, opset: int = DEFAULT_OPSET,
                int8: bool = False) -> ExportReport:
    """Export a checkpoint (``None``/name/folder, as :func:`sentry_image.load_detector` takes) to ``out``.

    The file is written to a temporary name and renamed, so ``out`` is either the old file or the whole new one.
    ``int8`` writes the INT8 dynamically quantised graph instead (smaller; see the README for what it costs).
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"{out}: the output file should end in .onnx")
    net, calibration, config = load_checkpoint(resolve_model(model))
    data = export_bytes(net, config, opset=opset)
    if int8:
        data = quantize_int8(data)
    diff = check_parity(net, calibration, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    name = f"{config.get('name', net.registry_name)}@{config.get('version', '0')}"
    log.info("exported %s to %s (max prob diff %.2e)", name, out, diff)
    return ExportReport(path=out, model=name, size_bytes=len(data), max_prob_diff=diff, int8=int8)


__all__ = ["METADATA_KEY", "ExportError", "ExportReport", "check_parity", "export_bytes", "export_onnx",
           "quantize_int8"]
