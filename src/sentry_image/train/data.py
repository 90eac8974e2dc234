"""The training data of a run, from the ``data`` section: rows to split, or shards to stream, and calibration.

The labelled rows are the union of ``data.manifest`` (any spec of :func:`sentry_image.data.sources.read_source`),
the published ``data.subsets`` under ``data.root`` and the ``data.real`` photographs; they are split by source
group into train / calibration / test. ``data.calibration`` replaces the calibration share by an explicit set
(refused when it shares a source group with the training data: calibrating on training sources makes the
threshold look better than it is). ``data.shards`` streams the training set instead; calibration then comes from
``data.calibration`` only.

Everything is read and checked here, before a model is built: a missing file, an unknown subset or an empty split
is a :class:`~sentry_image.train.config.ConfigError` naming the ``data.*`` key within the first seconds.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch.distributed as dist

from ..data.manifest import ManifestRow, rows_hash
from ..data.shard import ShardError, list_shards, shard_index
from ..data.sources import SourceError, read_real, read_source, read_subsets
from ..data.splits import Split, folder_key, make_splits
from ..types import Label
from .config import ConfigError, DataConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class TrainingData:
    """What a run trains and calibrates on.

    Attributes:
        rows: training rows (empty when streaming ``shards``).
        shards: shard files of the training stream (empty when training from rows).
        shard_samples: samples in ``shards`` per their index (0 when training from rows).
        calibration: the calibration split (a share of the rows, or ``data.calibration``), or None.
        test: the held-out test split, or None.
        record: the split record stored in the checkpoint (description, seed, per-role counts, groups, hashes).
        provenance: where the data came from (specs, subsets, per-source counts, shard count and hashes).
    """

    rows: list[ManifestRow] = field(default_factory=list)
    shards: list[Path] = field(default_factory=list)
    shard_samples: int = 0
    calibration: Split | None = None
    test: Split | None = None
    record: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


def _read(key: str, fn: Callable[[], T]) -> T:
    """Run a reader; its error becomes a ConfigError that names the config key."""
    try:
        return fn()
    except (SourceError, ShardError) as exc:
        raise ConfigError(f"{key}: {exc}") from None


def find_shards(location: str) -> list[Path]:
    """Shard files of ``data.shards`` (folder, file or glob); ConfigError when there are none."""
    return _read("data.shards", lambda: list_shards(location))


def check_shard_count(shards: int, world: int, num_workers: int) -> None:
    """ConfigError unless every process and DataLoader worker gets a shard: one without would idle or stall."""
    workers = max(1, num_workers)
    if shards < world * workers:
        raise ConfigError(f"data.shards: {shards} shards for {world} processes x {workers} workers; write at "
                          f"least {world * workers} (data shard --max-samples) or lower data.num_workers")


def _labelled_rows(cfg: DataConfig) -> tuple[list[ManifestRow], dict[str, Any]]:
    """The union of manifest, subsets and real rows (a file listed twice is kept once) and their provenance."""
    parts: list[tuple[str, list[ManifestRow]]] = []
    if cfg.manifest:
        parts.append(("manifest", _read("data.manifest", lambda: read_source(cfg.manifest, root=cfg.root))))
    if cfg.subsets:
        parts.append(("subsets", _read("data.subsets", lambda: read_subsets(cfg.subsets, cfg.root))))
    if cfg.real:
        parts.append(("real", _read("data.real", lambda: read_real(cfg.real))))
    rows: list[ManifestRow] = []
    seen: set[str] = set()
    for _, part in parts:
        for row in part:
            if str(row.path) not in seen:
                seen.add(str(row.path))
                rows.append(row)
    provenance = {"manifest": cfg.manifest, "subsets": list(cfg.subsets), "root": cfg.root, "real": cfg.real,
                  "images": {name: len(part) for name, part in parts}, "rows_sha256": rows_hash(rows)}
    return rows, provenance


def _explicit_calibration(cfg: DataConfig, train_groups: set[str], train_paths: set[str]) -> Split:
    rows = _read("data.calibration", lambda: read_source(cfg.calibration, root=cfg.root))
    if not rows:
        raise ConfigError(f"data.calibration: {cfg.calibration} has no images")
    groups = {folder_key(r) for r in rows}
    shared = sorted(groups & train_groups) or sorted({str(r.path) for r in rows} & train_paths)
    if shared:
        raise ConfigError(f"data.calibration: {cfg.calibration} shares {len(shared)} source group(s) with the "
                          f"training data ({', '.join(shared[:5])}); calibrate on sources the model never saw")
    return Split("calibration", tuple(rows), tuple(sorted(groups)), f"explicit: data.calibration={cfg.calibration}")


def _split_record(split: Split) -> dict[str, Any]:
    return {"images": len(split), "groups": list(split.groups), "rows_sha256": rows_hash(split.rows)}


def _check_labels(rows: Sequence[ManifestRow], what: str) -> None:
    present = {r.label for r in rows}
    missing = [name for label, name in ((Label.REAL, "real"), (Label.FAKE, "ai")) if label not in present]
    if missing:
        raise ConfigError(f"{what} has no {' and no '.join(missing)} images ({len(rows)} rows): a detector needs "
                          f"both; add data (data.real pairs real photos with data.subsets) or change data.fractions")


def _streaming(cfg: DataConfig, calibrate: bool) -> TrainingData:
    shards = find_shards(cfg.shards)
    check_shard_count(len(shards), dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1,
                      cfg.num_workers)
    index = _read("data.shards", lambda: shard_index(shards))
    data = TrainingData(shards=shards, shard_samples=index["samples"])
    if cfg.calibration:
        cal = _explicit_calibration(cfg, set(index["groups"]), set())
        if not index["groups"]:
            log.warning("data.shards: the shard index lists no source groups; calibration overlap not checked")
        data.calibration = cal
        data.record["calibration"] = _split_record(cal)
    elif calibrate:
        raise ConfigError("data.calibration: training from data.shards draws no calibration split; give a "
                          "calibration manifest or folder (data.calibration=...) or set calibration.enabled=false")
    data.record.update({"description": f"streamed from {len(shards)} shards; no split drawn", "seed": cfg.split_seed,
                        "train": {"images": index["samples"], "shards": len(shards)}})
    data.provenance = {"shards": cfg.shards, "shard_count": len(shards), "samples": index["samples"],
                       "shard_rows_sha256": index["rows_hash"], "calibration": cfg.calibration,
                       "shard_files": [{"name": p.name, "samples": n, "sha256": h} for p, n, h in
                                       zip(shards, index["per_shard"], index["sha256"], strict=True)]}
    return data


def _from_rows(cfg: DataConfig, seed: int) -> TrainingData:
    rows, provenance = _labelled_rows(cfg)
    if not rows:
        raise ConfigError("data: the data sources hold no images")
    if len(cfg.fractions) != 3 or any(f < 0 for f in cfg.fractions) or abs(sum(cfg.fractions) - 1) > 1e-6:
        raise ConfigError(f"data.fractions: three non-negative shares summing to 1, got {cfg.fractions}")
    fractions = list(cfg.fractions)
    if cfg.calibration:  # the explicit set replaces the calibration share; train and test keep their ratio
        if fractions[0] + fractions[2] <= 0:
            raise ConfigError(f"data.fractions: no train share with data.calibration, got {cfg.fractions}")
        fractions = [fractions[0] / (fractions[0] + fractions[2]), 0.0, fractions[2] / (fractions[0] + fractions[2])]
    splits = make_splits(rows, fractions, cfg.split_seed)
    train_rows = list(splits["train"].rows) if "train" in splits else []
    _check_labels(train_rows, "data: the train split")
    if cfg.max_images and len(train_rows) > cfg.max_images:
        train_rows = random.Random(seed).sample(train_rows, cfg.max_images)
    data = TrainingData(rows=train_rows, calibration=splits.get("calibration"), test=splits.get("test"))
    if cfg.calibration:
        data.calibration = _explicit_calibration(cfg, set(splits["train"].groups), {str(r.path) for r in rows})
    data.record = {"description": splits["train"].description, "seed": cfg.split_seed,
                   **{role: _split_record(s) for role, s in splits.items()}}
    if data.calibration is not None:
        data.record["calibration"] = _split_record(data.calibration)
    data.provenance = {**provenance, "calibration": cfg.calibration, "training_rows_sha256": rows_hash(train_rows)}
    return data


def _check_keys(cfg: DataConfig) -> None:
    has_rows = bool(cfg.manifest or cfg.subsets or cfg.real)
    if cfg.shards and has_rows:
        raise ConfigError("data.shards: give either data.shards (streamed training set) or data.manifest / "
                          "data.subsets / data.real (rows to split), not both")
    if not cfg.shards and not has_rows:
        raise ConfigError("data: no training data: set data.manifest, data.subsets (with data.root) or data.shards")
    if cfg.num_workers < 0 or cfg.max_images < 0:
        raise ConfigError("data.num_workers and data.max_images must not be negative")


def load_training_data(cfg: DataConfig, seed: int, *, calibrate: bool = True) -> TrainingData:
    """Read and split the data of ``cfg`` (``calibrate``: a calibration split is needed); see the module notes.

    Under ``torchrun`` rank 0 reads first (it may scan subsets and write their cached manifests) and the other
    ranks then read the cache; an error on rank 0 is raised on every rank, so none waits for the others.

    Raises:
        ConfigError: naming the ``data.*`` key, for missing or unreadable data, overlaps and empty splits.
    """
    _check_keys(cfg)

    def load() -> TrainingData:
        return _streaming(cfg, calibrate) if cfg.shards else _from_rows(cfg, seed)

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return load()
    if dist.get_rank() != 0:
        message: list[str | None] = [None]
        dist.broadcast_object_list(message, src=0)
        if message[0] is not None:
            raise ConfigError(f"on rank 0: {message[0]}")
        return load()
    try:
        result = load()
    except Exception as exc:
        dist.broadcast_object_list([str(exc)], src=0)
        raise
    dist.broadcast_object_list([None], src=0)
    return result


__all__ = ["TrainingData", "check_shard_count", "find_shards", "load_training_data"]
