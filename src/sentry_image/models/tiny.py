"""Tiny ``test_*`` detectors: a few thousand parameters, for fast contract and pipeline tests."""

from __future__ import annotations

import torch
from torch import nn

from ..data.preprocess import PreprocessConfig
from .base import DetectorModel
from .registry import register_detector


class TinyCNN(DetectorModel):
    """Two conv layers and a linear head. Not a useful detector: it exists to exercise the plumbing."""

    arch = "tiny_cnn"

    def __init__(self, width: int = 8, crop_size: int = 32, num_crops: int = 1) -> None:
        super().__init__(PreprocessConfig(crop_size=crop_size, num_crops=num_crops))
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(width, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out


@register_detector("test_tiny_cnn", family="tiny")
def test_tiny_cnn(width: int = 8, crop_size: int = 32, num_crops: int = 1) -> DetectorModel:
    """Tiny CNN for tests (32 px crops)."""
    return TinyCNN(width=width, crop_size=crop_size, num_crops=num_crops)
