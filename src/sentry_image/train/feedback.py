"""What a training run says about itself: one line before the work and one line after it.

The first line comes within seconds, once the data is read: how many images, how they are split, which model and
how it trains, and where it writes. The last one reads the checkpoint the run wrote: how long it took, its
metrics and where it is. The command line prints both; a library caller that passes no ``announce`` callback gets
the first as a log record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..data.manifest import ManifestRow
from ..models.checkpoint_io import read_config
from ..types import Label
from .config import TrainConfig
from .data import TrainingData
from .fusion_config import FusionConfig
from .probe import view_count

Announce = Callable[[str], None]
Progress = Callable[[str, int, int], None]  # stage, done, total (0: not known)


def duration(seconds: float) -> str:
    """``42 s``, ``4 min 12 s``, ``1 h 03 min``."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _classes(rows: Sequence[ManifestRow]) -> str:
    real = sum(r.label == Label.REAL for r in rows)
    return f"{len(rows):,} images ({real:,} real, {len(rows) - real:,} ai)"


def plain_plan(cfg: TrainConfig, data: TrainingData, world: int, resuming: bool) -> str:
    """The first line of a single-network run."""
    m, o = cfg.model, cfg.optim
    weights = f"{m.pretrained} weights" if m.pretrained else "from scratch"
    what = f"{m.name} ({weights}{', frozen backbone' if m.freeze_backbone else ''})"
    if data.shards:
        source = f"{data.shard_samples:,} images streamed from {len(data.shards)} shards of {cfg.data.shards}"
    else:
        source = f"{_classes(data.rows)} of {cfg.data.manifest or ', '.join(cfg.data.subsets) or cfg.data.real}"
    held = [f"{name} {len(split):,}" for name, split in (("calibration", data.calibration), ("test", data.test))
            if split is not None]
    split = f" (held out by source folder: {', '.join(held)})" if held else ""
    if o.optimizer == "lbfgs":
        how = f"features of {view_count(cfg.augment)} views per image, then a linear head by L-BFGS"
    else:
        how = f"{o.epochs} epoch{'s' if o.epochs != 1 else ''} of batch {o.batch_size} ({o.optimizer}, lr {o.lr:g})"
    procs = f", {world} processes" if world > 1 else ""
    return f"{'resuming' if resuming else 'training'} {what} on {source}{split}: {how}{procs} -> {cfg.out}"


def fusion_plan(cfg: FusionConfig, rows: Sequence[ManifestRow]) -> str:
    """The first line of a fusion run."""
    low = cfg.lowlevel
    branches = f"semantic {cfg.semantic.model.name} on {view_count(cfg.semantic.augment)} views per image"
    if low.enabled:
        branches += f", low-level {low.model} on {low.views} x {low.tiles_per_view} tiles ({low.epochs} epochs)"
    return (f"training {cfg.checkpoint_name}@{cfg.checkpoint_version} (fusion) on {_classes(rows)} of "
            f"{cfg.data.manifest}: {branches}; each cross-fitted over {cfg.folds} source-grouped folds, then "
            f"refitted on all -> {cfg.out}")


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "n/a"


def _split_metrics(name: str, m: dict[str, Any]) -> str:
    acc = m.get("accuracy", {})
    return (f"{name} AUC {_fmt(m.get('auc'))}, accuracy {_fmt(acc.get('overall'))} at {_fmt(m.get('threshold'))} "
            f"({m.get('n', 0):,} images)")


def summary_line(out: str | Path, seconds: float) -> str:
    """The last line of a run: time, the metrics its checkpoint records, and where it is."""
    config = read_config(out)
    metrics = config.get("metrics", {})
    parts = []
    if "out_of_fold" in metrics:
        m = metrics["out_of_fold"]
        parts.append(_split_metrics("out-of-fold", m))
        if m.get("coverage") is not None and m.get("selective_accuracy") is not None:
            parts.append(f"{m['coverage']:.0%} decided, {m['selective_accuracy']:.0%} of them right")
    for key, name in (("test_split", "test split"), ("calibration_split", "calibration split")):
        if key in metrics:
            parts.append(_split_metrics(name, metrics[key]))
            break
    measured = "; ".join(parts) or "no held-out metrics (calibration off and no test split)"
    return f"trained {config['name']}@{config['version']} in {duration(seconds)}: {measured}; checkpoint: {out}"


__all__ = ["Announce", "Progress", "duration", "fusion_plan", "plain_plan", "summary_line"]
