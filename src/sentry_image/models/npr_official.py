"""NPR as its authors released it (Tan et al., Rethinking the Up-Sampling Operations in CNN-based Generative Network
for Generalizable Deepfake Detection, CVPR 2024; github.com/chuangchuangtan/NPR-DeepfakeDetection).

Kept apart from our own re-implementation (:mod:`.npr`, different widths and parameter names) so that the
released ``NPR.pth`` loads key for key. The official network is the first half of a ResNet-50: a 3x3 stride-2
stem of 64 channels, max pooling, ``layer1`` (3 bottlenecks, 256 channels out) and ``layer2`` (4 bottlenecks,
512 out), global average pooling and ``fc1`` = ``Linear(512, 1)``. Its input is the neighbouring-pixel residual
``x - up(down(x))`` (nearest-neighbour, factor 2) scaled by 2/3, computed on the normalised image.

The authors test on whole images without cropping (``no_crop`` in every protocol of their ``test.py``); some of
their benchmark folders are also resized to 256 x 256 only so that images of different sizes batch together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.preprocess import PreprocessConfig
from ._bottleneck import Bottleneck, bottleneck_stage
from .base import DetectorModel
from .registry import register_detector

EXAMPLE_SIZE = 256  # the size an ONNX export of a whole-image model is traced and checked with


def official_npr(x: torch.Tensor) -> torch.Tensor:
    """``x - up(down(x))`` as the official forward computes it (nearest neighbour, factor 2).

    The official forward fails on an odd side (the up-sampled copy is one pixel short); the last row/column is
    dropped there, as the authors' own commented-out lines in that forward do, so the even case is unchanged.
    """
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    # on even sides the official recompute_scale_factor=True picks the same pixels; without it the ONNX graph keeps
    # the factor rather than a size traced as a constant
    down = F.interpolate(x, scale_factor=0.5, mode="nearest")
    return x - F.interpolate(down, scale_factor=2.0, mode="nearest")


class NPROfficial(DetectorModel):
    """The official NPR network; ``widths``/``blocks`` other than (64, 128)/(3, 4) only for tiny test variants."""

    arch = "npr_official"

    def __init__(self, widths: tuple[int, int] = (64, 128), blocks: tuple[int, int] = (3, 4),
                 preprocess: PreprocessConfig | None = None) -> None:
        super().__init__(preprocess or whole_image())
        self.conv1 = nn.Conv2d(3, widths[0], 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = bottleneck_stage(widths[0], widths[0], blocks[0], 1)
        self.layer2 = bottleneck_stage(widths[0] * Bottleneck.expansion, widths[1], blocks[1], 2)
        self.head = nn.Linear(widths[1] * Bottleneck.expansion, 1)  # the official ``fc1``

    def features(self, x: torch.Tensor) -> torch.Tensor:
        y = self.maxpool(F.relu(self.bn1(self.conv1(official_npr(x) * 2.0 / 3.0))))
        out: torch.Tensor = self.layer2(self.layer1(y)).mean((2, 3))
        return out


def whole_image(resize: int | None = None) -> PreprocessConfig:
    """The authors' test transform: optionally ``Resize((resize, resize))``, no crop, ImageNet ``Normalize``."""
    if resize is None:
        return PreprocessConfig(crop_size=EXAMPLE_SIZE, resize_short=None, crop_mode="none")
    return PreprocessConfig(crop_size=resize, resize_short=resize, resize_mode="square", crop_mode="none")


def from_official(key: str) -> str:
    """Our parameter name of an official NPR key (``fc1.*`` is our head; every other name is the same)."""
    return "head." + key[len("fc1."):] if key.startswith("fc1.") else key


def to_official(key: str) -> str:
    """The official NPR name of one of our keys (the inverse of :func:`from_official`)."""
    return "fc1." + key[len("head."):] if key.startswith("head.") else key


@register_detector("npr_official", family="npr_official")
def npr_official(resize: int | None = None) -> DetectorModel:
    """NPR (Tan et al. 2024) as released: half a ResNet-50 on NPR residuals; whole image, optionally squashed."""
    return NPROfficial(preprocess=whole_image(resize))


@register_detector("test_npr_official_tiny", family="npr_official")
def test_npr_official_tiny(crop: int = 32) -> DetectorModel:
    """Tiny random network of the official layout (8/16 wide, one block per stage) on 32 px centre crops."""
    return NPROfficial((8, 16), (1, 1), PreprocessConfig(crop_size=crop, resize_short=None))


__all__ = ["NPROfficial", "from_official", "official_npr", "to_official", "whole_image"]
