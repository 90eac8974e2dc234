"""NPR (Tan et al., Rethinking the Up-Sampling Operations in CNN-based Generative Network, CVPR 2024).

Generators up-sample, which makes neighbouring pixels in each 2x2 cell related. NPR exposes that relation as
the residual between the image and its nearest-neighbour down-then-up-sampled copy, and feeds it to a small
ResNet (the first two stages of a ResNet, as in the paper) trained from scratch. The input is a native-resolution
crop: any resize before it would destroy the 2x2 structure being measured.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.preprocess import PreprocessConfig
from .base import DetectorModel
from .registry import register_detector


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """``x - up(down(x))`` with nearest-neighbour sampling at factor 2 (zero wherever 2x2 cells are constant)."""
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # odd sizes: drop the last row/column
    x = x[..., :h, :w]
    down = F.interpolate(x, scale_factor=0.5, mode="nearest")
    return x - F.interpolate(down, scale_factor=2.0, mode="nearest")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.proj(x))


class NPRNet(DetectorModel):
    """NPR residual -> stem -> two residual stages -> global average pool -> linear logit."""

    arch = "npr"

    def __init__(self, width: int = 64, blocks: int = 2, crop_size: int = 224, num_crops: int = 1) -> None:
        super().__init__(PreprocessConfig(crop_size=crop_size, resize_short=None, num_crops=num_crops))
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        stage1 = [BasicBlock(width, width) for _ in range(blocks)]
        stage2 = [BasicBlock(width, 2 * width, 2)] + [BasicBlock(2 * width, 2 * width) for _ in range(blocks - 1)]
        self.stages = nn.Sequential(*stage1, *stage2)
        self.head = nn.Linear(2 * width, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # x2/3 as in the reference code: keeps the residual's spread near that of normalised pixels
        y: torch.Tensor = self.stages(self.stem(npr_residual(x) * (2.0 / 3.0)))
        return y.mean((2, 3))


@register_detector("npr_resnet", family="npr")
def npr_resnet(width: int = 64, blocks: int = 2, crop_size: int = 224, num_crops: int = 1) -> DetectorModel:
    """NPR residuals into a two-stage ResNet (64/128 channels), trained from scratch; native-resolution crops."""
    return NPRNet(width, blocks, crop_size, num_crops)


@register_detector("npr_resnet_small", family="npr")
def npr_resnet_small(width: int = 32, blocks: int = 1, crop_size: int = 224, num_crops: int = 1) -> DetectorModel:
    """NPR with 32/64 channels and one block per stage: about a tenth of the compute, for CPU budgets."""
    return NPRNet(width, blocks, crop_size, num_crops)


@register_detector("test_npr_tiny", family="npr")
def test_npr_tiny(width: int = 8, blocks: int = 1, crop_size: int = 32, num_crops: int = 1) -> DetectorModel:
    """Tiny random NPR network for tests (32 px crops)."""
    return NPRNet(width, blocks, crop_size, num_crops)


__all__ = ["NPRNet", "npr_residual"]
