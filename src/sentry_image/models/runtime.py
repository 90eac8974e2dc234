"""What inference needs from a model, whatever runs it: the :class:`Runner` and :class:`Scorer` contracts and
:class:`LoadedModel`.

A runner maps preprocessed pixels ``[N, 3, H, W]`` (float32, from :func:`sentry_image.data.preprocess.preprocess`
with the runner's own ``preprocess_cfg``) to ``N`` raw logits, positive meaning AI-generated. Two implement it: an
onnxruntime session (:class:`sentry_image.models.onnx.OnnxRunner`, the inference core) and a torch
:class:`~sentry_image.models.base.DetectorModel` (checkpoints being trained or compared). Detection, evaluation
and recalibration only ever see this contract, so they run the same on both and never import torch themselves.

A scorer turns images into one raw logit each, in two steps: :meth:`Scorer.prepare` (per image, on the decoding
threads) and :meth:`Scorer.score` (one batched call), and says where in each image it looked (:class:`RegionLogits`).
A single network is a :class:`CropScorer` around its runner; a fusion of branches
(:mod:`sentry_image.models.fusion`) is another scorer. Detection, evaluation and calibration call scorers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ..data.preprocess import PreprocessConfig, crop_boxes, preprocess
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
class RegionLogits:
    """Where a scorer looked in one image: boxes ``[k, 4]`` (x, y, w, h in the input image's pixels) and the raw
    logit of each (on the image logit's scale: the logit the image would get were all of it like that box)."""

    boxes: NDArray[np.int64]
    logits: NDArray[np.float64]


@dataclass
class Scored:
    """A batch's scores: one raw logit per image, and per image its regions (``None`` when it has no map)."""

    logits: NDArray[np.float64]
    regions: list[RegionLogits | None]


@runtime_checkable
class Scorer(Protocol):
    """Images -> raw logits, prepared per image and scored per batch.

    ``reduce_to``: the short side a decoder may reduce a JPEG to before :meth:`prepare` (its own resize does the
    rest); ``None`` when the scorer needs every pixel.
    """

    reduce_to: int | None

    def prepare(self, image: Image.Image) -> Any:
        """Whatever :meth:`score` needs of one RGB image (arrays only: the image itself may then be dropped)."""
        ...

    def score(self, prepared: Sequence[Any]) -> Scored:
        """One raw logit (and the regions) per prepared image."""
        ...


@dataclass
class Crops:
    """A single network's prepared image: its preprocessed crops and where they lie."""

    pixels: NDArray[np.float32]
    boxes: NDArray[np.int64]


class CropScorer:
    """A :class:`Runner` as a scorer: each image's crops in one forward pass, the image logit the mean of its
    crops' logits, the crops its regions."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.reduce_to = runner.preprocess_cfg.resize_short

    def prepare(self, image: Image.Image) -> Crops:
        cfg = self.runner.preprocess_cfg
        boxes = np.asarray(crop_boxes(image.width, image.height, cfg), dtype=np.int64)
        return Crops(preprocess(image, cfg), boxes)

    def score(self, prepared: Sequence[Crops]) -> Scored:
        if not prepared:
            return Scored(np.zeros(0, dtype=np.float64), [])
        counts = [p.pixels.shape[0] for p in prepared]
        ends = np.cumsum(counts)
        # one forward pass per input shape: fixed crops share one; whole images (crop_mode "none", the published
        # CNNDetection/NPR protocols) each keep their own size
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, p in enumerate(prepared):
            by_shape.setdefault(tuple(p.pixels.shape[1:]), []).append(i)
        out = np.empty(int(ends[-1]), dtype=np.float32)
        for members in by_shape.values():
            batch = np.ascontiguousarray(np.concatenate([prepared[i].pixels for i in members]), dtype=np.float32)
            logits_of = np.asarray(self.runner.run(batch), dtype=np.float32).reshape(-1)
            start = 0
            for i in members:
                out[ends[i] - counts[i]:ends[i]] = logits_of[start:start + counts[i]]
                start += counts[i]
        per_crop = [out[end - n:end] for n, end in zip(counts, ends, strict=True)]
        logits = np.array([c.mean(dtype=np.float32) for c in per_crop], dtype=np.float64)
        regions: list[RegionLogits | None] = [RegionLogits(p.boxes, c.astype(np.float64))
                                              for p, c in zip(prepared, per_crop, strict=True)]
        return Scored(logits, regions)


def as_scorer(model: Runner | Scorer) -> Scorer:
    """``model`` as a scorer (a runner is wrapped in a :class:`CropScorer`)."""
    return model if isinstance(model, Scorer) else CropScorer(model)


@dataclass
class LoadedModel:
    """A model ready for inference: its scorer, calibration and the checkpoint config it came from.

    Attributes:
        runner: the network on one backend (``None`` for a fusion of several networks).
        calibration: logits -> probability, threshold and uncertain band.
        config: the checkpoint's ``config.json`` (or an ONNX file's stored copy).
        backend: ``onnx`` or ``torch``: what runs it.
        source: where it was loaded from (a folder or file path), for messages and reports.
        scorer: images -> logits (default: a :class:`CropScorer` of ``runner``).
        trained_on: SHA-256 of every image the checkpoint was fitted on (its ``training_images.sha256``), or
            ``None`` when the checkpoint does not record them.
    """

    runner: Runner | None
    calibration: Calibration
    config: dict[str, Any]
    backend: str
    source: str = ""
    scorer: Scorer = field(default=None)  # type: ignore[assignment]  # filled in from runner below
    trained_on: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.scorer is None:
            if self.runner is None:
                raise CheckpointError("a loaded model needs a runner or a scorer")
            self.scorer = CropScorer(self.runner)

    @property
    def id(self) -> str:
        """``name@version``."""
        return model_id(self.config)

    @property
    def num_parameters(self) -> int:
        """Parameter count recorded in the checkpoint (an onnxruntime graph has no parameter objects to count)."""
        return int(self.config.get("num_parameters") or 0)


def logits_for_images(model: Runner | Scorer, images: Sequence[Image.Image]) -> NDArray[np.float64]:
    """One raw logit per image, through the model's own preparation (a runner: crops averaged)."""
    scorer = as_scorer(model)
    return scorer.score([scorer.prepare(image) for image in images]).logits


__all__ = ["BACKENDS", "CheckpointError", "CropScorer", "Crops", "LoadedModel", "RegionLogits", "Runner", "Scored",
           "Scorer", "as_scorer", "logits_for_images", "model_id"]
