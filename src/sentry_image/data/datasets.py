"""Torch datasets over manifests and over webdataset shards, applying the model's own preprocessing.

Both give ``(tensor, label)`` with the tensor from :func:`sentry_image.models.base.preprocess` under the model's
:class:`PreprocessConfig` (``[num_crops, 3, crop, crop]``): no call site writes its own normalisation. An optional
``transform`` (a degradation from :mod:`sentry_image.data.degrade`) runs on the decoded RGB image before it, the
same for both labels. Images are decoded by the project's safe decoder; a file that does not decode raises
:class:`~sentry_image.imaging.ImageError` naming it (run ``data verify`` first).

:class:`ShardDataset` streams shards: each DataLoader worker (and each distributed rank) reads its own subset of
the shards, so no sample is seen twice per epoch; shard order and an optional sample buffer are shuffled from
``seed`` and the epoch (:meth:`ShardDataset.set_epoch`).
"""

from __future__ import annotations

import json
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
from ..models.base import PreprocessConfig, preprocess
from .manifest import ManifestRow, read_manifest
from .shard import list_shards

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
        return preprocess(image, self.cfg), int(row.label)


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
        x, y = preprocess(image, self.cfg), int(meta["label"])
        return (x, y, meta) if self.with_meta else (x, y)


def read_shard(path: Path, *, strict: bool = True) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Samples of one shard in order: (image bytes, metadata). Members of a sample are grouped by key.

    A sample without a single image and a label raises ValueError; with ``strict=False`` it is yielded with empty
    bytes, label 0 and an ``error`` entry instead, so that a training stream can count it as skipped.
    """
    key: str | None = None
    parts: dict[str, bytes] = {}
    with tarfile.open(path, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            k, _, ext = member.name.partition(".")
            if k != key and parts:
                yield _sample(path, key, parts, strict)
                parts = {}
            key = k
            f = tar.extractfile(member)
            parts[ext] = f.read() if f is not None else b""
    if parts:
        yield _sample(path, key, parts, strict)


def _sample(path: Path, key: str | None, parts: dict[str, bytes], strict: bool = True) -> tuple[bytes, dict[str, Any]]:
    try:
        meta: dict[str, Any] = json.loads(parts.pop("json")) if "json" in parts else {}
        if "cls" in parts:
            meta["label"] = int(parts.pop("cls"))
    except ValueError as exc:
        meta, problem = {}, f"{path}: sample {key} has unreadable metadata ({exc})"
    else:
        images = [v for k, v in parts.items() if k not in ("txt",)]
        if len(images) == 1 and "label" in meta:
            return images[0], meta
        problem = f"{path}: sample {key} has no single image and label (members: {sorted(parts)})"
    if strict:
        raise ValueError(problem)
    return b"", {"path": f"{path.name}:{key}", "label": 0, "error": problem}
