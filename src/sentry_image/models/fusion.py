"""A fusion checkpoint: several branch checkpoints in sub-folders and a linear stacker over their logits.

The folder is self-describing like any checkpoint: its ``config.json`` has ``architecture: fusion``, the branches
(each a complete checkpoint folder of its own, with its ONNX graph, torch weights and preprocessing), the stacker's
weights and bias, and the calibration of the stacked logit::

    {"architecture": "fusion",
     "branches": [{"name": "semantic", "folder": "semantic", "weight": 0.8},
                  {"name": "lowlevel", "folder": "lowlevel", "weight": 0.6}],
     "stacker": {"bias": -0.3, "regions": "lowlevel"},
     "preprocessing": {"semantic": {...}, "lowlevel": {...}}, "calibration": {...}, ...}

Each branch keeps its own preprocessing (the semantic branch resizes, the low-level branch reads native tiles), so
a branch runs exactly as it was trained and exported, and is parity-tested as one. The stacked logit is
``bias + sum(weight * branch logit)`` of the branches' raw logits. The ``regions`` branch (one scoring several
regions per image) makes the map: a region's logit is the stacked logit with that branch's image logit replaced
by the region's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .calibration import Calibration
from .runtime import CheckpointError, LoadedModel, RegionLogits, Scored, Scorer

ARCHITECTURE = "fusion"


class FusedScorer:
    """Branch scorers combined by a linear stacker (see the module docstring)."""

    def __init__(self, branches: dict[str, Scorer], weights: dict[str, float], bias: float,
                 regions: str | None = None) -> None:
        if set(weights) != set(branches):
            raise ValueError(f"stacker weights {sorted(weights)} do not match the branches {sorted(branches)}")
        if regions is not None and regions not in branches:
            raise ValueError(f"regions branch {regions!r} is not one of {sorted(branches)}")
        self.branches, self.weights, self.bias, self.region_branch = branches, weights, float(bias), regions
        sides = [b.reduce_to for b in branches.values()]
        # a reduced decode is allowed only if every branch resizes, and only as far as the largest side asks
        self.reduce_to = None if any(s is None for s in sides) else max(s for s in sides if s is not None)

    def prepare(self, image: Image.Image) -> dict[str, Any]:
        return {name: branch.prepare(image) for name, branch in self.branches.items()}

    def score(self, prepared: Sequence[dict[str, Any]]) -> Scored:
        if not prepared:
            return Scored(np.zeros(0, dtype=np.float64), [])
        parts = {name: branch.score([p[name] for p in prepared]) for name, branch in self.branches.items()}
        logits = np.full(len(prepared), self.bias, dtype=np.float64)
        for name, scored in parts.items():
            logits += self.weights[name] * scored.logits
        regions: list[RegionLogits | None] = [None] * len(prepared)
        if self.region_branch is not None:
            w = self.weights[self.region_branch]
            own = parts[self.region_branch]
            for i, found in enumerate(own.regions):
                if found is not None:
                    rest = logits[i] - w * own.logits[i]
                    regions[i] = RegionLogits(found.boxes, rest + w * found.logits)
        return Scored(logits, regions)


def set_tiles(model: LoadedModel, tiles: int) -> None:
    """Score ``tiles`` native tiles per image (a square grid: 4, 9, 16, 36, ...) in the model's tiling branch (the
    fusion's regions branch, or a single network that reads native crops): the speed knob for large photos."""
    scorer = model.scorer
    if isinstance(scorer, FusedScorer) and scorer.region_branch is not None:
        scorer = scorer.branches[scorer.region_branch]
    runner = getattr(scorer, "runner", None)
    if runner is None or runner.preprocess_cfg.resize_short is not None:
        raise ValueError(f"{model.id} has no branch that reads native tiles")
    if tiles < 1:
        raise ValueError(f"tiles must be >= 1, got {tiles}")
    runner.preprocess_cfg = replace(runner.preprocess_cfg, num_crops=tiles)


def branch_specs(config: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The checked ``branches`` list of a fusion config."""
    specs = config.get("branches")
    if not isinstance(specs, list) or not specs:
        raise CheckpointError(f"{where}: a fusion config needs a non-empty 'branches' list")
    for spec in specs:
        if not isinstance(spec, dict) or not {"name", "folder", "weight"} <= set(spec):
            raise CheckpointError(f"{where}: each branch needs name, folder and weight (got {spec!r})")
        if Path(str(spec["folder"])).is_absolute() or ".." in Path(str(spec["folder"])).parts:
            raise CheckpointError(f"{where}: branch folder {spec['folder']!r} must lie inside the checkpoint")
    return specs


def load_fused(folder: Path, config: dict[str, Any], calibration: Calibration,
               load_branch: Callable[[Path], LoadedModel]) -> LoadedModel:
    """A fusion checkpoint ready for inference; ``load_branch`` loads one branch folder (on the chosen backend)."""
    specs = branch_specs(config, str(folder))
    loaded = {str(s["name"]): load_branch(folder / str(s["folder"])) for s in specs}
    stacker = config.get("stacker") or {}
    try:
        scorer = FusedScorer({n: m.scorer for n, m in loaded.items()},
                             {str(s["name"]): float(s["weight"]) for s in specs}, float(stacker.get("bias", 0.0)),
                             stacker.get("regions"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}: bad stacker ({exc})") from None
    backends = sorted({m.backend for m in loaded.values()})
    return LoadedModel(None, calibration, config, "+".join(backends), str(folder), scorer=scorer)


__all__ = ["ARCHITECTURE", "FusedScorer", "branch_specs", "load_fused", "set_tiles"]
