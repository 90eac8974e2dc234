"""The ONNX format both ways: run a graph on onnxruntime (the inference core), and export a torch detector to one.

The graph maps ``pixels`` ``[batch, 3, H, W]`` (preprocessed, as the torch model takes them) to ``logits``
``[batch]``. The checkpoint's config (architecture, preprocessing, calibration, threshold, ...) is stored in the
file's ``metadata_props`` under :data:`METADATA_KEY`, so a lone ``.onnx`` file is as self-describing as a
checkpoint folder. Running needs onnxruntime only; exporting needs torch and onnx (the ``train`` extra), imported
inside the functions that export.

The TorchScript exporter (``dynamo=False``) is used on purpose: the dynamo exporter needs onnxscript, writes the
weights as external data unless told not to, and needs an example batch >= 2 to keep the batch dynamic.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..data.preprocess import PreprocessConfig
from .calibration import Calibration
from .runtime import CheckpointError

if TYPE_CHECKING:
    from .base import DetectorModel

log = logging.getLogger(__name__)

METADATA_KEY = "sentry_image.config"
INPUT_NAME, OUTPUT_NAME = "pixels", "logits"
DEFAULT_OPSET = 17
#: onnxruntime graph optimisation levels by name. ``all`` (the default) held parity within 1e-6 on every
#: registered detector (benchmarks/onnx_vs_torch.py), so there is no reason to run less.
OPTIMIZATION_LEVELS = ("none", "basic", "extended", "all")


class ExportError(Exception):
    """The model could not be exported, or the exported graph disagrees with the torch model."""


def make_session(model: bytes | str | Path, *, threads: int | None = None, optimization: str = "all") -> Any:
    """An onnxruntime CPU session for a model file or its bytes (``threads``: intra-op threads, None = one per
    core; Ray actors set 1 so that several share a machine without oversubscribing it)."""
    import onnxruntime as ort

    levels = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if optimization not in levels:
        raise ValueError(f"unknown optimisation level {optimization!r}; expected one of {OPTIMIZATION_LEVELS}")
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    # No busy-waiting between runs: idle inference threads otherwise spin on the cores that decode and read
    # provenance for the next batch (detect path 45 -> 67 images/s on 2 cores, benchmarks/detect_throughput.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (pybind) error types for unreadable graphs
        where = "<bytes>" if isinstance(model, bytes) else str(model)
        raise CheckpointError(f"{where}: not a readable ONNX graph ({exc})") from None


class OnnxRunner:
    """The :class:`~sentry_image.models.runtime.Runner` of an onnxruntime session."""

    def __init__(self, session: Any, preprocess_cfg: PreprocessConfig) -> None:
        self.session = session
        self.preprocess_cfg = preprocess_cfg
        self.input_name = session.get_inputs()[0].name

    def run(self, pixels: NDArray[np.float32]) -> NDArray[np.float32]:
        logits = self.session.run(None, {self.input_name: np.ascontiguousarray(pixels, dtype=np.float32)})[0]
        return np.asarray(logits, dtype=np.float32).reshape(-1)


def stored_config(session: Any, where: str = "this ONNX file") -> dict[str, Any]:
    """The checkpoint config stored in an exported graph's metadata."""
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise CheckpointError(f"{where} was not written by `sentry-image export onnx`: no {METADATA_KEY!r} metadata "
                              "(preprocessing and calibration are unknown)")
    try:
        config = json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{where}: unreadable {METADATA_KEY!r} metadata ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: {METADATA_KEY!r} metadata is not a JSON object")
    return config


def _stored_config(config: dict[str, Any], opset: int, int8: bool) -> dict[str, Any]:
    import torch

    return {**config, "onnx": {"input": INPUT_NAME, "output": OUTPUT_NAME, "opset": opset, "int8": int8,
                               "torch_version": torch.__version__}}


def export_bytes(net: DetectorModel, config: dict[str, Any], *, opset: int = DEFAULT_OPSET) -> bytes:
    """Serialise ``net`` as an ONNX model (bytes) with a dynamic batch and ``config`` in its metadata."""
    import onnx
    import torch

    size = net.preprocess_cfg.crop_size
    example = torch.zeros(2, 3, size, size)
    # a model fed whole images (crop_mode "none") takes any height and width, so those axes stay dynamic too
    whole = net.preprocess_cfg.crop_mode == "none"
    pixel_axes = {0: "batch", 2: "height", 3: "width"} if whole else {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo; it is chosen deliberately (module docstring).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            # A file object is accepted by the TorchScript exporter, though typed as a path only.
            torch.onnx.export(net.eval(), (example,), buf, dynamo=False, opset_version=opset,  # type: ignore[arg-type]
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: pixel_axes, OUTPUT_NAME: {0: "batch"}})
        except Exception as exc:  # the exporter raises many types; the user needs the architecture named
            raise ExportError(f"cannot export {net.registry_name!r} to ONNX: {exc}") from exc
    return with_metadata(onnx.load_from_string(buf.getvalue()), _stored_config(config, opset, int8=False))


def proto_config(proto: Any) -> dict[str, Any]:
    """The config stored in a loaded ``onnx.ModelProto`` (empty when the graph carries none)."""
    stored = {p.key: p.value for p in proto.metadata_props}.get(METADATA_KEY)
    return dict(json.loads(stored)) if stored else {}


def with_metadata(proto: Any, config: dict[str, Any]) -> bytes:
    """``proto`` serialised with ``config`` as its only metadata entry."""
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(config, sort_keys=True)
    return bytes(proto.SerializeToString())


def quantize_int8(model_bytes: bytes) -> bytes:
    """INT8 dynamic quantisation of the weights (activations quantised on the fly); metadata kept."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load_from_string(model_bytes)
    config = proto_config(proto)
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
    return with_metadata(quantized, config)


def check_parity(net: DetectorModel, calibration: Calibration, model_bytes: bytes, *, batch: int = 4,
                 seed: int = 0) -> float:
    """Largest difference of calibrated probabilities between torch and onnxruntime on a random batch."""
    size = net.preprocess_cfg.crop_size
    x = np.random.default_rng(seed).standard_normal((batch, 3, size, size), dtype=np.float32)
    ref = net.run(x)
    got = OnnxRunner(make_session(model_bytes), net.preprocess_cfg).run(x)
    return float(np.max(np.abs(calibration.probability(ref) - calibration.probability(got))))


__all__ = ["METADATA_KEY", "OPTIMIZATION_LEVELS", "ExportError", "OnnxRunner", "check_parity", "export_bytes",
           "make_session", "proto_config", "quantize_int8", "stored_config", "with_metadata"]
