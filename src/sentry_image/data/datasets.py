"""Torch datasets over manifests and over webdataset shards, applying the model's own preprocessing.

Both give ``(tensor, label)`` with the tensor from :func:`sentry_image.data.preprocess.preprocess` under the model's
:class:`PreprocessConfig` (``[num_crops, 3, crop, crop]``): no call site writes its own normalisation. An optional
``transform`` (a degradation from :mod:`sentry_image.data.degrade`) runs on the decoded RGB image before it, the
same for both labels. Images are decoded by the project's safe decoder; a file that does not decode raises
:class:`~sentry_image.imaging.ImageError` naming it (run ``data verify`` first).

:class:`ShardDataset` streams shards: each DataLoader worker (and each distributed rank) reads its own subset of
the shards, so no sample is seen twice per epoch; shard order and an optional sample buffer are shuffled from
``seed`` and the epoch (:meth:`ShardDataset.set_epoch`).
"""

from __future__ import annotations

import logging
import random
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ..imaging import decode_image, load_image
from .manifest import ManifestRow, read_manifest
from .preprocess import PreprocessConfig, preprocess
from .shard import list_shards, read_shard

log = logging.getLogger(__name__)
Transform = Callable[[Image.Image], Image.Image]
Sample = tuple[torch.Tensor, int]


class ManifestDataset(Dataset[Sample]):
    """Map-style dataset over manifest rows (or a manifest file)."""

    def __init__(self, rows: Sequence[ManifestRow] | str | Path, cfg: PreprocessConfig,
                 transform: Transform | None = None) -> None:
        self.rows = read_manifest(rows) if isinstance(rows, str | Path) else list(rows)
        self.cfg, self.transform = cfg, transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Sample:
        row = self.rows[index]
        image = load_image(row.path).rgb
        if self.transform is not None:
            image = self.transform(image)
        return torch.from_numpy(preprocess(image, self.cfg)), int(row.label)


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ShardDataset(IterableDataset[Sample]):
    """Iterable dataset over webdataset shards written by :func:`sentry_image.data.shard.write_shards`."""

    def __init__(self, shards: str | Path | Sequence[str | Path], cfg: PreprocessConfig,
                 transform: Transform | None = None, *, shuffle: bool = False, buffer: int = 0, seed: int = 0,
                 with_meta: bool = False, strict: bool = True, rank_world: tuple[int, int] | None = None) -> None:
        """``strict=False`` passes a malformed sample on with empty bytes (its decode then fails) instead of
        raising, and skips the rest of an unreadable shard; ``rank_world`` fixes this process's rank and world
        size (default: the initialised process group's, else 0 of 1)."""
        self.shards = list_shards(shards) if isinstance(shards, str | Path) else [Path(s) for s in shards]
        self.cfg, self.transform = cfg, transform
        self.shuffle, self.buffer, self.seed, self.epoch = shuffle, buffer, seed, 0
        self.with_meta, self.strict, self.rank_world = with_meta, strict, rank_world

    def set_epoch(self, epoch: int) -> None:
        """Changes the shuffle of the next iteration (call before each epoch, as with DistributedSampler)."""
        self.epoch = epoch

    def my_shards(self) -> list[Path]:
        """The shards this worker of this rank reads: every n-th of the (shuffled) list."""
        order = list(self.shards)
        if self.shuffle:
            random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        rank, world = self.rank_world or _rank_world()
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        return order[rank * nworkers + wid::world * nworkers]

    def samples(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """Raw samples of this worker's shards: image bytes and the sample's metadata (label included)."""
        for shard in self.my_shards():
            if self.strict:
                yield from read_shard(shard)
                continue
            done = 0
            try:
                for item in read_shard(shard, strict=False):
                    done += 1
                    yield item
            except (OSError, tarfile.TarError) as exc:  # a truncated or corrupt tar: the samples read so far stand
                log.warning("%s: unreadable after %d samples, skipping the rest (%s)", shard, done, exc)

    def __iter__(self) -> Iterator[Any]:
        for item in self.buffered():
            yield self._tensor(*item)

    def buffered(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """:meth:`samples` through the shuffle buffer (``buffer`` > 1), seeded by ``seed`` and the epoch."""
        rng = random.Random(f"{self.seed}:{self.epoch}:buffer")
        pending: list[tuple[bytes, dict[str, Any]]] = []
        for item in self.samples():
            if self.buffer > 1:
                pending.append(item)
                if len(pending) < self.buffer:
                    continue
                item = pending.pop(rng.randrange(len(pending)))
            yield item
        rng.shuffle(pending)
        yield from pending

    def _tensor(self, data: bytes, meta: dict[str, Any]) -> Any:
        image = decode_image(data, meta.get("path", "<shard>")).rgb
        if self.transform is not None:
            image = self.transform(image)
        x, y = torch.from_numpy(preprocess(image, self.cfg)), int(meta["label"])
        return (x, y, meta) if self.with_meta else (x, y)


__all__ = ["ManifestDataset", "ShardDataset"]
