"""The ``lbfgs`` optimiser: a linear probe of a frozen backbone, fitted full-batch on cached features.

Every training image gives ``2 + augment.views`` views: the image as decoded, its mirror (when ``augment.hflip``)
and ``augment.views`` random degradations of :mod:`sentry_image.data.degrade` applied alike to both classes. Each
view goes through the model's own preprocessing, as at detection time (crops averaged), and the backbone's
features are extracted once. The standardisation (``feat_mean`` / ``feat_std`` buffers, when the model has them)
is fitted on those features, then the linear head by full-batch L-BFGS on a class-balanced logistic loss with an
L2 penalty (``optim.weight_decay``) on the head weights.

Randomness is per image (``Random(f"{seed}:{rel_path}")``), so the features do not depend on row order or on how
the rows are sharded. The features are cached in ``out/probe_features.pt`` under a hash of the rows, the augment
config and the model, so a resumed run skips the extraction. Under ``torchrun`` rank ``r`` of ``N`` extracts rows
``r, r+N, ...``; the features are gathered in row order, every rank fits the same head and rank 0's is broadcast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from PIL import Image, ImageOps
from torch import nn

from ..data import degrade
from ..data.manifest import ManifestRow, rows_hash
from ..data.preprocess import preprocess
from ..imaging import ImageError, load_image
from ..models.base import DetectorModel
from .config import TrainConfig
from .loop import init_distributed

log = logging.getLogger(__name__)
CACHE = "probe_features.pt"
Extracted = tuple[list[int], list[torch.Tensor], list[float], list[str]]  # row index, features, labels, skipped


def _check_probe(model: DetectorModel) -> nn.Linear:
    """The probe's one-output linear head; a clear error for a model that is not a linear probe."""
    head = model.head
    if not isinstance(head, nn.Linear) or head.out_features != 1:
        raise ValueError(f"optim.optimizer=lbfgs: {model.registry_name} is not a linear probe (its head must be a "
                         "one-output nn.Linear)")
    return head


def view_count(aug: degrade.AugmentConfig) -> int:
    """How many views :func:`views` gives each image under ``aug``."""
    return 1 + int(aug.hflip) + (aug.views if aug.enabled else 0)


def views(image: Image.Image, cfg: TrainConfig, rng: random.Random) -> list[Image.Image]:
    """The training views of one image: as decoded, mirrored, then ``augment.views`` random degradations."""
    aug = cfg.augment
    out = [image] + ([ImageOps.mirror(image)] if aug.hflip else [])
    if aug.enabled:
        out += [degrade.augment(image, rng, aug) for _ in range(aug.views)]
    return out


def cache_key(model: DetectorModel, rows: Sequence[ManifestRow], cfg: TrainConfig) -> str:
    """Hash of everything the cached features depend on: rows, augmentation, seed, model and its weights' source."""
    spec = {"rows": rows_hash(rows), "order": [r.rel_path for r in rows], "augment": cfg.augment.__dict__,
            "seed": cfg.seed, "model": cfg.model.name, "args": cfg.model.args, "pretrained": cfg.model.pretrained,
            "preprocess": model.preprocess_cfg.to_dict()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


@torch.no_grad()  # not inference_mode: these tensors feed the head's autograd afterwards
def extract(model: DetectorModel, rows: Sequence[ManifestRow], indices: Sequence[int], cfg: TrainConfig,
            on_row: Callable[[], None] | None = None) -> Extracted:
    """Features of every view of ``rows[i]`` for ``i`` in ``indices``; rows that do not decode are skipped."""
    _check_probe(model)
    device = next(model.parameters()).device
    kept, feats, labels, skipped = [], [], [], []
    for i in indices:
        row = rows[i]
        try:
            image = load_image(row.path).rgb
        except ImageError as exc:
            log.warning("skipping %s: %s", row.rel_path, exc)
            skipped.append(row.rel_path)
        else:
            rng = random.Random(f"{cfg.seed}:{row.rel_path}")  # per-image stream: independent of order and shards
            for view in views(image, cfg, rng):
                pixels = torch.from_numpy(preprocess(view, model.preprocess_cfg)).to(device)
                feats.append(model.features(pixels).mean(0).cpu())
                labels.append(float(row.label))
                kept.append(i)
        if on_row is not None:
            on_row()
    return kept, feats, labels, skipped


def _gather(part: Extracted, world: int) -> Extracted:
    """Every rank's extraction, back in row order (the one-process order)."""
    if world == 1:
        return part
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, part)
    # a row belongs to one rank and its views are consecutive there: (row, rank, position) is the one-process order
    items = sorted((i, r, j) for r, p in enumerate(parts) for j, i in enumerate(p[0]))
    return ([i for i, _, _ in items], [parts[r][1][j] for _, r, j in items], [parts[r][2][j] for _, r, j in items],
            sorted(s for p in parts for s in p[3]))


def fit_head(model: DetectorModel, feats: torch.Tensor, labels: torch.Tensor, weight_decay: float,
             max_iter: int) -> tuple[float, int]:
    """Fit standardisation and the linear head: class-balanced logistic loss + L2, full-batch L-BFGS.

    Returns the final loss and the L-BFGS iterations used.
    """
    head = _check_probe(model)
    with torch.no_grad():
        x = model.fit_standardisation(feats)
    pos = labels.mean().clamp(1e-3, 1 - 1e-3)
    weights = torch.where(labels > 0.5, 0.5 / pos, 0.5 / (1 - pos))  # each class weighs one half
    nn.init.zeros_(head.weight)  # a convex problem: start from the same point every time
    nn.init.zeros_(head.bias)
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(head(x).squeeze(-1), labels, weight=weights)
        loss = loss + 0.5 * weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
        loss = float(closure().detach())
    return loss, int(opt.state[head.weight].get("n_iter", 0))


def _load_cache(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    cached = torch.load(path, map_location="cpu", weights_only=False)
    if cached.get("key") != key:
        log.info("%s was extracted for other rows, augmentations or model: extracting again", path)
        return None
    return dict(cached)


def fit_probe(model: DetectorModel, rows: Sequence[ManifestRow], cfg: TrainConfig, out: Path,
              on_step: Callable[[int, int], None] | None = None, *,
              progress: Callable[[str, int, int], None] | None = None) -> list[dict[str, Any]]:
    """Fit ``model``'s standardisation and linear head on cached features of ``rows``; returns a one-epoch history.

    ``on_step(done, total)`` is called after each extracted row (each rank counts its own shard), ``progress``
    with ``("features", done, total)``, then ``("linear head (L-BFGS)", 0, 0)``.
    """
    if not cfg.model.freeze_backbone:
        raise ValueError("optim.optimizer=lbfgs fits a linear probe on the features of a frozen backbone: "
                         "set model.freeze_backbone=true (or use adamw / sgd to train the backbone)")
    _check_probe(model)
    info = init_distributed()
    cuda = torch.cuda.is_available()
    model.to(torch.device(f"cuda:{info.local_rank}" if cuda else "cpu"))
    model.eval()  # frozen backbone: batch-norm statistics stay those of its pretraining
    for p in model.parameters():
        p.requires_grad_(False)
    path, key = out / CACHE, cache_key(model, rows, cfg)
    t0 = time.perf_counter()
    cached = _load_cache(path, key) if cfg.resume else None
    if info.world > 1:  # every rank must take the same branch (all_gather below), e.g. when nodes see other files
        everywhere = torch.tensor([int(cached is not None)])
        dist.all_reduce(everywhere, op=dist.ReduceOp.MIN)
        cached = cached if int(everywhere) else None
    if cached is None:
        mine = list(range(info.rank, len(rows), info.world))
        done = [0]

        def tick() -> None:
            done[0] += 1
            if on_step is not None:
                on_step(done[0], len(mine))
            if progress is not None:
                progress("features", done[0], len(mine))

        kept, feats, labels, skipped = _gather(extract(model, rows, mine, cfg, tick), info.world)
        if not feats:
            raise ValueError(f"none of the {len(rows)} training images could be decoded")
        cached = {"key": key, "features": torch.stack(feats), "labels": torch.tensor(labels),
                  "images": len(set(kept)), "skipped": skipped, "extract_seconds": time.perf_counter() - t0}
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            torch.save(cached, path.with_suffix(".tmp"))
            path.with_suffix(".tmp").replace(path)  # atomic: an interrupted save never leaves half a cache
        from_cache = False
    else:
        log.info("features of %d views read from %s", len(cached["labels"]), path)
        from_cache = True
    extract_s = time.perf_counter() - t0
    model.to("cpu")
    if progress is not None:
        progress("linear head (L-BFGS)", 0, 0)
    t1 = time.perf_counter()
    loss, iterations = fit_head(model, cached["features"], cached["labels"], cfg.optim.weight_decay,
                                cfg.optim.max_iter)
    if info.world > 1:  # identical features give identical heads up to float order; rank 0's is the one saved
        for tensor in model.state_dict().values():  # the head and its standardisation; the backbone is frozen
            dist.broadcast(tensor, src=0)
    fit_s = time.perf_counter() - t1
    images, n_views = int(cached["images"]), len(cached["labels"])
    record = {"epoch": 1, "loss": loss, "iterations": iterations, "images": images,
              "skipped": len(cached["skipped"]), "views": n_views, "features_cached": from_cache,
              "extract_seconds": round(extract_s, 3), "first_extract_seconds": round(cached["extract_seconds"], 3),
              "fit_seconds": round(fit_s, 3), "seconds": round(extract_s + fit_s, 3),
              "images_per_s": round(images / max(float(cached["extract_seconds"]), 1e-9), 2)}
    log.info("probe: %d images (%d skipped), %d views, features %s in %.1f s, L-BFGS %d iterations in %.1f s: "
             "loss %.4f", images, record["skipped"], n_views, "cached" if from_cache else "extracted", extract_s,
             iterations, fit_s, loss)
    return [record]


__all__ = ["CACHE", "cache_key", "extract", "fit_head", "fit_probe", "views"]
