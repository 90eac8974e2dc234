"""CNNSpot (Wang et al., CNN-generated images are surprisingly easy to spot... for now, CVPR 2020).

A ResNet-50 (timm) with a one-logit head, fine-tuned end to end with blur and JPEG augmentation applied to both
classes (``configs/train/cnnspot_resnet50.yaml`` sets p_blur = p_jpeg = 0.5 as in the paper's ``blur+jpeg (0.5)``).
It sees 224 px crops at native resolution: resizing would blur away the up-sampling traces it relies on.
ImageNet weights are loaded only at training time (``model.pretrained``), see :mod:`.timm_zoo`.
"""

from __future__ import annotations

from .base import DetectorModel
from .registry import register_detector
from .timm_zoo import TimmDetector


class CNNSpot(TimmDetector):
    """ResNet + linear head at native resolution (no resize before the crop)."""

    arch = "cnnspot"


@register_detector("cnnspot_resnet50", family="cnnspot")
def cnnspot_resnet50(crop_size: int = 224) -> DetectorModel:
    """CNNSpot: timm ResNet-50, one-logit head, native-resolution crops (blur+JPEG training augmentation)."""
    return CNNSpot("resnet50", crop_size=crop_size, native=True)


@register_detector("cnnspot_resnet18", family="cnnspot")
def cnnspot_resnet18(crop_size: int = 224) -> DetectorModel:
    """CNNSpot recipe on a ResNet-18: a quarter of the compute, for CPU-budget comparisons."""
    return CNNSpot("resnet18", crop_size=crop_size, native=True)


@register_detector("test_cnnspot_tiny", family="cnnspot")
def test_cnnspot_tiny() -> DetectorModel:
    """Tiny random ResNet of the same family (one block per stage, 8-64 channels) for tests."""
    return CNNSpot("resnet18", crop_size=32, native=True, layers=(1, 1, 1, 1), channels=(8, 16, 32, 64),
                   stem_width=8)


__all__ = ["CNNSpot"]
