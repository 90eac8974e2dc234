"""What inference needs from a model, whatever runs it: the :class:`Runner` contract and :class:`LoadedModel`.

A runner maps preprocessed pixels ``[N, 3, H, W]`` (float32, from :func:`sentry_image.data.preprocess.preprocess`
with the runner's own ``preprocess_cfg``) to ``N`` raw logits, positive meaning AI-generated. Two implement it: an
onnxruntime session (:class:`sentry_image.models.onnx.OnnxRunner`, the inference core) and a torch
:class:`~sentry_image.models.base.DetectorModel` (checkpoints being trained or compared). Detection, evaluation
and recalibration only ever see this contract, so they run the same on both and never import torch themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ..data.preprocess import PreprocessConfig, preprocess
from .calibration import Calibration


class CheckpointError(Exception):
    """A checkpoint is missing, malformed, does not match its weights, or needs a backend that is not installed."""


BACKENDS: tuple[str, ...] = ("auto", "onnx", "torch")  # auto: onnx when the checkpoint has a graph, else torch


@runtime_checkable
class Runner(Protocol):
    """Anything that turns a preprocessed batch into one raw logit per row."""

    preprocess_cfg: PreprocessConfig

    def run(self, pixels: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, 3, H, W]`` normalised pixels -> ``[N]`` raw logits (uncalibrated)."""
        ...


def model_id(config: dict[str, Any]) -> str:
    """``name@version`` of a checkpoint config: the one spelling in every verdict, report and leaderboard row."""
    return f"{config.get('name') or config.get('architecture', 'unknown')}@{config.get('version', '0')}"


@dataclass
class LoadedModel:
    """A model ready for inference: its runner, calibration and the checkpoint config it came from.

    Attributes:
        runner: the network on one backend.
        calibration: logits -> probability, threshold and uncertain band.
        config: the checkpoint's ``config.json`` (or an ONNX file's stored copy).
        backend: ``onnx`` or ``torch``: what runs it.
        source: where it was loaded from (a folder or file path), for messages and reports.
    """

    runner: Runner
    calibration: Calibration
    config: dict[str, Any]
    backend: str
    source: str = ""

    @property
    def id(self) -> str:
        """``name@version``."""
        return model_id(self.config)

    @property
    def preprocess_cfg(self) -> PreprocessConfig:
        return self.runner.preprocess_cfg

    @property
    def num_parameters(self) -> int:
        """Parameter count recorded in the checkpoint (an onnxruntime graph has no parameter objects to count)."""
        return int(self.config.get("num_parameters") or 0)


def logits_for_crops(runner: Runner, crops: Sequence[NDArray[np.float32]]) -> NDArray[np.float64]:
    """One forward pass over already preprocessed images (``[num_crops, 3, H, W]`` each): one logit per image,
    the mean over its crops."""
    if not crops:
        return np.zeros(0, dtype=np.float64)
    counts = [c.shape[0] for c in crops]
    out = np.asarray(runner.run(np.ascontiguousarray(np.concatenate(crops), dtype=np.float32)), dtype=np.float32)
    out = out.reshape(-1)
    ends = np.cumsum(counts)
    return np.array([out[end - n:end].mean(dtype=np.float32) for n, end in zip(counts, ends, strict=True)],
                    dtype=np.float64)


def logits_for_images(runner: Runner, images: Sequence[Image.Image]) -> NDArray[np.float64]:
    """Preprocess ``images`` with the runner's own config and return one logit per image (crops averaged)."""
    return logits_for_crops(runner, [preprocess(image, runner.preprocess_cfg) for image in images])


__all__ = ["BACKENDS", "CheckpointError", "LoadedModel", "Runner", "logits_for_crops", "logits_for_images",
           "model_id"]
