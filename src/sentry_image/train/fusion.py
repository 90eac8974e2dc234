"""Training a fusion detector: both branches cross-fitted over source-grouped folds, then fitted on everything.

1. Every image is scored out of fold by each branch: for each of ``folds`` source-grouped folds, the semantic probe
   and the low-level network are fitted on the other folds and score this fold's images through the detection
   path (the semantic branch's clean view, the low-level branch's tile grid).
2. The stacker (class-balanced logistic regression on the two branch logits), then the calibration, threshold and
   selective uncertain band are fitted on those out-of-fold scores: never on scores of images a model trained on.
3. Both branches are fitted again on all images and saved, each as a complete checkpoint folder with its ONNX graph,
   under one fusion folder whose ``config.json`` records the stacker, calibration, folds and out-of-fold metrics.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from ..config import save_yaml
from ..data.manifest import ManifestRow, rows_hash
from ..data.preprocess import PreprocessConfig, preprocess
from ..data.sources import read_source
from ..data.splits import Split, folder_key, group_folds
from ..evaluate.calibrate import ScoredSplit, decisions, fit_calibration, selective_band
from ..evaluate.metrics import auc, summary
from ..imaging import ImageError, load_image
from ..models.base import DetectorModel
from ..models.calibration import Calibration
from ..models.checkpoint import LABEL_NAMES, save_checkpoint, write_config
from ..models.fusion import ARCHITECTURE
from ..models.registry import create_detector
from ..models.training_record import image_digests, write_training_record
from .config import TrainConfig
from .feedback import Announce, duration, fusion_plan
from .fusion_config import FusionConfig
from .lowlevel import tile_pool, train_lowlevel
from .probe import extract, fit_head
from .run import build_model, write_graph

log = logging.getLogger(__name__)
BRANCHES = ("semantic", "lowlevel")
Progress = Callable[[str, int, int], None]


def training_rows(cfg: FusionConfig) -> list[ManifestRow]:
    rows = read_source(cfg.data.manifest)
    if cfg.data.max_images and len(rows) > cfg.data.max_images:
        step = len(rows) / cfg.data.max_images
        rows = [rows[int(i * step)] for i in range(cfg.data.max_images)]
    return rows


def semantic_features(cfg: FusionConfig, rows: list[ManifestRow], progress: Progress) -> tuple[DetectorModel, Any]:
    """The probe model and the features of every view of every row (view 0 of a row: the image as decoded)."""
    run = TrainConfig(seed=cfg.seed, model=cfg.semantic.model, optim=cfg.semantic.optim, augment=cfg.semantic.augment)
    record: dict[str, Any] = {}
    model = build_model(run, record)
    model.eval()
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress("semantic features", done[0], len(rows))

    kept, feats, _, skipped = extract(model, rows, range(len(rows)), run, tick)
    if skipped:
        raise ValueError(f"{len(skipped)} training images do not decode, e.g. {skipped[0]}: fix or drop them")
    index = np.asarray(kept)
    return model, (index, torch.stack(feats), record)


def _lowlevel_data(cfg: FusionConfig, rows: list[ManifestRow], tiles_cfg: PreprocessConfig,
                   progress: Progress) -> tuple[NDArray[np.uint8], list[NDArray[np.uint8]]]:
    """Training tile pools ``[n, tiles, 3, T, T]`` and each image's detection-path tile grid, both 8-bit."""
    pools, grids = [], []
    for i, row in enumerate(rows):
        try:
            image = load_image(row.path).rgb
        except ImageError as exc:
            raise ValueError(f"{row.rel_path}: {exc.message}") from None
        pools.append(tile_pool(image, cfg.lowlevel, random.Random(f"{cfg.seed}:{row.rel_path}"),
                               tiles_cfg.crop_size))
        grids.append(tile_grid(image, tiles_cfg))
        progress("low-level tiles", i + 1, len(rows))
    return np.stack(pools), grids


def tile_grid(image: Image.Image, tiles_cfg: PreprocessConfig) -> NDArray[np.uint8]:
    """The detection-path tiles of an image as 8 bits: the branch reads raw [0, 1] pixels, so this is exact and
    takes a quarter of the memory of the float32 tiles."""
    return np.round(preprocess(image, tiles_cfg) * 255.0).astype(np.uint8)


def tile_logits(net: DetectorModel, grids: Sequence[NDArray[np.uint8]]) -> NDArray[np.float64]:
    """``[n, most tiles]`` logits of 8-bit tile grids, NaN where an image has fewer tiles (a side shorter than two
    tiles gets one position on it); the image logit is the mean of its tiles' (``np.nanmean``), as at detection."""
    counts = [len(g) for g in grids]
    x = torch.from_numpy(np.concatenate(grids)).float() / 255.0
    with torch.inference_mode():
        flat = torch.cat([net(b) for b in x.split(512)]).numpy().astype(np.float64)
    out = np.full((len(grids), max(counts, default=0)), np.nan)
    for i, (n, end) in enumerate(zip(counts, np.cumsum(counts), strict=True)):
        out[i, :n] = flat[end - n:end]
    return out


def stacker(z: NDArray[np.float64], y: NDArray[np.int64]) -> tuple[NDArray[np.float64], float]:
    """Class-balanced logistic regression on the branch logits, with no negative weight: a branch whose logit
    would count against its own evidence (an artefact of scores pooled over folds, never a finding) is dropped
    (weight 0) and the rest refitted."""
    from sklearn.linear_model import LogisticRegression

    keep = np.ones(z.shape[1], dtype=bool)
    while True:
        lr = LogisticRegression(class_weight="balanced").fit(z[:, keep], y)
        weights = np.zeros(z.shape[1])
        weights[keep] = lr.coef_[0]
        if (weights[keep] >= 0).all() or keep.sum() == 1:
            return weights, float(lr.intercept_[0])
        keep &= weights > 0


def _selective_curve(y: NDArray[np.int64], p: NDArray[np.float64], threshold: float) -> list[dict[str, Any]]:
    """What each stated rate of right decided verdicts costs in coverage, on the out-of-fold scores."""
    out = []
    for target in (0.8, 0.85, 0.9, 0.95):
        band, coverage, right = selective_band(y, p, threshold, target)
        out.append({"target": target, "band": [round(b, 4) for b in band], "coverage": round(coverage, 4),
                    "selective_accuracy": round(right, 4)})
    return out


def train_fusion(cfg: FusionConfig, progress: Progress | None = None, announce: Announce | None = None) -> Path:
    """Train per a :class:`~.fusion_config.FusionConfig` and return the checkpoint folder.

    ``progress(stage, done, total)`` follows the stages: semantic features and low-level tiles (rows), each fold's
    low-level epochs (or the folds, without that branch), the final fit (total 0: not known). ``announce``
    receives the one line saying what the run does, once the rows are read (without it the line is logged).
    """
    report = progress or (lambda stage, done, total: None)
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rows = training_rows(cfg)
    (announce or log.info)(fusion_plan(cfg, rows))
    y = np.array([int(r.label) for r in rows], dtype=np.int64)
    folds = group_folds(rows, cfg.folds, cfg.seed)
    sem_model, (view_row, feats, pretrained) = semantic_features(cfg, rows, report)
    log.info("semantic features of %d images (%d views) in %s", len(rows), len(view_row),
             duration(time.perf_counter() - t0))
    view_y = torch.from_numpy(y[view_row]).float()
    clean = np.r_[True, view_row[1:] != view_row[:-1]]  # the first view of each row: the image as decoded
    low = cfg.lowlevel.enabled
    low_model = create_detector(cfg.lowlevel.model, **cfg.lowlevel.args) if low else None
    t1 = time.perf_counter()
    pools, grids = _lowlevel_data(cfg, rows, low_model.preprocess_cfg, report) if low_model else (None, [])
    if low_model is not None:
        log.info("low-level tiles of %d images in %s", len(rows), duration(time.perf_counter() - t1))
    oof = np.zeros((len(rows), 2 if low else 1))
    for f in range(cfg.folds):
        test = folds == f
        fit_head(sem_model, feats[torch.from_numpy(~test[view_row])], view_y[torch.from_numpy(~test[view_row])],
                 cfg.semantic.optim.weight_decay, cfg.semantic.optim.max_iter)
        with torch.inference_mode():
            oof[test, 0] = sem_model.classify(feats[torch.from_numpy(clean & test[view_row])]).numpy()
        if pools is not None:
            net = train_lowlevel(pools[~test], y[~test], cfg.lowlevel, seed=cfg.seed + f,
                                 on_epoch=partial(report, f"fold {f + 1}/{cfg.folds}: low-level epochs"))
            oof[test, 1] = np.nanmean(tile_logits(net, [grids[i] for i in np.flatnonzero(test)]), 1)
        else:
            report("out-of-fold scores", f + 1, cfg.folds)
        log.info("fold %d/%d: %d held-out images, branch AUCs %s", f + 1, cfg.folds, int(test.sum()),
                 ", ".join(f"{_auc(y[test], oof[test, b]):.3f}" for b in range(oof.shape[1])))
    weights, bias = stacker(oof, y)
    stacked = oof @ weights + bias
    groups = tuple(sorted({folder_key(r) for r in rows}))
    split = Split("calibration", tuple(rows), groups, f"out-of-fold scores of {cfg.folds} source-grouped folds")
    c = cfg.calibration
    calibration = fit_calibration(ScoredSplit(split, stacked), method=c.method, rule=c.threshold_rule,
                                  target_fpr=c.target_fpr, band_halfwidth=c.band_halfwidth,
                                  selective_accuracy=c.selective_accuracy)
    report("final fit: semantic head", 0, 0)
    fit_head(sem_model, feats, view_y, cfg.semantic.optim.weight_decay, cfg.semantic.optim.max_iter)
    if pools is not None and weights[-1] > 0:  # a dropped branch is not shipped
        low_model = train_lowlevel(pools, y, cfg.lowlevel, seed=cfg.seed, model=low_model,
                                   on_epoch=partial(report, "final fit: low-level epochs"))
    else:
        low_model = None
    metrics = _oof_metrics(y, oof, stacked, calibration, rows)
    out = _save(cfg, sem_model, low_model, weights, bias, calibration, rows, folds, metrics, pretrained)
    log.debug("fusion trained in %.0f s: out-of-fold AUC %.3f; wrote %s", time.perf_counter() - t0,
              metrics["auc"], out)
    return out


def _auc(y: NDArray[np.int64], s: NDArray[np.float64]) -> float:
    return auc(y, s) if 0 < y.sum() < y.size else float("nan")


def _oof_metrics(y: NDArray[np.int64], oof: NDArray[np.float64], stacked: NDArray[np.float64],
                 calibration: Calibration, rows: list[ManifestRow]) -> dict[str, Any]:
    p = calibration.probability(stacked)
    right, decided = decisions(y, p, calibration)
    out = summary(y, p, calibration.threshold)
    out.update(branch_auc={name: round(_auc(y, oof[:, b]), 4) for b, name in enumerate(BRANCHES[:oof.shape[1]])},
               coverage=round(float(decided.mean()), 4), selective=_selective_curve(y, p, calibration.threshold),
               selective_accuracy=round(float(right[decided].mean()), 4) if decided.any() else None,
               note="out-of-fold: every image scored by branches fitted without its source folder; the stacker and "
                    "calibration were fitted on these same scores, so the figures are slightly optimistic for them")
    return out


def _save(cfg: FusionConfig, sem: DetectorModel, low: DetectorModel | None, weights: NDArray[np.float64], bias: float,
          calibration: Calibration, rows: list[ManifestRow], folds: NDArray[np.int64], metrics: dict[str, Any],
          pretrained: dict[str, Any]) -> Path:
    out = Path(cfg.out)
    name, version = cfg.checkpoint_name, cfg.checkpoint_version
    branches = []
    weights = np.r_[weights, np.zeros(len(BRANCHES) - len(weights))]  # a disabled branch weighs nothing
    for branch, model, w in zip(BRANCHES, (sem, low), weights, strict=True):
        if model is None:
            if (out / branch / "config.json").is_file():  # an earlier run's branch, overwritten: not part of this one
                shutil.rmtree(out / branch)
            continue
        save_checkpoint(model.eval(), out / branch, name=f"{name}-{branch}", version=version,
                        extra={"role": f"the {branch} branch of {name}@{version} (raw logits; the fusion calibrates)"}
                        | (pretrained if branch == "semantic" else {}))
        write_graph(model, out / branch)
        branches.append({"name": branch, "folder": branch, "weight": round(float(w), 6)})
    config = {
        "format_version": 1, "name": name, "version": version, "architecture": ARCHITECTURE,
        "branches": branches,
        "stacker": {"bias": round(bias, 6), "regions": "lowlevel" if low is not None else "semantic",
                    "fitted_on": "out-of-fold branch logits (class-balanced logistic regression, no negative "
                                 "weight)", "out_of_fold_weights": [round(float(w), 6) for w in weights]},
        "preprocessing": {b: m.preprocess_cfg.to_dict() for b, m in zip(BRANCHES, (sem, low), strict=True)
                          if m is not None},
        "labels": LABEL_NAMES, "calibration": calibration.to_dict(),
        "num_parameters": int(sum(p.numel() for m in (sem, low) if m is not None for p in m.parameters())),
        "training_data_sha256": rows_hash(rows), "metrics": {"out_of_fold": metrics},
        # every image trained the shipped branches: eval refuses any split of these sources as held out
        "split": {"seed": cfg.seed, "train": {"groups": sorted({folder_key(r) for r in rows})}},
        "folds": {"k": cfg.folds, "group": "source folder", "sizes": np.bincount(folds).tolist()},
        "training": {"config": cfg.to_dict()}, **pretrained,
    }
    write_config(out, config)
    write_training_record(out, image_digests(r.path for r in rows))  # every row fitted the branches and stacker
    save_yaml(cfg.to_dict(), out / "train_config.yaml")
    return out


__all__ = ["semantic_features", "stacker", "tile_grid", "tile_logits", "train_fusion", "training_rows"]
