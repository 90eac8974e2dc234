"""Run a detector on onnxruntime behind the same contract as the torch model.

:class:`OnnxDetectorModel` is a :class:`~sentry_image.models.base.DetectorModel` (``[B, 3, H, W]`` preprocessed
pixels -> ``[B]`` logits, with its ``preprocess_cfg``) whose forward pass calls an onnxruntime session, so
:class:`~sentry_image.detect.Detector` (decode, provenance, preprocessing, calibration, fusion) uses it unchanged.
:func:`load_onnx` is what ``load_detector(..., backend="onnx")`` calls; evaluation code can call it directly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.base import Calibration, DetectorModel, PreprocessConfig

log = logging.getLogger(__name__)

#: onnxruntime graph optimisation levels by name. ``all`` (the default) held parity within 1e-6 on every
#: registered detector (benchmarks/onnx_vs_torch.py), so there is no reason to run less.
OPTIMIZATION_LEVELS = ("none", "basic", "extended", "all")


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("the onnx backend needs the scale extra: pip install 'sentry-image[scale]'") from exc
    return onnxruntime


def make_session(model: bytes | str | Path, *, threads: int | None = None, optimization: str = "all") -> Any:
    """An onnxruntime CPU session for a model file or its bytes.

    Args:
        threads: intra-op threads (``None``: onnxruntime's default, one per core). Ray actors set 1 so that
            several actors share a machine without oversubscribing it.
        optimization: one of :data:`OPTIMIZATION_LEVELS`.
    """
    ort = _ort()
    levels = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if optimization not in levels:
        raise ValueError(f"unknown optimisation level {optimization!r}; expected one of {OPTIMIZATION_LEVELS}")
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


class OnnxDetectorModel(DetectorModel):
    """A detector whose forward pass runs an onnxruntime session (CPU); no torch parameters."""

    arch = "onnx"

    def __init__(self, session: Any, preprocess: PreprocessConfig, registry_name: str = "") -> None:
        super().__init__(preprocess)
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.registry_name = registry_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        logits = self.session.run(None, {self.input_name: pixels})[0]
        return torch.from_numpy(np.asarray(logits, dtype=np.float32).reshape(-1))


def read_onnx_config(session: Any) -> dict[str, Any]:
    """The checkpoint config stored in an exported file's metadata (raises ValueError if it has none)."""
    from .onnx_export import METADATA_KEY

    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise ValueError(f"this ONNX file was not written by `sentry-image export onnx`: no {METADATA_KEY!r} "
                         "metadata (preprocessing and calibration are unknown)")
    return dict(json.loads(meta[METADATA_KEY]))


def load_onnx(model: str | Path | None = None, *, threads: int | None = None,
              optimization: str = "all") -> tuple[DetectorModel, Calibration, dict[str, Any]]:
    """Model, calibration and config for ``load_detector(..., backend="onnx")``.

    ``model`` is a ``.onnx`` file written by ``sentry-image export onnx``, or anything ``load_detector`` takes
    (``None``, a shipped name, a checkpoint folder): that checkpoint is then exported in memory first, which costs
    a few seconds per load; export once to skip it. Evaluation code gets the same detector with
    ``load_detector(model, backend="onnx")``.
    """
    if model is not None and str(model).endswith(".onnx"):
        path = Path(model)
        if not path.is_file():
            raise ValueError(f"{path}: no such ONNX file")
        session = make_session(path, threads=threads, optimization=optimization)
    else:
        from ..detect import resolve_model
        from ..models.checkpoint import load_checkpoint
        from .onnx_export import export_bytes

        net, _, config = load_checkpoint(resolve_model(model))
        log.info("exporting %s to ONNX in memory (export it once to skip this)", config.get("name"))
        session = make_session(export_bytes(net, config), threads=threads, optimization=optimization)
    config = read_onnx_config(session)
    net_onnx = OnnxDetectorModel(session, PreprocessConfig.from_dict(config["preprocessing"]),
                                 str(config.get("architecture", "")))
    return net_onnx, Calibration.from_dict(config["calibration"]), config


__all__ = ["OPTIMIZATION_LEVELS", "OnnxDetectorModel", "load_onnx", "make_session", "read_onnx_config"]
