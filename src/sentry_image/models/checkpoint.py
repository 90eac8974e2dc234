"""Where a model comes from: checkpoint folders, shipped checkpoints, and :func:`load_model` on either backend.

A checkpoint is a self-describing folder: ``config.json`` (architecture and its arguments, preprocessing, label
names, calibration and threshold, training data hash, metrics on its held-out splits) beside its weights, as an
ONNX graph ``model.onnx`` (what the inference core runs), torch weights ``model.safetensors`` (what training and
the torch backend read), or both, and ``training_images.sha256`` (the images it was fitted on, see
:mod:`.training_record`). In a folder ``config.json`` is authoritative; a lone ``.onnx`` file written by
``sentry-image export onnx`` carries the same config in its metadata. Nothing is parsed from file names.

The torch side (building a network, reading safetensors) is imported only when a torch checkpoint is loaded or
saved, so the core install reads configs and runs ONNX graphs without torch.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.preprocess import PreprocessConfig
from .calibration import Calibration
from .checkpoint_io import (
    CONFIG,
    GRAPH,
    LABEL_NAMES,
    WEIGHTS,
    check_config,
    read_config,
    save_checkpoint,
    write_config,
)
from .fusion import ARCHITECTURE as FUSION
from .fusion import load_fused
from .onnx import OnnxRunner, export_bytes, make_session, stored_config
from .runtime import BACKENDS, CheckpointError, LoadedModel, model_id
from .training_record import read_training_record

if TYPE_CHECKING:
    from .base import DetectorModel

log = logging.getLogger(__name__)
DEFAULT_MODEL = "default"
TRAIN_EXTRA = "pip install 'sentry-image[train]'"


def _weights_root() -> Path:
    return Path(str(resources.files("sentry_image") / "weights"))


def shipped_checkpoints() -> list[str]:
    """Names of the checkpoints inside the package (``default`` among them)."""
    root = _weights_root()
    return sorted(p.name for p in root.iterdir() if (p / CONFIG).is_file()) if root.is_dir() else []


def resolve_model(model: str | Path | None) -> Path:
    """Map ``None``/``"default"``, a shipped checkpoint name, a checkpoint folder, a ``.onnx`` file, a hub
    reference ``hf-hub:owner/name[/folder][@revision]`` (downloaded into the hub cache, see :mod:`.hub`) or a
    published detector's released file ``import:FAMILY:FILE`` (imported once into the import cache, see
    :mod:`.importers`) to its path."""
    if model is None or str(model) == DEFAULT_MODEL:
        return _weights_root() / DEFAULT_MODEL
    if isinstance(model, str) and model.startswith("hf-hub:"):
        from .hub import resolve_hub_model  # the hub client is an optional extra: imported only when asked for

        return resolve_hub_model(model)
    if isinstance(model, str) and model.startswith("import:"):
        return _resolve_import(model)
    path = Path(model)
    if path.is_dir() or (path.is_file() and path.suffix == ".onnx"):
        return path
    shipped = _weights_root() / str(model)
    if shipped.is_dir() and "/" not in str(model):
        return shipped
    raise CheckpointError(
        f"{model}: not a checkpoint folder (config.json + model.onnx or model.safetensors), an exported .onnx file, "
        f"a shipped checkpoint (shipped: {', '.join(shipped_checkpoints()) or 'none'}) nor a hub model "
        "(hf-hub:owner/name[@revision])"
    )


def _resolve_import(model: str) -> Path:
    try:  # importing builds the authors' network in torch: the train extra, imported only when asked for
        from .importers import ImportFailure, resolve_import
    except ImportError as exc:
        raise CheckpointError(f"{model}: importing a published checkpoint needs torch: {TRAIN_EXTRA} "
                              f"({exc.name} missing)") from None
    try:
        return resolve_import(model)
    except ImportFailure as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"{model}: cannot write the import cache: {exc.strerror or exc}") from None


def model_config(model: str | Path | None) -> dict[str, Any]:
    """The config of anything :func:`load_model` takes, without loading the network (cheap: no runtime starts
    for a folder; an ``.onnx`` file's metadata is read through onnxruntime)."""
    path = resolve_model(model)
    if path.is_dir():
        return read_config(path)
    return check_config(stored_config(make_session(path, optimization="none"), str(path)), str(path))


def load_torch(folder: str | Path) -> tuple[DetectorModel, Calibration, dict[str, Any]]:
    """Rebuild the torch network described by ``folder/config.json`` and load its weights strictly."""
    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder}: no {WEIGHTS}: this checkpoint has no torch weights"
                              + (f" (it ships as {GRAPH}: use the onnx backend)" if (folder / GRAPH).is_file() else ""))
    try:
        from safetensors.torch import load_file

        from .families import create_detector
    except ImportError as exc:
        raise CheckpointError(f"the torch backend needs torch: {TRAIN_EXTRA} ({exc.name} missing)") from None
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
    return model, _calibration(config, str(folder)), config


def _calibration(config: dict[str, Any], where: str) -> Calibration:
    try:
        return Calibration.from_dict(config["calibration"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: bad calibration ({exc})") from exc


def choose_backend(path: Path, backend: str) -> str:
    """``auto`` -> ``onnx`` when there is a graph to run (an ``.onnx`` file, or ``model.onnx`` in the folder), else
    ``torch``; an explicit backend is checked against what the checkpoint holds."""
    if backend not in BACKENDS:
        raise CheckpointError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    has_graph = path.is_file() or (path / GRAPH).is_file()
    if backend == "auto":
        return "onnx" if has_graph else "torch"
    if backend == "torch" and path.is_file():
        raise CheckpointError(f"{path}: an ONNX file runs on the onnx backend only")
    return backend


def load_model(model: str | Path | None = None, backend: str = "auto", *, threads: int | None = None) -> LoadedModel:
    """Load any model reference for inference.

    Args:
        model: ``None``/``"default"`` (the shipped default), a shipped checkpoint name, a checkpoint folder (a
            fusion folder loads each of its branches on ``backend``), or an ``.onnx`` file written by
            ``sentry-image export onnx``.
        backend: ``auto`` (onnxruntime when a graph exists, else torch), ``onnx`` or ``torch``. ``onnx`` on a
            folder with torch weights only exports the graph in memory first (needs torch; a few seconds).
        threads: inference threads (``None``: the runtime's default, one per core).

    Raises:
        CheckpointError: a missing or malformed checkpoint, or a backend whose packages are not installed.
    """
    path = resolve_model(model)
    loaded = _load(path, backend, threads)
    # the record lies beside the top config: a fusion's, not its branches' (they were fitted on the same images)
    loaded.trained_on = read_training_record(path) if path.is_dir() else None
    return loaded


def _load(path: Path, backend: str, threads: int | None) -> LoadedModel:
    config = read_config(path) if path.is_dir() and not (path / GRAPH).is_file() else {}
    if config.get("architecture") == FUSION:  # a fusion folder holds branch folders, never a graph of its own
        return load_fused(path, config, _calibration(config, str(path)),
                          lambda branch: load_model(branch, backend, threads=threads))
    chosen = choose_backend(path, backend)
    if chosen == "torch":
        net, calibration, config = load_torch(path)
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        return LoadedModel(net, calibration, config, "torch", str(path))
    runner, config = load_onnx(path, threads=threads)
    return LoadedModel(runner, _calibration(config, str(path)), config, "onnx", str(path))


def load_onnx(path: Path, *, threads: int | None = None,
              optimization: str = "all") -> tuple[OnnxRunner, dict[str, Any]]:
    """The onnxruntime runner and config of an ``.onnx`` file or a checkpoint folder.

    A folder's ``config.json`` is authoritative (a recalibrated copy keeps the graph it was exported with); a
    folder with torch weights only is exported in memory first, which needs torch and costs a few seconds.
    """
    if path.is_file():
        session = make_session(path, threads=threads, optimization=optimization)
        config = check_config(stored_config(session, str(path)), str(path))
    elif (path / GRAPH).is_file():
        config = read_config(path)
        session = make_session(path / GRAPH, threads=threads, optimization=optimization)
    else:
        try:
            net, _, config = load_torch(path)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}; this folder has no {GRAPH}: export one with `sentry-image export onnx "
                                  f"--model {path} --out {path / GRAPH}`") from None
        log.info("exporting %s to ONNX in memory (export it once to skip this)", model_id(config))
        session = make_session(export_bytes(net, config), threads=threads, optimization=optimization)
    try:
        preprocess_cfg = PreprocessConfig.from_dict(config["preprocessing"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad preprocessing ({exc})") from None
    return OnnxRunner(session, preprocess_cfg), config


__all__ = ["CONFIG", "DEFAULT_MODEL", "GRAPH", "LABEL_NAMES", "WEIGHTS", "CheckpointError", "check_config",
           "choose_backend", "load_model", "load_onnx", "load_torch", "model_config", "model_id", "read_config",
           "resolve_model", "save_checkpoint", "shipped_checkpoints", "write_config"]
