"""The training loop: plain PyTorch, AMP on CUDA, DDP under ``torchrun``, resumable from the last epoch.

Determinism is by construction so that N processes reproduce one: the shuffle comes from a
:class:`~torch.utils.data.DistributedSampler` seeded by ``seed + epoch`` (with one replica it is the same
permutation), and each sample's augmentation from ``Random(seed:epoch:index)``, never from a process-wide stream.
Rank ``r`` of ``N`` takes indices ``r, r+N, ...``, so the union of the N local batches of step k is exactly the
one-process batch k, and DDP's gradient average equals the one-process mean when the local batches are equal.

A shard stream (``data.shards``) is read by :class:`ShardTrainDataset`: the same training view per sample, keyed by
the sample's path, shards split across ranks and DataLoader workers. Ranks may then hold different numbers of
samples; all of them end the epoch with the shortest one (see :func:`_batches`), so none waits forever.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
from PIL import Image, ImageOps
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from ..data import degrade
from ..data.datasets import ShardDataset
from ..data.degrade import AugmentConfig
from ..data.manifest import ManifestRow
from ..data.preprocess import PreprocessConfig, preprocess
from ..data.shard import shard_index
from ..imaging import ImageError, decode_image, load_image
from ..models.base import DetectorModel
from .config import TrainConfig
from .data import check_shard_count

log = logging.getLogger(__name__)
STATE = "train_state.pt"
Item = tuple[torch.Tensor, int, bool]


def train_view(image: Image.Image, cfg: PreprocessConfig, aug: AugmentConfig, rng: random.Random) -> torch.Tensor:
    """One training tensor ``[3, crop, crop]``: degradation chain, the model's resize, a random crop, a flip."""
    image = degrade.augment(image, rng, aug)  # the image as it is when augment.enabled is off
    if cfg.resize_short is not None:
        image = degrade.resize(image, short_side=cfg.resize_short)
    # a random window instead of the centre: more distinct views of each image for the same decode cost
    image = degrade.crop(image, cfg.crop_size, rng=rng)
    if aug.hflip and rng.random() < 0.5:
        image = ImageOps.mirror(image)
    return torch.from_numpy(preprocess(image, replace(cfg, resize_short=None, num_crops=1))[0])


class TrainDataset(Dataset[Item]):
    """Training views of manifest rows; a row whose image does not decode yields a masked zero tensor."""

    def __init__(self, rows: Sequence[ManifestRow], cfg: PreprocessConfig, aug: AugmentConfig, seed: int) -> None:
        self.rows, self.cfg, self.aug, self.seed, self.epoch = list(rows), cfg, aug, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Item:
        row = self.rows[index]
        rng = random.Random(f"{self.seed}:{self.epoch}:{index}")
        try:
            return train_view(load_image(row.path).rgb, self.cfg, self.aug, rng), int(row.label), True
        except ImageError as exc:
            log.warning("skipping %s: %s", row.rel_path, exc)
            return torch.zeros(3, self.cfg.crop_size, self.cfg.crop_size), int(row.label), False


class ShardTrainDataset(ShardDataset):
    """Training views of a shard stream: the same :func:`train_view` per sample as :class:`TrainDataset`.

    Each sample's augmentation comes from ``Random(seed:epoch:path)``, so it does not depend on which rank or
    worker reads it; shards are split across ranks and DataLoader workers and reshuffled per epoch. A sample that
    does not decode (or a malformed one) yields a masked zero tensor, counted as skipped, never fatal.
    """

    def __init__(self, shards: Sequence[Path], cfg: PreprocessConfig, aug: AugmentConfig, seed: int, *,
                 rank_world: tuple[int, int], buffer: int = 256) -> None:
        super().__init__(shards, cfg, shuffle=True, buffer=buffer, seed=seed, strict=False, rank_world=rank_world)
        self.aug = aug

    def _tensor(self, data: bytes, meta: dict[str, Any]) -> Item:
        name, label = str(meta.get("path", "<shard>")), int(meta.get("label", 0))
        rng = random.Random(f"{self.seed}:{self.epoch}:{name}")
        try:
            return train_view(decode_image(data, name).rgb, self.cfg, self.aug, rng), label, True
        except ImageError as exc:
            log.warning("skipping %s: %s", name, exc)
            return torch.zeros(3, self.cfg.crop_size, self.cfg.crop_size), label, False


@dataclass
class DistInfo:
    """Process-group facts of this process (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1): NCCL on GPUs, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def set_trainable(model: DetectorModel, freeze_backbone: bool) -> list[nn.Parameter]:
    """Parameters to optimise; with ``freeze_backbone`` only the head's (:meth:`DetectorModel.head_parameters`)."""
    if freeze_backbone:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.head_parameters():
            p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def _set_mode(model: DetectorModel, freeze_backbone: bool) -> None:
    model.train()
    if freeze_backbone:  # a frozen backbone keeps its batch-norm statistics and has no dropout
        model.eval()
        model.head.train()


def precision(cfg: TrainConfig, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """The autocast dtype of a run on ``device`` (None: float32 throughout) and whether the loss is scaled.

    float16 autocast runs on CUDA only, with a GradScaler against underflowing gradients; bfloat16 has float32's
    range, needs no scaling, and also runs on the CPU.
    """
    if not cfg.optim.amp:
        return None, False
    if cfg.optim.amp_dtype == "bfloat16":
        return torch.bfloat16, False
    return (torch.float16, True) if device.type == "cuda" else (None, False)


def _loader(rows: Sequence[ManifestRow], shards: Sequence[Path], model: DetectorModel, cfg: TrainConfig,
            info: DistInfo, local_batch: int, shard_samples: int | None
            ) -> tuple[DataLoader[Item], TrainDataset | ShardTrainDataset, DistributedSampler[Item] | None, int]:
    """The epoch's batches, its dataset and sampler, and the number of steps per epoch (an estimate for shards)."""
    if shards:
        check_shard_count(len(shards), info.world, cfg.data.num_workers)
        stream = ShardTrainDataset(shards, model.preprocess_cfg, cfg.augment, cfg.seed,
                                   rank_world=(info.rank, info.world))
        samples = shard_samples if shard_samples is not None else shard_index(shards)["samples"]
        steps = math.ceil(samples / cfg.optim.batch_size)
        batches = DataLoader(cast("IterableDataset[Item]", stream), batch_size=local_batch,
                             num_workers=cfg.data.num_workers)
        return batches, stream, None, steps
    dataset = TrainDataset(rows, model.preprocess_cfg, cfg.augment, cfg.seed)
    sampler: DistributedSampler[Item] = DistributedSampler(dataset, num_replicas=info.world, rank=info.rank,
                                                           shuffle=True, seed=cfg.seed)
    loader = DataLoader(dataset, batch_size=local_batch, sampler=sampler, num_workers=cfg.data.num_workers)
    return loader, dataset, sampler, len(loader)


def _batches(loader: DataLoader[Item], streaming: bool, info: DistInfo, device: torch.device) -> Iterator[Any]:
    """The loader's batches; for a stream under DDP, only as many as the shortest rank has.

    Ranks reading different shards get different sample counts, and a rank that stopped early would leave the
    others waiting in the gradient all-reduce forever: before each step every rank says whether it has a batch,
    and all stop at the first step where one has none (the tail dropped differs each epoch, shards reshuffled).
    """
    for batch in loader:
        if streaming and info.world > 1:
            more = torch.ones(1, device=device)
            dist.all_reduce(more, op=dist.ReduceOp.MIN)
            if not more.item():
                log.info("rank %d: epoch ends with the shortest rank; the rest of its stream is dropped", info.rank)
                return
        yield batch
    if streaming and info.world > 1:
        while True:  # out of data: keep answering the others' per-step question until they stop too
            more = torch.zeros(1, device=device)
            dist.all_reduce(more, op=dist.ReduceOp.MIN)
            if not more.item():
                return


def fit(model: DetectorModel, rows: Sequence[ManifestRow], cfg: TrainConfig, out: Path,
        on_step: Callable[[int, int], None] | None = None, *, shards: Sequence[Path] = (),
        shard_samples: int | None = None, progress: Callable[[str, int, int], None] | None = None,
        ) -> list[dict[str, Any]]:
    """Train ``model`` in place on ``rows`` (or on the ``shards`` stream) per ``cfg``; returns per-epoch metrics
    (resumed epochs included). ``on_step(step, steps)`` reports progress, ``progress`` the same as
    ``("epoch 2/3", step, steps)``; for shards ``steps`` is an estimate from ``shard_samples`` (read from the shard
    index when not given)."""
    info = init_distributed()
    opt_cfg = cfg.optim
    if opt_cfg.batch_size % info.world:
        raise ValueError(f"optim.batch_size {opt_cfg.batch_size} is not divisible by {info.world} processes")
    local_batch = opt_cfg.batch_size // info.world
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{info.local_rank}" if cuda else "cpu")
    model.to(device)
    params = set_trainable(model, cfg.model.freeze_backbone)
    if opt_cfg.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(params, lr=opt_cfg.lr, momentum=0.9,
                                                           weight_decay=opt_cfg.weight_decay)
    elif opt_cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay)
    else:
        raise ValueError(f"optim.optimizer: unknown optimizer {opt_cfg.optimizer!r} (adamw or sgd)")
    loader, dataset, sampler, per_epoch = _loader(rows, shards, model, cfg, info, local_batch, shard_samples)
    steps = max(1, per_epoch) * opt_cfg.epochs
    # clamped: a stream may run a few steps past its estimate, and the cosine must not climb back up
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    amp_dtype, scale_loss = precision(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=scale_loss)
    start, history = 0, []
    state_path = out / STATE
    if cfg.resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start, history = int(state["epoch"]), list(state["history"])
        log.info("resumed from %s after epoch %d", state_path, start)
    net: nn.Module = model
    if info.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[info.local_rank] if cuda else None)
    for epoch in range(start, opt_cfg.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        _set_mode(model, cfg.model.freeze_backbone)
        t0 = time.perf_counter()
        totals = torch.zeros(4, dtype=torch.float64)  # loss sum, correct, used, skipped
        for step, (x, y, ok) in enumerate(_batches(loader, bool(shards), info, device)):
            x, yf, mask = x.to(device), y.float().to(device), ok.float().to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = net(x).float()
            losses = nn.functional.binary_cross_entropy_with_logits(logits, yf, reduction="none")
            loss = (losses * mask).sum() / mask.sum().clamp_min(1.0)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            with torch.no_grad():
                totals += torch.tensor([float((losses * mask).sum()), float((((logits > 0).float() == yf).float()
                                        * mask).sum()), float(mask.sum()), float((1 - mask).sum())],
                                       dtype=torch.float64)
            if on_step is not None:
                on_step(step + 1, per_epoch)
            if progress is not None:
                progress(f"epoch {epoch + 1}/{opt_cfg.epochs}", step + 1, per_epoch)
        if info.world > 1:
            dist.all_reduce(totals)
        seconds = time.perf_counter() - t0
        used = max(1.0, float(totals[2]))
        record = {"epoch": epoch + 1, "loss": float(totals[0]) / used, "train_accuracy": float(totals[1]) / used,
                  "images": int(totals[2]), "skipped": int(totals[3]), "seconds": round(seconds, 3),
                  "images_per_s": round(used / max(seconds, 1e-9), 2), "lr": scheduler.get_last_lr()[0],
                  "precision": str(amp_dtype or torch.float32).removeprefix("torch.")}
        history.append(record)
        log.info("epoch %d/%d: loss %.4f acc %.3f (%d images, %d skipped, %.1f s)", epoch + 1, opt_cfg.epochs,
                 record["loss"], record["train_accuracy"], record["images"], record["skipped"], seconds)
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            tmp = state_path.with_suffix(".tmp")
            torch.save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "history": history,
                        "config": asdict(cfg)}, tmp)
            tmp.replace(state_path)  # atomic: an interrupted save never leaves a half-written state
    model.to("cpu").eval()
    return history


__all__ = ["STATE", "DistInfo", "ShardTrainDataset", "TrainDataset", "fit", "init_distributed", "precision",
           "set_trainable", "train_view"]
