"""The detector contract for torch: an ``nn.Module`` mapping a preprocessed batch to one logit per image.

A model carries its own preprocessing (:class:`~sentry_image.data.preprocess.PreprocessConfig`) and declares the
hooks training calls, so the trainer never guesses at attributes:

* :meth:`DetectorModel.features` / :attr:`DetectorModel.head` / :meth:`DetectorModel.classify`: the network split
  into a backbone's raw features and the head that turns them into a logit (``forward = classify(features(x))``).
  Linear probes train the head alone (``model.freeze_backbone``), from cached features (``optim.optimizer:
  lbfgs``).
* :meth:`DetectorModel.fit_standardisation`: probes whose head reads standardised features store the statistics
  in buffers; the default keeps features as they are.
* :meth:`DetectorModel.load_pretrained`: backbone weights for training; families without any raise.

It is also a :class:`~sentry_image.models.runtime.Runner` (:meth:`DetectorModel.run`), so detection and evaluation
use a torch model exactly as they use an onnxruntime session. Calibration lives beside it in the checkpoint.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from ..data.preprocess import PreprocessConfig
from ._pretrained import PretrainedWeightsError


class DetectorModel(nn.Module):
    """Base class of every registered detector network.

    Subclasses build ``self.head`` (an ``nn.Module``, usually a one-output ``nn.Linear``), implement
    :meth:`features`, and declare the preprocessing they were trained with. ``arch`` and ``init_args`` make the
    model rebuildable from its checkpoint's ``config.json``.
    """

    arch: ClassVar[str] = ""
    head: nn.Module

    def __init__(self, preprocess: PreprocessConfig | None = None) -> None:
        super().__init__()
        self.preprocess_cfg = preprocess or PreprocessConfig()
        self.init_args: dict[str, Any] = {}
        self.registry_name: str = ""

    # -- the network ---------------------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Raw backbone features ``[B, F]`` of a normalised batch: what :attr:`head` reads (after standardisation)."""
        raise NotImplementedError(f"{type(self).__name__} does not define features()")

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` from raw features."""
        out: torch.Tensor = self.head(feats)
        return out.squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))

    # -- training hooks ------------------------------------------------------------------------------------------
    def fit_standardisation(self, feats: torch.Tensor) -> torch.Tensor:
        """Fit whatever the head's input standardisation stores on ``feats`` (raw features of training views) and
        return the features as the head sees them. Default: no standardisation."""
        return feats

    def load_pretrained(self, source: str) -> dict[str, Any]:
        """Load backbone weights from ``source`` (a local file, ``"hub"``, or a family's own source) and return a
        record for the checkpoint: where they came from and their licence."""
        raise PretrainedWeightsError(f"{self.registry_name or type(self).__name__}: no pretrained backbone to load")

    def head_parameters(self) -> list[nn.Parameter]:
        """What a frozen-backbone run optimises."""
        return list(self.head.parameters())

    # -- inference (the Runner contract) -------------------------------------------------------------------------
    @torch.inference_mode()
    def run(self, pixels: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, 3, H, W]`` preprocessed pixels -> ``[N]`` raw logits, on the CPU."""
        out = self(torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)))
        return np.asarray(out.float().reshape(-1).cpu().numpy(), dtype=np.float32)


__all__ = ["DetectorModel"]
