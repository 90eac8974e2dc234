"""Cross-validated comparison of the default's design: each branch alone, other low-level networks, and the fusion,
on the same folds and the same matched copies of every held-out image.

    sentry-image compare configs/comparisons/crossval.yaml

Fold schemes: ``grouped`` (source folders, balanced), ``generator`` (AI images by generator, hashed into ``folds``
groups; photos by source folder), ``family`` (one fold per AI family). Every image is scored out of fold on each
of :data:`~sentry_image.data.degrade.MATCHED_COPIES`; the branches train exactly as :mod:`.fusion` trains them
(the same views, tiles and seeds). ``extra`` networks train on the low-level branch's tiles, grouped folds only.
Out-of-fold logits go to ``scores.npz``; :mod:`.crossval_report` turns them into ``report.json`` and ``README.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from ..config import ConfigError, build, load_layers, resolve_path
from ..data.degrade import MATCHED_COPIES, matched_copy
from ..data.manifest import ManifestRow
from ..data.preprocess import PreprocessConfig, preprocess
from ..data.splits import group_folds
from ..imaging import load_image
from ..models.base import DetectorModel
from ..models.registry import create_detector
from .crossval_report import write_report
from .fusion import semantic_features, tile_grid, tile_logits, training_rows
from .fusion_config import FusionConfig, load_fusion_config
from .lowlevel import tile_pool, train_lowlevel
from .probe import fit_head

log = logging.getLogger(__name__)
SCHEMES = ("grouped", "generator", "family")
FAMILIES = ("diffusion", "gan", "autoregressive")


@dataclass
class ExtraModel:
    """Another native-tile network trained like the low-level branch (same tiles, epochs and loss)."""

    name: str
    model: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class CrossvalConfig:
    """A cross-validated comparison.

    Attributes:
        kind: ``crossval``.
        out: results folder (``scores.npz``, ``report.json``, generated ``README.md``).
        fusion: the fusion training config whose branches are compared (and its ``overrides``).
        schemes: fold schemes to run; folds: folds of the grouped and generator schemes.
        copies: matched copies scored for every held-out image.
        extra: other networks trained on the low-level tiles, grouped folds only.
        bootstrap: resamples (of whole source folders) for the AUC intervals.
    """

    kind: Literal["crossval"] = "crossval"
    out: str = "results/crossval"
    fusion: str = "configs/train/default.yaml"
    overrides: list[str] = field(default_factory=list)
    schemes: list[str] = field(default_factory=lambda: list(SCHEMES))
    folds: int = 5
    copies: list[str] = field(default_factory=lambda: list(MATCHED_COPIES))
    extra: list[ExtraModel] = field(default_factory=list)
    bootstrap: int = 500


def load_crossval_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()
                         ) -> tuple[CrossvalConfig, FusionConfig]:
    """The comparison config (defaults < YAML < ``key=value`` overrides) and the fusion config it compares."""
    try:
        cfg = build(CrossvalConfig, load_layers(path, overrides))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    unknown = set(cfg.schemes) - set(SCHEMES) or set(cfg.copies) - set(MATCHED_COPIES)
    if unknown:
        raise ConfigError(f"schemes / copies: unknown {sorted(unknown)} (schemes {SCHEMES}, copies {MATCHED_COPIES})")
    if cfg.copies[:1] != ["original"]:
        raise ConfigError("copies: 'original' must come first (the stacker and calibration are fitted on it)")
    return cfg, load_fusion_config(resolve_path(cfg.fusion, Path(path).parent), cfg.overrides)


def scheme_folds(rows: list[ManifestRow], scheme: str, k: int, seed: int) -> NDArray[np.int64]:
    """One test fold per row for ``scheme``; photos always by source folder, AI images by the scheme's unit (a
    family outside :data:`FAMILIES` goes with the first family present)."""
    present = [f for f in FAMILIES if any(int(r.label) and r.family == f for r in rows)] or ["other"]
    real_folds = group_folds(rows, k if scheme != "family" else max(2, len(present)), seed)
    if scheme == "grouped":
        return real_folds
    if scheme == "generator":
        gens = sorted({r.generator for r in rows if int(r.label)}, key=lambda g: hashlib.sha256(g.encode()).digest())
        unit = {g: i % k for i, g in enumerate(gens)}
        return np.array([unit[r.generator] if int(r.label) else f for r, f in zip(rows, real_folds, strict=True)])
    return np.array([(present.index(r.family) if r.family in present else 0) if int(r.label) else f
                     for r, f in zip(rows, real_folds, strict=True)])


def _inputs(fusion: FusionConfig, rows: list[ManifestRow], copies: list[str], sem: DetectorModel, tiles_cfg:
            PreprocessConfig) -> tuple[NDArray[np.uint8], dict[str, Any], dict[str, list[NDArray[np.uint8]]]]:
    """Training tile pools, and per copy the semantic features and the low-level tile grids of every row."""
    pools: list[NDArray[np.uint8]] = []
    feats: dict[str, list[torch.Tensor]] = {c: [] for c in copies}
    grids: dict[str, list[NDArray[np.uint8]]] = {c: [] for c in copies}
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        image = load_image(row.path).rgb
        pools.append(tile_pool(image, fusion.lowlevel, random.Random(f"{fusion.seed}:{row.rel_path}"),
                               tiles_cfg.crop_size))
        for c in copies:
            view = matched_copy(image, c, i)
            with torch.no_grad():
                feats[c].append(sem.features(torch.from_numpy(preprocess(view, sem.preprocess_cfg))).mean(0))
            grids[c].append(tile_grid(view, tiles_cfg))
        if (i + 1) % 100 == 0:
            log.info("copies of %d/%d images scored in %.0f s", i + 1, len(rows), time.perf_counter() - t0)
    return np.stack(pools), {c: torch.stack(v) for c, v in feats.items()}, grids


def run_crossval(cfg: CrossvalConfig, fusion: FusionConfig, command: str = "", *,
                 reuse_scores: bool = False) -> dict[str, Any]:
    """Score every image out of fold per scheme, model and copy; write the results folder; return the report.

    ``reuse_scores``: when ``out/scores.npz`` exists, only the report is written again from it.
    """
    t0 = time.perf_counter()
    torch.manual_seed(fusion.seed)
    rows = training_rows(fusion)
    out = Path(cfg.out)
    target = fusion.calibration.selective_accuracy or 0.9
    if reuse_scores and (out / "scores.npz").is_file():
        saved = dict(np.load(out / "scores.npz"))
        log.info("report from the scores in %s", out / "scores.npz")
        previous = out / "report.json"  # the scoring run's time, not this rewrite's
        seconds = float(json.loads(previous.read_text()).get("seconds", 0.0)) if previous.is_file() else 0.0
        return write_report(out, saved, rows, cfg, command=command, seconds=seconds, target=target)
    y = np.array([int(r.label) for r in rows], dtype=np.int64)
    sem, (view_row, view_feats, _) = semantic_features(fusion, rows, lambda *a: None)
    view_y = torch.from_numpy(y[view_row]).float()
    tiles_cfg = create_detector(fusion.lowlevel.model, **fusion.lowlevel.args).preprocess_cfg
    pools, feats, grids = _inputs(fusion, rows, cfg.copies, sem, tiles_cfg)
    most = {c: max(len(g) for g in grids[c]) for c in cfg.copies}  # tiles of the image with the most
    scores: dict[str, NDArray[np.float64]] = {"labels": y.astype(np.float64)}
    for scheme in cfg.schemes:
        fold = scheme_folds(rows, scheme, cfg.folds, fusion.seed)
        scores[f"{scheme}/fold"] = fold.astype(np.float64)
        nets = [("lowlevel", fusion.lowlevel.model, fusion.lowlevel.args)]
        nets += [(e.name, e.model, e.args) for e in cfg.extra] if scheme == "grouped" else []
        for f in np.unique(fold):
            test = fold == f
            train_views = torch.from_numpy(~test[view_row])
            fit_head(sem, view_feats[train_views], view_y[train_views], fusion.semantic.optim.weight_decay,
                     fusion.semantic.optim.max_iter)
            for c in cfg.copies:
                with torch.inference_mode():
                    scores.setdefault(f"{scheme}/semantic/{c}", np.zeros(len(rows)))[test] = \
                        sem.classify(feats[c][torch.from_numpy(test)]).numpy()
            held = np.flatnonzero(test)
            for name, arch, args in nets:
                torch.manual_seed(fusion.seed + int(f))  # initialised as the fusion trainer initialises its fold nets
                net = train_lowlevel(pools[~test], y[~test], fusion.lowlevel, seed=fusion.seed + int(f),
                                     model=create_detector(arch, **args))
                for c in cfg.copies:
                    tiles = tile_logits(net, [grids[c][i] for i in held])
                    scores.setdefault(f"{scheme}/{name}/{c}", np.full((len(rows), most[c]), np.nan))[
                        held, :tiles.shape[1]] = tiles
            log.info("%s fold %d: %d held-out images (%.0f s so far)", scheme, f, int(test.sum()),
                     time.perf_counter() - t0)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "scores.npz", **scores)  # type: ignore[arg-type]  # numpy's stub types **kwds poorly
    return write_report(out, scores, rows, cfg, command=command, seconds=time.perf_counter() - t0, target=target)


__all__ = ["CrossvalConfig", "ExtraModel", "load_crossval_config", "run_crossval", "scheme_folds"]
