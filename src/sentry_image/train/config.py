"""The training run's config: its sections, loaded as defaults < YAML file < ``key=value`` overrides.

Loading and checking are :mod:`sentry_image.config`'s (an unknown key or a wrong type fails naming the dotted key,
before any work). Two sections are owned by the layers that use them: ``augment`` is
:class:`sentry_image.data.degrade.AugmentConfig` (the one degradation schema, shared with evaluation suites) and
``calibration`` is :class:`sentry_image.evaluate.calibrate.CalibrationConfig` (shared with ``sentry-image
calibrate``). The resolved config is written beside each run's output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import ConfigError, build, load_layers, read_mapping, resolve_path, save_yaml
from ..data.degrade import AugmentConfig
from ..evaluate.calibrate import CalibrationConfig


@dataclass
class DataConfig:
    """Where the images come from and how they are split.

    The labelled rows are the union of ``manifest``, the published ``subsets`` under ``root`` and the ``real``
    images; they are split by source group into train / calibration / test. ``shards`` instead streams the
    training set from webdataset shards (for runs too large to list), with calibration rows from ``calibration``.

    Attributes:
        manifest: labelled manifest CSV, or a folder with ``real/`` and ``ai/`` sub-folders (scanned on the fly).
        subsets: Fake2M / MPBench subset names (``sentry-image data subsets``), read from ``root``; all AI.
        root: the folder given to ``data fetch --to`` / ``data extract --root`` (images in ``extracted/<split>/``).
        real: manifest CSV or folder of real images to pair with ``subsets`` (the hub holds AI images only).
        shards: webdataset shard folder or glob (``data shard``): the training set, streamed; no split is drawn.
        calibration: manifest or labelled folder used as the calibration split instead of a share of the rows.
        split_seed: seed of the group-hash split (train / calibration / test by source folder).
        fractions: shares of the train, calibration and test splits.
        max_images: use at most this many training images (0 = all); keeps smoke runs small.
        num_workers: DataLoader worker processes (0 = decode in the training process).
    """

    manifest: str = ""
    subsets: list[str] = field(default_factory=list)
    root: str = "."
    real: str = ""
    shards: str = ""
    calibration: str = ""
    split_seed: int = 0
    fractions: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    max_images: int = 0
    num_workers: int = 0


@dataclass
class ModelConfig:
    """Which registered detector to train.

    In a YAML file the section may start from a detector config (``configs/detectors/*.yaml``, which holds these
    same keys): ``model: {config: ../detectors/cnnspot_resnet50.yaml, args: {crop_size: 112}}``. Keys given beside
    ``config`` override the file's (``args`` key by key); the path is taken from the working directory, else from
    the YAML file's folder, and the saved run config holds the expanded section.

    Attributes:
        name: registry name (``sentry-image models`` lists them).
        args: keyword arguments of the registry factory (stored in the checkpoint).
        pretrained: backbone weights: ``None`` (from scratch), a local file, or ``"hub"`` (timm / open_clip
            download or cache; fails with a clear message offline).
        freeze_backbone: train only the head (linear probes such as UnivFD).
    """

    name: str = "test_tiny_cnn"
    args: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    freeze_backbone: bool = False


@dataclass
class OptimConfig:
    """Optimisation.

    Attributes:
        epochs: passes over the training split.
        batch_size: GLOBAL batch size; under torchrun each of the N processes takes ``batch_size / N``.
        lr: peak learning rate (cosine decay to zero over the run).
        weight_decay: decoupled weight decay (AdamW) or L2 (SGD).
        optimizer: ``adamw``, ``sgd`` (momentum 0.9), or ``lbfgs``: a linear probe of a frozen backbone fitted
            full-batch on cached features of ``augment.views`` degraded views per image (needs
            ``model.freeze_backbone``; ``epochs``, ``batch_size`` and ``lr`` are then unused).
        max_iter: L-BFGS iterations (``lbfgs`` only).
        amp: mixed precision (autocast) on CUDA; on the CPU only with ``amp_dtype: bfloat16``.
        amp_dtype: ``float16`` (CUDA only, with loss scaling) or ``bfloat16`` (CUDA or CPU with bfloat16 support,
            no loss scaling needed). Weights and checkpoints stay float32 either way.
    """

    epochs: int = 1
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: Literal["adamw", "sgd", "lbfgs"] = "adamw"
    max_iter: int = 200
    amp: bool = True
    amp_dtype: Literal["float16", "bfloat16"] = "float16"


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        out: checkpoint folder (also holds ``train_state.pt`` for resuming and ``train_config.yaml``).
        seed: seed of initialisation, shuffling and augmentation (per sample, so DDP sees the same stream).
        resume: continue from ``out/train_state.pt`` when it exists.
        checkpoint_name: name stored in the checkpoint (default: the model name).
        checkpoint_version: version stored beside the name (``name@version`` in every verdict and report).
        data, model, optim, augment, calibration: sections above.
    """

    out: str = "runs/test"
    seed: int = 0
    resume: bool = True
    checkpoint_name: str = ""
    checkpoint_version: str = "1"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expand_model(section: Any, base: str | Path = ".") -> Any:
    """The ``model`` section with its ``config: FILE`` reference replaced by the file's keys plus the local ones."""
    if not isinstance(section, dict) or "config" not in section:
        return section
    local = dict(section)
    ref = local.pop("config")
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"model.config: expected a detector config path, got {ref!r}")
    found = resolve_path(ref, base)
    if not Path(found).is_file():
        raise ConfigError(f"model.config: no detector config {ref!r} (looked under the working directory and {base})")
    detector = read_mapping(found)
    try:
        build(ModelConfig, detector, "model.")  # the file alone must be a valid section
    except ConfigError as exc:
        raise ConfigError(f"model.config {found}: {exc}") from None
    args = {**detector.get("args", {}), **(local.pop("args", None) or {})}
    return {**detector, **local, "args": args}


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Resolve a :class:`TrainConfig` from defaults, an optional YAML file and ``key=value`` overrides."""
    data = load_layers(path, overrides)
    if "model" in data:
        data["model"] = expand_model(data["model"], Path(path).parent if path is not None else ".")
    return build(TrainConfig, data)


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML (readable back by :func:`load_config`)."""
    return save_yaml(cfg.to_dict(), path)


__all__ = ["AugmentConfig", "CalibrationConfig", "ConfigError", "DataConfig", "ModelConfig", "OptimConfig",
           "TrainConfig", "expand_model", "load_config", "save_config"]
