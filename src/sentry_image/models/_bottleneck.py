"""torchvision's ResNet bottleneck under the attribute names the published NPR and FreqNet code uses.

Both official repositories build their networks from this block (stride on the 3x3, a 1x1 projection when the
shape changes), so their released state dicts share its key names (``conv1``, ``bn1``, ..., ``downsample.0``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by :attr:`expansion`, plus the identity or a projection."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def bottleneck_stage(cin: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """A ResNet stage (``layerN``): the first block takes the stride and the projection, the rest keep the shape."""
    out = planes * Bottleneck.expansion
    return nn.Sequential(Bottleneck(cin, planes, stride), *(Bottleneck(out, planes) for _ in range(blocks - 1)))


__all__ = ["Bottleneck", "bottleneck_stage"]
