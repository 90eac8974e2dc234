"""CNNDetection as its authors released it (Wang et al., CNN-generated images are surprisingly easy to spot... for
now, CVPR 2020; github.com/PeterWang512/CNNDetection).

The released ``blur_jpg_prob0.1.pth`` / ``blur_jpg_prob0.5.pth`` hold a torchvision ResNet-50 whose ``fc`` is
``Linear(2048, 1)``. timm's ResNet-50 computes the same function with the same parameter names (7x7 stem, stride
on the 3x3 of each bottleneck, ``downsample.0/1`` projections), so the network is our :class:`~.cnnspot.CNNSpot`
body with the authors' keys mapped onto it (:func:`from_official`). What differs from our own CNNSpot recipe is
the test-time preprocessing, which the authors give in two forms:

* the whole image, no resize, no crop (their recommended evaluation, ``eval.py --no_crop``, and ``demo.py``'s
  default) -- :func:`whole_image`;
* ``CenterCrop(224)`` at native resolution (the paper's numbers) -- :func:`torchvision_centre_crop`, which pads
  small images with zeros and rounds the crop origin as torchvision does.

Both end in ``ToTensor`` and ImageNet ``Normalize``, which is our normalisation bit for bit.
"""

from __future__ import annotations

from ..data.preprocess import PreprocessConfig
from .base import DetectorModel
from .cnnspot import CNNSpot
from .registry import register_detector

#: the example size an ONNX export of a whole-image model is traced and checked with (any size runs afterwards)
EXAMPLE_SIZE = 224


def whole_image(example_size: int = EXAMPLE_SIZE) -> PreprocessConfig:
    """The whole image at native resolution: ``ToTensor`` + ImageNet ``Normalize``, nothing else."""
    return PreprocessConfig(crop_size=example_size, resize_short=None, crop_mode="none")


def torchvision_centre_crop(crop: int) -> PreprocessConfig:
    """torchvision's ``CenterCrop(crop)`` at native resolution: zero padding, origin rounded half to even."""
    return PreprocessConfig(crop_size=crop, resize_short=None, pad_mode="zero", crop_rounding="half_even")


class CNNDetection(CNNSpot):
    """The authors' ResNet-50 (``fc`` = ``Linear(2048, 1)``) with their test-time preprocessing."""

    arch = "cnndetection"


def from_official(key: str) -> str:
    """Our parameter name of an official CNNDetection key (``fc.*`` is our head, the rest our timm backbone)."""
    return "head." + key[len("fc."):] if key.startswith("fc.") else "backbone." + key


def to_official(key: str) -> str:
    """The official CNNDetection name of one of our keys (the inverse of :func:`from_official`)."""
    return "fc." + key[len("head."):] if key.startswith("head.") else key.removeprefix("backbone.")


@register_detector("cnndetection_resnet50", family="cnndetection")
def cnndetection_resnet50(crop: int | None = None) -> DetectorModel:
    """CNNDetection (Wang et al. 2020) as released: ResNet-50; whole image, or ``crop`` = torchvision CenterCrop."""
    model = CNNDetection("resnet50", crop_size=crop or EXAMPLE_SIZE, native=True)
    model.preprocess_cfg = whole_image() if crop is None else torchvision_centre_crop(crop)
    return model


@register_detector("test_cnndetection_tiny", family="cnndetection")
def test_cnndetection_tiny(crop: int | None = 32) -> DetectorModel:
    """Tiny random bottleneck ResNet with the official key layout, for tests (CenterCrop 32 unless ``crop=None``)."""
    model = CNNDetection("resnet50", crop_size=crop or 32, native=True, layers=(1, 1, 1, 1), channels=(8, 16, 32, 64),
                         stem_width=8)
    model.preprocess_cfg = whole_image(32) if crop is None else torchvision_centre_crop(crop)
    return model


__all__ = ["CNNDetection", "from_official", "to_official", "torchvision_centre_crop", "whole_image"]
