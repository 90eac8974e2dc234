"""UnivFD as its authors ran it (Ojha, Li, Lee: Towards Universal Fake Image Detectors that Generalize Across
Generative Models, CVPR 2023; github.com/WisconsinAIVision/UniversalFakeDetect).

The network is OpenAI CLIP's image encoder and one linear layer: ``fc(encode_image(x))``, ``encode_image`` being
``ln_post`` of the class token times ``proj``. That is :class:`~.clip_probe.ClipProbe`: open_clip's vision tower
with ``quick_gelu`` holds OpenAI's weights under OpenAI's names and returns ``encode_image``, and our head reads
the embedding as it is (no standardisation). What differs from our own probe is the test-time preprocessing of
the authors' ``validate.py``: ``CenterCrop(224)`` of the image at native resolution (no resize), which is
torchvision's crop (origin rounded half to even, smaller images padded with black), then CLIP's mean and std.

The encoder's geometry is an argument, read from the backbone's tensors on import, so an imported checkpoint
rebuilds the backbone it was imported with; the defaults are ViT-L/14's, the backbone of the released head.
"""

from __future__ import annotations

from ..data.preprocess import PreprocessConfig
from .base import DetectorModel
from .clip_probe import CLIP_MEAN, CLIP_STD, ClipProbe
from .registry import register_detector

#: OpenAI CLIP ViT-L/14's image encoder, on whose embedding the released head was trained
VIT_L14 = {"width": 1024, "layers": 24, "patch_size": 14, "image_size": 224, "embed_dim": 768}
#: OpenAI's ``build_model`` gives every encoder heads of 64 channels (``heads = width // 64``)
HEAD_WIDTH = 64


def authors_preprocessing(size: int) -> PreprocessConfig:
    """``validate.py``'s transform: torchvision ``CenterCrop(size)`` at native resolution, CLIP ``Normalize``."""
    return PreprocessConfig(crop_size=size, resize_short=None, pad_mode="zero", crop_rounding="half_even",
                            mean=CLIP_MEAN, std=CLIP_STD)


class UnivFD(ClipProbe):
    """OpenAI CLIP image encoder (``visual.*``) + the authors' ``fc`` (our ``head``) on its embedding."""

    arch = "univfd"

    def __init__(self, width: int, layers: int, patch_size: int, image_size: int, embed_dim: int) -> None:
        geometry = {"width": width, "layers": layers, "patch_size": patch_size, "image_size": image_size,
                    "embed_dim": embed_dim}
        vision = {"image_size": image_size, "layers": layers, "width": width, "patch_size": patch_size,
                  "head_width": HEAD_WIDTH}
        # the open_clip name matters only for load_pretrained("hub"), i.e. when training a head of our own
        super().__init__("ViT-L-14" if geometry == VIT_L14 else "univfd-custom", quick_gelu=True, vision=vision,
                         embed_dim=embed_dim)
        self.preprocess_cfg = authors_preprocessing(image_size)


@register_detector("univfd_vitl14", family="univfd")
def univfd_vitl14(width: int = 1024, layers: int = 24, patch_size: int = 14, image_size: int = 224,
                  embed_dim: int = 768) -> DetectorModel:
    """UnivFD (Ojha et al., CVPR 2023) as released: CLIP ViT-L/14 embedding + linear head, CenterCrop(224)."""
    return UnivFD(width, layers, patch_size, image_size, embed_dim)


@register_detector("test_univfd_tiny", family="univfd")
def test_univfd_tiny(width: int = 64, layers: int = 1, patch_size: int = 8, image_size: int = 32,
                     embed_dim: int = 16) -> DetectorModel:
    """Tiny random CLIP encoder (one 64-wide block, 32 px) with UnivFD's head and preprocessing, for tests."""
    return UnivFD(width, layers, patch_size, image_size, embed_dim)


__all__ = ["HEAD_WIDTH", "VIT_L14", "UnivFD", "authors_preprocessing", "univfd_vitl14"]
