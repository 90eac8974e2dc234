"""Typed training configs: dataclass defaults < YAML file < ``key=value`` overrides, validated before any work.

Every field is declared with its type and a docstring; :func:`load_config` rejects an unknown key or a value of the
wrong type with the dotted key's name (``optim.lr: expected float, got 'fast'``), so a typo fails in the first
second rather than after an hour of training. The resolved config is written beside each run's output.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml


class ConfigError(ValueError):
    """A config key is unknown or its value has the wrong type; the message names the dotted key."""


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
class AugmentConfig:
    """Training degradations from :mod:`sentry_image.data.degrade`, applied alike to both classes.

    Attributes:
        enabled: apply the chain below (off: random crop and flip only).
        p_jpeg: probability of JPEG re-encoding; jpeg_quality: its quality range.
        p_resize: probability of a rescale; scale: its factor range.
        p_blur: probability of Gaussian blur (CNNSpot's blur+JPEG recipe uses 0.5/0.5); blur_sigma: its range.
        p_noise: probability of additive noise; noise_sigma: its range (0-255 units).
        hflip: random horizontal flip.
        views: degraded views per image whose features the ``lbfgs`` probe caches (plus the image and its mirror).
    """

    enabled: bool = True
    p_jpeg: float = 0.5
    jpeg_quality: list[int] = field(default_factory=lambda: [60, 100])
    p_resize: float = 0.3
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])
    p_blur: float = 0.1
    blur_sigma: list[float] = field(default_factory=lambda: [0.3, 1.5])
    p_noise: float = 0.0
    noise_sigma: list[float] = field(default_factory=lambda: [1.0, 4.0])
    hflip: bool = True
    views: int = 4


@dataclass
class CalibrationConfig:
    """How raw logits become probabilities and a verdict, fitted on the calibration split only.

    Attributes:
        enabled: fit after training (off: identity mapping, threshold 0.5).
        method: ``temperature`` (temperature and bias, smooth and monotone) or ``isotonic`` (pool-adjacent-violators
            step function; needs a few hundred calibration images to beat temperature scaling).
        threshold_rule: ``balanced`` (maximise TPR - FPR) or ``fpr`` (lowest threshold whose false-positive rate
            on real calibration images is at most ``target_fpr``).
        target_fpr: the false-positive rate of the ``fpr`` rule.
        band_halfwidth: the uncertain band is the threshold -/+ this, clipped to [0, 1].
    """

    enabled: bool = True
    method: Literal["temperature", "isotonic"] = "temperature"
    threshold_rule: Literal["balanced", "fpr"] = "balanced"
    target_fpr: float = 0.05
    band_halfwidth: float = 0.15


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


T = TypeVar("T")


def _check_value(key: str, value: Any, tp: Any) -> Any:
    """Return ``value`` checked against the annotation ``tp`` (ints accepted as floats), else raise."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ConfigError(f"{key}: expected one of {choices}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _check_value(key, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {tp}, got {value!r}")
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_check_value(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a section (mapping), got {value!r}")
        return _build(tp, value, key + ".")  # type: ignore[arg-type]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (tp in (int, float) and isinstance(value, bool)) or not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def missing_keys(cls: type, data: dict[str, Any]) -> list[str]:
    """The fields of dataclass ``cls`` that have no default and are absent from ``data``."""
    return [f.name for f in dataclasses.fields(cls) if f.name not in data
            and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _build(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """``cls(**data)`` with every key checked: unknown, missing or mistyped keys raise :class:`ConfigError`."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown config key '{prefix}{key}'; known: {', '.join(sorted(names))}")
    missing = missing_keys(cls, data)
    if missing:
        raise ConfigError(f"missing config key{'s' if len(missing) > 1 else ''} "
                          + ", ".join(f"'{prefix}{name}'" for name in missing))
    return cls(**{k: _check_value(prefix + k, v, hints[k]) for k, v in data.items()})


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "args" else v
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``optim.lr=0.01`` -> ``{"optim": {"lr": 0.01}}`` (the value is parsed as YAML: numbers, lists, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r}: expected key=value")
    value = yaml.safe_load(raw) if raw.strip() else ""
    node: dict[str, Any] = {}
    cursor = node
    parts = key.strip().split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return node


def resolve_path(value: str, base: str | Path) -> str:
    """``value`` as given when absolute or present under the working directory, else under ``base`` if it is there.

    Configs name files from the repository root (``../shared/data/manifest.csv``) or beside themselves; the
    first that exists wins, and a path found in neither is returned unchanged for the caller to report.
    """
    if not value or Path(value).is_absolute() or Path(value).exists():
        return value
    beside = Path(base) / value
    return str(beside) if beside.exists() else value


def _read_mapping(path: str | Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable config ({exc})") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return loaded


def _build_file(cls: type[T], path: str | Path) -> T:
    """:func:`_build` on the YAML mapping in ``path``; every error names the file as well as the key."""
    data = _read_mapping(path)
    try:
        return _build(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


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
    detector = _read_mapping(found)
    try:
        _build(ModelConfig, detector, "model.")  # the file alone must be a valid section
    except ConfigError as exc:
        raise ConfigError(f"model.config {found}: {exc}") from None
    args = {**detector.get("args", {}), **(local.pop("args", None) or {})}
    return {**detector, **local, "args": args}


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Resolve a :class:`TrainConfig` from defaults, an optional YAML file and ``key=value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_mapping(path)
    for text in overrides:
        data = _merge(data, parse_override(text))
    if "model" in data:
        data["model"] = expand_model(data["model"], Path(path).parent if path is not None else ".")
    return _build(TrainConfig, data)


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML (readable back by :func:`load_config`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


__all__ = ["AugmentConfig", "CalibrationConfig", "ConfigError", "DataConfig", "ModelConfig", "OptimConfig",
           "TrainConfig", "expand_model", "load_config", "parse_override", "resolve_path", "save_config"]
