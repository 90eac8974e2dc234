"""The low-level branch: a small network on native-resolution tiles of residuals, trained from scratch on a CPU.

Generators leave their traces in the finest pixel structure (up-sampling makes neighbouring pixels of each 2x2 cell
related; denoisers leave residual noise unlike a sensor's), and any resize before the network smooths them away.
So this branch never resizes: it scores ``tile`` x ``tile`` crops taken where they lie, on a grid of ``tiles``
positions spread over the image (``PreprocessConfig.num_crops``), and the image's logit is the mean of its tiles'
logits. The per-tile logits are also the map that ``detect --explain`` draws.

Its input is two fixed residuals of the pixels, never the pixels themselves (content is the semantic branch's job):
the NPR residual (``x`` minus its nearest-neighbour down-then-up-sampled copy) and a 3x3 high-pass (``x`` minus
its local mean). Four strided convolutions read them; global average pooling makes the logit a mean over the tile.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..data.preprocess import PreprocessConfig
from .base import DetectorModel
from .npr import npr_residual
from .registry import register_detector

#: Pixels enter in [0, 1] unnormalised: both residuals are differences, so a per-channel shift would cancel anyway.
RAW_MEAN, RAW_STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def residuals(x: torch.Tensor) -> torch.Tensor:
    """``[B, 6, H', W']``: the NPR residual and a 3x3 high-pass of ``x`` (cropped to even sides), scaled to unit
    order of magnitude (pixel differences are a few hundredths of the [0, 1] range)."""
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    local_mean = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return torch.cat([npr_residual(x), x - local_mean], dim=1) * 20.0


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ResidualTileNet(DetectorModel):
    """Residuals -> 3x3 conv at full resolution -> three stride-2 convs -> global average pool -> linear logit."""

    arch = "lowlevel"

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64), tile: int = 64, tiles: int = 16) -> None:
        super().__init__(PreprocessConfig(crop_size=tile, resize_short=None, num_crops=tiles,
                                          mean=RAW_MEAN, std=RAW_STD))
        if len(widths) < 2:
            raise ValueError("widths: at least two convolution widths")
        layers = [_conv(6, widths[0], 1)]
        layers += [_conv(a, b, 2) for a, b in pairwise(widths)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.body(residuals(x))
        return y.mean((2, 3))


@register_detector("lowlevel_residual", family="lowlevel")
def lowlevel_residual(widths: tuple[int, ...] = (8, 16, 32, 64), tile: int = 64, tiles: int = 16) -> DetectorModel:
    """Residual tile network (about 25k parameters): 16 native 64 px tiles per image, logits averaged."""
    return ResidualTileNet(tuple(widths), tile, tiles)


@register_detector("test_lowlevel_tiny", family="lowlevel")
def test_lowlevel_tiny(widths: tuple[int, ...] = (4, 8), tile: int = 32, tiles: int = 4) -> DetectorModel:
    """Tiny random residual tile network for tests (32 px tiles, 2x2 grid)."""
    return ResidualTileNet(tuple(widths), tile, tiles)


__all__ = ["RAW_MEAN", "RAW_STD", "ResidualTileNet", "residuals"]
