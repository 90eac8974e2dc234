"""timm backbones with a one-logit head: ViT / Swin / ConvNeXt fine-tunes (the Sentry paper's backbones).

Weights are never fetched when a model is built (a checkpoint holds every weight it needs, and building must
work offline). Training asks for them explicitly through :meth:`TimmDetector.load_pretrained`: from a local file
(``.safetensors``, ``.pth``, ``.bin``), or ``"hub"`` for timm's download / Hugging Face cache, which fails with a
message naming both ways out when the machine is offline.
"""

from __future__ import annotations

from typing import Any

import timm
import torch
from torch import nn

from ..data.preprocess import PreprocessConfig
from ._pretrained import PretrainedWeightsError, load_matching, offline_message, read_state_dict
from .base import DetectorModel
from .registry import register_detector


def preprocess_from_timm(backbone: nn.Module, crop_size: int | None = None, native: bool = False) -> PreprocessConfig:
    """The backbone's own normalisation and input size (timm ``pretrained_cfg``) as a :class:`PreprocessConfig`."""
    cfg = getattr(backbone, "pretrained_cfg", {}) or {}
    size = crop_size or int(cfg.get("input_size", (3, 224, 224))[-1])
    resize = None if native else round(size / float(cfg.get("crop_pct", 0.875)))
    return PreprocessConfig(crop_size=size, resize_short=resize, mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                            std=tuple(cfg.get("std", (0.229, 0.224, 0.225))))


class TimmDetector(DetectorModel):
    """A timm backbone (classifier removed) and a linear head giving one logit."""

    arch = "timm"

    def __init__(self, timm_name: str, *, crop_size: int | None = None, native: bool = False,
                 **timm_kwargs: Any) -> None:
        backbone = timm.create_model(timm_name, pretrained=False, num_classes=0, **timm_kwargs)
        super().__init__(preprocess_from_timm(backbone, crop_size, native))
        self.timm_name = timm_name
        self.backbone = backbone
        self.head = nn.Linear(int(getattr(backbone, "num_features")), 1)  # noqa: B009 - timm's attribute is untyped

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.backbone(x)
        return out

    def load_pretrained(self, source: str) -> dict[str, Any]:
        """Backbone weights from a local file or ``"hub"`` (timm / Hugging Face cache)."""
        if source != "hub":
            n = load_matching(self.backbone, read_state_dict(source), f"{self.timm_name} from {source}")
        else:
            try:
                donor = timm.create_model(self.timm_name, pretrained=True, num_classes=0)
            except Exception as exc:  # network, hub and cache errors come in many types
                raise PretrainedWeightsError(offline_message(self.timm_name, exc)) from exc
            n = load_matching(self.backbone, donor.state_dict(), self.timm_name)
        return {"source": source, "tensors": n, "licence": f"that of the {self.timm_name} weights in {source}"}


@register_detector("timm_vit_b16", family="timm_zoo")
def timm_vit_b16(crop_size: int = 224) -> DetectorModel:
    """ViT-B/16 (timm) fine-tuned end to end with a one-logit head."""
    return TimmDetector("vit_base_patch16_224", crop_size=crop_size)


@register_detector("timm_swin_t", family="timm_zoo")
def timm_swin_t() -> DetectorModel:
    """Swin-T (timm) fine-tuned end to end with a one-logit head."""
    return TimmDetector("swin_tiny_patch4_window7_224")


@register_detector("timm_convnext_t", family="timm_zoo")
def timm_convnext_t(crop_size: int = 224) -> DetectorModel:
    """ConvNeXt-T (timm) fine-tuned end to end with a one-logit head."""
    return TimmDetector("convnext_tiny", crop_size=crop_size)


@register_detector("test_timm_vit", family="timm_zoo")
def test_timm_vit() -> DetectorModel:
    """Tiny random ViT (32 px, one block) for tests."""
    return TimmDetector("vit_tiny_patch16_224", crop_size=32, img_size=32, patch_size=8, embed_dim=16, depth=1,
                        num_heads=2)


@register_detector("test_timm_swin", family="timm_zoo")
def test_timm_swin() -> DetectorModel:
    """Tiny random Swin (32 px, two stages) for tests."""
    return TimmDetector("swin_tiny_patch4_window7_224", crop_size=32, img_size=32, window_size=4, embed_dim=16,
                        depths=(1, 1), num_heads=(1, 2))


@register_detector("test_timm_convnext", family="timm_zoo")
def test_timm_convnext() -> DetectorModel:
    """Tiny random ConvNeXt for tests."""
    return TimmDetector("convnext_atto", crop_size=32, depths=(1, 1, 1, 1), dims=(8, 16, 32, 64))


__all__ = ["TimmDetector", "preprocess_from_timm"]
