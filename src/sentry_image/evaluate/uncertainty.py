"""How sure a report's figures are: bootstrap intervals per cell, and cells with too few images to read.

A cell (one subset under one condition) gets ``ci``: 95 % percentile bootstrap intervals of its AUC, AP and
accuracies, resampling real and AI images separately with a fixed seed (the same report gives the same intervals on
every run); and ``small``: true when it holds fewer than ``min_per_class`` real or AI images. A small cell stays in
every table, marked, and is left out of the heatmaps, where a colour would read as a finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .bootstrap import percentile, replicate_metrics

# the interval keys of a cell's ``ci``, in the order tables show them
INTERVALS = ("auc", "ap", "accuracy", "accuracy_real", "accuracy_ai")
METHOD = "percentile bootstrap, real and AI images resampled separately"


@dataclass(frozen=True)
class IntervalConfig:
    """How a report's intervals are computed and when a cell is too small to read; recorded in the report.

    Attributes:
        replicates: bootstrap replicates per cell (0: no intervals).
        level: coverage of each interval (0.95: the 2.5th to 97.5th percentile of the replicates).
        seed: of the resampling; fixed so that a report's intervals are reproducible.
        min_per_class: a cell with fewer real or fewer AI images than this is flagged ``small``.
    """

    replicates: int = 1000
    level: float = 0.95
    seed: int = 0
    min_per_class: int = 30

    def __post_init__(self) -> None:
        if self.replicates < 0 or not 0.0 < self.level < 1.0 or self.min_per_class < 0:
            raise ValueError(f"intervals: need replicates >= 0, 0 < level < 1 and min_per_class >= 0, got "
                             f"{self.replicates}, {self.level}, {self.min_per_class}")

    def record(self) -> dict[str, Any]:
        """What the report stores (``uncertainty``), with the method in words."""
        return {"method": METHOD, **asdict(self)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IntervalConfig:
        return cls(**{k: record[k] for k in cls.__dataclass_fields__ if k in record})


def is_small(n_real: int, n_ai: int, min_per_class: int) -> bool:
    """Whether a cell holds too few images of either class to read its metrics."""
    return min(n_real, n_ai) < min_per_class


def small_note(cell: Mapping[str, Any], min_per_class: int) -> str:
    """``n too small: 4 AI`` (the classes under ``min_per_class``), or ``""`` for a cell large enough."""
    short = [f"{cell[key]} {name}" for key, name in (("n_real", "real"), ("n_ai", "AI"))
             if cell[key] < min_per_class]
    return f"n too small: {', '.join(short)}" if short else ""


def cell_intervals(y: ArrayLike, p: ArrayLike, threshold: float, cfg: IntervalConfig) -> dict[str, list[float]]:
    """``{metric: [low, high]}`` for the metrics of :data:`INTERVALS` defined on these images (AUC and AP need
    both classes; each class accuracy needs its class)."""
    yt = np.asarray(y, dtype=np.int64).reshape(-1)
    pt = np.asarray(p, dtype=np.float64).reshape(-1)
    if cfg.replicates == 0 or yt.size == 0:
        return {}
    values = replicate_metrics(yt, pt, replicates=cfg.replicates, seed=cfg.seed, threshold=threshold)
    out = {}
    for name in INTERVALS:
        if name in values and not np.isnan(values[name]).all():
            low, high = percentile(values[name], cfg.level)
            # rounded outwards: a shorter JSON, and an interval that still holds what it held
            out[name] = [float(np.floor(low * 1e4) / 1e4), float(np.ceil(high * 1e4) / 1e4)]
    return out


def annotate(cell: dict[str, Any], y: ArrayLike, p: ArrayLike, threshold: float, cfg: IntervalConfig) -> dict[str, Any]:
    """Add ``ci`` and ``small`` to a metrics summary of these images (in place; returned for chaining)."""
    cell["ci"] = cell_intervals(y, p, threshold, cfg)
    cell["small"] = is_small(int(cell["n_real"]), int(cell["n_ai"]), cfg.min_per_class)
    return cell


def interval_text(value: Any, interval: Any) -> str:
    """``0.862 [0.801, 0.918]`` (3 decimals); the bare value without an interval; ``n/a`` without a value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    text = f"{value:.3f}"
    return text + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


__all__ = ["INTERVALS", "METHOD", "IntervalConfig", "annotate", "cell_intervals", "interval_text", "is_small",
           "small_note"]
