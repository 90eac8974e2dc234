"""Training the low-level branch: random native-resolution tiles of degraded views, a small network from scratch.

Every image gives ``views`` degraded copies (the same random chain for both classes: an optional rescale, then JPEG
on most views, so that neither a lossless file nor an untouched 256 px JPEG crop is a tell), and each copy gives
``tiles_per_view`` tiles at random positions, any pixel offset, so that a JPEG grid has no fixed phase. The pool is
built once (8-bit tiles) and each epoch draws ``tiles_per_epoch`` tiles of every image from it: on two CPU cores an
epoch over 1,100 images takes seconds, and the whole branch trains in a couple of minutes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch import nn

from ..data import degrade
from ..models.base import DetectorModel
from ..models.registry import create_detector


@dataclass
class LowLevelTrainConfig:
    """How the low-level branch trains (the ``lowlevel`` section of a fusion training config).

    Attributes:
        enabled: train the branch (off: a fusion of the other branches alone).
        model: registry name of the network; args: its factory's arguments.
        views, tiles_per_view: degraded copies per image and random tiles cut from each (the pool).
        max_side: a larger image is first cut to a random ``max_side`` square region (decoding and degrading 12 MP
            for a few 64 px tiles would waste the time).
        augment: the degradation chain, applied alike to both classes.
        epochs, tiles_per_epoch, batch_size, lr, weight_decay: the optimisation (AdamW, cosine schedule,
            class-balanced logistic loss).
    """

    enabled: bool = True
    model: str = "lowlevel_residual"
    args: dict[str, object] = field(default_factory=dict)
    views: int = 6
    tiles_per_view: int = 8
    max_side: int = 1024
    augment: degrade.AugmentConfig = field(default_factory=lambda: degrade.AugmentConfig(
        p_jpeg=0.8, jpeg_quality=[65, 100], p_resize=0.5, scale=[0.5, 1.0], p_blur=0.0, p_noise=0.0, hflip=True))
    epochs: int = 20
    tiles_per_epoch: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4


def _random_tiles(pixels: NDArray[np.uint8], size: int, n: int, rng: random.Random) -> NDArray[np.uint8]:
    h, w = pixels.shape[:2]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        pixels = np.pad(pixels, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
        h, w = pixels.shape[:2]
    out = []
    for _ in range(n):
        y, x = rng.randint(0, h - size), rng.randint(0, w - size)
        tile = pixels[y:y + size, x:x + size]
        out.append(tile[:, ::-1] if rng.random() < 0.5 else tile)
    return np.stack(out).transpose(0, 3, 1, 2)


def tile_pool(image: Image.Image, cfg: LowLevelTrainConfig, rng: random.Random, tile: int = 64) -> NDArray[np.uint8]:
    """``[views * tiles_per_view, 3, tile, tile]`` uint8 training tiles of one image."""
    out = []
    for _ in range(cfg.views):
        view = image.convert("RGB")
        w, h = view.size
        if max(w, h) > cfg.max_side:
            cw, ch = min(w, cfg.max_side), min(h, cfg.max_side)
            left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
            view = view.crop((left, top, left + cw, top + ch))
        view = degrade.augment(view, rng, cfg.augment)
        out.append(_random_tiles(np.asarray(view), tile, cfg.tiles_per_view, rng))
    return np.concatenate(out)


def train_lowlevel(pool: NDArray[np.uint8], labels: NDArray[np.int64], cfg: LowLevelTrainConfig, *,
                   seed: int = 0, model: DetectorModel | None = None,
                   on_epoch: Callable[[int, int], None] | None = None) -> DetectorModel:
    """Train the branch on ``pool`` (``[images, tiles, 3, T, T]`` uint8) with one label per image; returns the
    network in eval mode. ``on_epoch(done, epochs)`` follows the epochs."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = model if model is not None else create_detector(cfg.model, **cfg.args)
    n, per_image = pool.shape[:2]
    y = torch.as_tensor(labels, dtype=torch.float32)
    pos = float(y.mean().clamp(1e-3, 1 - 1e-3))
    steps_per_epoch = max(1, n * cfg.tiles_per_epoch // cfg.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15)
    data = torch.from_numpy(pool)
    net.train()
    for epoch in range(cfg.epochs):
        images = torch.randperm(n, generator=gen).repeat_interleave(cfg.tiles_per_epoch)
        tiles = torch.randint(0, per_image, (len(images),), generator=gen)
        order = torch.randperm(len(images), generator=gen)
        images, tiles = images[order], tiles[order]
        for step in range(steps_per_epoch):
            sl = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
            x = data[images[sl], tiles[sl]].float() / 255.0
            target = y[images[sl]]
            weight = torch.where(target > 0.5, 0.5 / pos, 0.5 / (1 - pos))  # each class weighs one half
            loss = nn.functional.binary_cross_entropy_with_logits(net(x), target, weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, cfg.epochs)
    return net.eval()


__all__ = ["LowLevelTrainConfig", "tile_pool", "train_lowlevel"]
