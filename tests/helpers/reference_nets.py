"""Reference pieces of the published networks, for the importers' fidelity tests and README's released files.

The official CNNDetection, NPR and FreqNet code all build on torchvision's ResNet bottleneck; it is transcribed here
once, with the attribute names their released state dicts carry. :func:`randomise` fills a reference network with
seeded weights far from identity so that logits differ from image to image.
"""

from __future__ import annotations

import torch
from torch import nn


class RefBottleneck(nn.Module):
    """torchvision's bottleneck as the official networks/resnet.py files have it (stride on the 3x3)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Seeded weights and BatchNorm statistics far from identity, logits of order one."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                mod.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.25)
                mod.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                mod.num_batches_tracked.fill_(1000)
            elif isinstance(mod, nn.Conv2d | nn.Linear):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.1)
    return net.eval()


__all__ = ["RefBottleneck", "randomise"]
