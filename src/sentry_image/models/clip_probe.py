"""UnivFD (Ojha et al., Towards Universal Fake Image Detectors that Generalize Across Generative Models, 2023).

A frozen CLIP image encoder (open_clip ViT-L/14 or ViT-B/16) and a linear head on its image embedding: the
features were never trained to separate real from generated images, which is why the probe generalises to
unseen generators. Only the vision tower is built (the text tower is unused). open_clip is imported lazily
(``train`` extra) and pretrained weights load only at training time, from a local open_clip / OpenAI checkpoint
file or ``"hub"`` (open_clip's download / cache), failing with a clear message offline.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..data.preprocess import PreprocessConfig
from ._pretrained import PretrainedWeightsError, load_matching, read_state_dict
from .base import DetectorModel
from .registry import register_detector

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TINY_VISION = {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16}


def _open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:
        raise ImportError("clip_probe_* detectors need open_clip: pip install 'sentry-image[train]'") from exc
    return open_clip


class ClipProbe(DetectorModel):
    """open_clip vision tower (frozen in training: ``model.freeze_backbone``) and a linear head."""

    arch = "clip_probe"

    def __init__(self, clip_name: str, quick_gelu: bool = True, vision: dict[str, Any] | None = None,
                 embed_dim: int | None = None) -> None:
        open_clip = _open_clip()
        from open_clip.model import CLIPVisionCfg, _build_vision_tower

        config: dict[str, Any] | None = (open_clip.get_model_config(clip_name) if vision is None
                                         else {"embed_dim": embed_dim, "vision_cfg": vision})
        if config is None:
            raise ValueError(f"open_clip has no model config {clip_name!r}")
        vision_cfg = CLIPVisionCfg(**config["vision_cfg"])
        size = int(vision_cfg.image_size) if isinstance(vision_cfg.image_size, int) else int(vision_cfg.image_size[0])
        super().__init__(PreprocessConfig(crop_size=size, resize_short=size, mean=CLIP_MEAN, std=CLIP_STD))
        self.clip_name = clip_name
        self.visual = _build_vision_tower(int(config["embed_dim"]), vision_cfg, quick_gelu=quick_gelu)
        self.head = nn.Linear(int(config["embed_dim"]), 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.visual(x)
        return out

    def load_pretrained(self, source: str, tag: str = "openai") -> dict[str, Any]:
        """Vision-tower weights from a local CLIP checkpoint file or ``"hub"`` (open_clip cache / download)."""
        if source == "hub":
            try:
                donor = _open_clip().create_model(self.clip_name, pretrained=tag)
            except Exception as exc:  # network, hub and cache errors come in many types
                raise PretrainedWeightsError(
                    f"cannot get {self.clip_name} weights ({type(exc).__name__}: {exc}). Offline: pass the open_clip "
                    "checkpoint file with model.pretrained=/path/to/open_clip_model.safetensors") from exc
            state = {f"visual.{k}": v for k, v in donor.visual.state_dict().items()}
        else:
            state = read_state_dict(source)
        visual = {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
        n = load_matching(self.visual, visual, f"{self.clip_name} from {source}")
        return {"source": source, "tensors": n, "licence": f"that of the {self.clip_name} ({tag}) weights"}


@register_detector("clip_probe_vitl14", family="clip_probe")
def clip_probe_vitl14() -> DetectorModel:
    """UnivFD: frozen CLIP ViT-L/14 (OpenAI weights) image embedding + linear head."""
    return ClipProbe("ViT-L-14", quick_gelu=True)


@register_detector("clip_probe_vitb16", family="clip_probe")
def clip_probe_vitb16() -> DetectorModel:
    """UnivFD on CLIP ViT-B/16 (OpenAI weights): a third of ViT-L/14's compute."""
    return ClipProbe("ViT-B-16", quick_gelu=True)


@register_detector("test_clip_probe_tiny", family="clip_probe")
def test_clip_probe_tiny() -> DetectorModel:
    """Tiny random open_clip vision tower (32 px, one block) + linear head, for tests."""
    return ClipProbe("tiny", quick_gelu=False, vision=dict(TINY_VISION), embed_dim=16)


__all__ = ["ClipProbe"]
