"""The config of a fusion training run (``kind: fusion``): two branches, cross-fitted stacking and calibration.

Loaded like every training config (defaults < YAML < ``key=value`` overrides, unknown keys and wrong types named
before any work). ``semantic.model`` may start from a detector config file, as a plain run's ``model`` does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import ConfigError, build, load_layers, merge, read_mapping
from ..data.degrade import AugmentConfig
from ..evaluate.calibrate import CalibrationConfig
from .config import ModelConfig, OptimConfig, expand_model
from .lowlevel import LowLevelTrainConfig


@dataclass
class FusionData:
    """The labelled images: every one is used, each scored out of fold once.

    Attributes:
        manifest: manifest CSV or labelled folder (``real/`` and ``ai/``).
        max_images: use at most this many rows (0 = all; every ``n``-th row, so both classes stay): smoke runs.
    """

    manifest: str = ""
    max_images: int = 0


@dataclass
class SemanticBranch:
    """The semantic branch: a frozen pretrained backbone and a linear probe fitted on cached features of each
    image's views (``augment.views`` degradations, the same chain for both classes)."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        name="efficientnet_lite2_probe", pretrained="package", freeze_backbone=True))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(optimizer="lbfgs", weight_decay=0.2))
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class FusionConfig:
    """One fusion training run.

    Attributes:
        kind: ``fusion`` (what tells this config from a single-network one).
        out: checkpoint folder (the fusion's ``config.json`` and one sub-folder per branch).
        seed: seed of folds, views, tiles and initialisation.
        checkpoint_name, checkpoint_version: ``name@version`` of the result.
        folds: source-grouped folds for the out-of-fold scores the stacker and the calibration are fitted on.
        data, semantic, lowlevel, calibration: sections above; ``calibration.selective_accuracy`` sets the band.
    """

    kind: Literal["fusion"] = "fusion"
    out: str = "runs/fusion"
    seed: int = 0
    checkpoint_name: str = "sentry-fusion"
    checkpoint_version: str = "1"
    folds: int = 5
    data: FusionData = field(default_factory=FusionData)
    semantic: SemanticBranch = field(default_factory=SemanticBranch)
    lowlevel: LowLevelTrainConfig = field(default_factory=LowLevelTrainConfig)
    calibration: CalibrationConfig = field(default_factory=lambda: CalibrationConfig(selective_accuracy=0.95))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_fusion(path: str | Path | None) -> bool:
    """Whether a training YAML is a fusion run (``kind: fusion``)."""
    return path is not None and Path(path).is_file() and read_mapping(path).get("kind") == "fusion"


def load_fusion_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> FusionConfig:
    """Resolve a :class:`FusionConfig` from defaults, a YAML file and ``key=value`` overrides."""
    data = load_layers(path, overrides)
    semantic = data.get("semantic")
    if isinstance(semantic, dict) and "model" in semantic:
        semantic["model"] = expand_model(semantic["model"], Path(path).parent if path is not None else ".")
    # a section given in part keeps the defaults above for the rest (not its class's bare defaults)
    cfg = build(FusionConfig, merge(FusionConfig().to_dict(), data))
    if cfg.folds < 2:
        raise ConfigError(f"folds: at least 2 source-grouped folds (got {cfg.folds})")
    if not cfg.data.manifest:
        raise ConfigError("data.manifest: the labelled images to train on (a manifest CSV or a labelled folder)")
    if cfg.semantic.optim.optimizer != "lbfgs" or not cfg.semantic.model.freeze_backbone:
        raise ConfigError("semantic: the semantic branch is a linear probe (optim.optimizer lbfgs, "
                          "model.freeze_backbone true)")
    return cfg


__all__ = ["FusionConfig", "FusionData", "SemanticBranch", "is_fusion", "load_fusion_config"]
