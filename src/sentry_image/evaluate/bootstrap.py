"""Stratified percentile bootstrap of AUC, AP and accuracy, vectorised over replicates.

A replicate is stored as how many times it draws each image (a weight row), not as a list of drawn indices: the
scores are then sorted once for every replicate, and AUC, AP and accuracy of the weighted set equal those of the
resampled list exactly (ties included), in a few cumulative sums and gathers per block of replicates instead of a
sort per replicate (``benchmarks/bootstrap_speed.py`` times both).

Real and AI images are resampled separately (each replicate keeps both classes, in their original numbers), or,
with ``groups``, whole groups within each class: images of one source are not independent, and resampling them
one by one would make the interval too narrow.

Inputs are taken as already checked (labels 0/1, finite scores, equal lengths): :mod:`.metrics` checks them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
# replicates per block: bounds the weight matrices to about this many cells (8 bytes each), whatever n is
BLOCK_CELLS = 2_000_000


def _class_weights(keys: NDArray[np.int64] | None, size: int, count: int, rng: np.random.Generator) -> Floats:
    """``(count, size)`` multiplicities of one class's ``size`` images: its groups (``keys``, 0..G-1; ``None``:
    each image its own group) drawn with replacement, G draws per replicate, each image weighted by how often its
    group was drawn."""
    n_groups = size if keys is None else int(keys.max()) + 1
    draws = rng.integers(0, n_groups, (count, n_groups))
    offsets = (np.arange(count) * n_groups)[:, None]
    drawn = np.bincount((draws + offsets).ravel(), minlength=count * n_groups).reshape(count, n_groups)
    return (drawn if keys is None else drawn[:, keys]).astype(np.float64)


def class_order(y: NDArray[np.int64], s: Floats) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices of the real and of the AI images, each sorted by score (ascending): the column order of the
    replicate weights, so that no replicate needs sorting again."""
    real, ai = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    return real[np.argsort(s[real], kind="mergesort")], ai[np.argsort(s[ai], kind="mergesort")]


def weight_blocks(y: NDArray[np.int64], s: Floats, replicates: int, seed: int,
                  groups: NDArray[np.int64] | None = None) -> Iterator[tuple[Floats, Floats]]:
    """Blocks of replicate weights ``(real (b, n_real), AI (b, n_ai))``, columns in :func:`class_order`'s order,
    ``replicates`` rows in all. Seeded: the same inputs give the same replicates on every run and machine."""
    rng = np.random.default_rng(seed)
    members = class_order(y, s)
    # each class's groups renumbered 0..G-1, so a group drawn for one class never lends images to the other
    local = [None if groups is None else np.unique(groups[m], return_inverse=True)[1].reshape(-1) for m in members]
    step = max(1, BLOCK_CELLS // max(1, y.size))
    for start in range(0, replicates, step):
        count = min(step, replicates - start)
        real, ai = (_class_weights(k, m.size, count, rng) if m.size else np.zeros((count, 0))
                    for k, m in zip(local, members, strict=True))
        yield real, ai


def weighted_auc_ap(real: Floats, ai: Floats, w_real: Floats, w_ai: Floats) -> tuple[Floats, Floats]:
    """AUC and average precision (AI positive) of each weight row, equal to those of the resampled list.

    ``real``, ``ai``: each class's scores, sorted ascending; ``w_real``, ``w_ai``: ``(b, n)`` weights in that
    order. AUC is the weighted share of (AI, real) pairs the AI image wins, a tie counting half. AP steps over tied
    scores together, as scikit-learn does: each AI image adds its weight's share of recall at the precision of the
    threshold at its own score (every image scoring at least as high, of either class, is called AI).
    """
    b = w_real.shape[0]
    # cumulative weight of the images below each position; a leading 0 column so searchsorted indices work as is
    real_below = np.concatenate([np.zeros((b, 1)), np.cumsum(w_real, axis=1)], axis=1)
    ai_below = np.concatenate([np.zeros((b, 1)), np.cumsum(w_ai, axis=1)], axis=1)
    lo = np.searchsorted(real, ai, side="left")
    hi = np.searchsorted(real, ai, side="right")
    total_real, total_ai = real_below[:, -1], ai_below[:, -1]
    under = real_below[:, lo]
    wins = under + 0.5 * (real_below[:, hi] - under)  # real weight under each AI score, ties half
    auc = np.sum(w_ai * wins, axis=1) / (total_ai * total_real)
    true_pos = total_ai[:, None] - ai_below[:, np.searchsorted(ai, ai, side="left")]  # AI at or above each score
    called = true_pos + total_real[:, None] - under  # every image at or above each AI score
    # an AI image drawn zero times adds no recall; its 0/0 precision must not turn the sum into nan
    precision = np.divide(true_pos, called, out=np.zeros_like(true_pos), where=called > 0)
    ap = np.sum(w_ai * precision, axis=1) / total_ai
    return np.asarray(auc, dtype=np.float64), np.asarray(ap, dtype=np.float64)


def weighted_share(hit: NDArray[np.bool_], w: Floats) -> Floats:
    """Weighted share of ``hit`` per weight row (accuracy when ``hit`` marks the right calls); nan without weight."""
    total = w.sum(axis=1)
    return np.divide(w @ hit.astype(np.float64), total, out=np.full(total.shape, np.nan), where=total > 0)


def percentile(values: Floats, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of replicate values (nan replicates ignored)."""
    tail = (1.0 - level) / 2.0
    low, high = np.nanquantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def replicate_metrics(y: NDArray[np.int64], s: Floats, *, replicates: int, seed: int, threshold: float | None = None,
                      groups: NDArray[np.int64] | None = None) -> dict[str, Floats]:
    """Per replicate: ``auc`` and ``ap`` (when both classes are present) and, with a ``threshold`` on ``s``,
    ``accuracy``, ``accuracy_real`` and ``accuracy_ai`` (a class that is absent gives nan)."""
    real, ai = class_order(y, s)
    both = bool(real.size and ai.size)
    hit_real = s[real] < threshold if threshold is not None else None
    hit_ai = s[ai] >= threshold if threshold is not None else None
    parts: dict[str, list[Floats]] = {}
    for w_real, w_ai in weight_blocks(y, s, replicates, seed, groups):
        block: dict[str, Floats] = {}
        if both:
            block["auc"], block["ap"] = weighted_auc_ap(s[real], s[ai], w_real, w_ai)
        if hit_real is not None and hit_ai is not None:
            right = w_real @ hit_real.astype(np.float64) + w_ai @ hit_ai.astype(np.float64)
            block.update(accuracy=right / (w_real.sum(axis=1) + w_ai.sum(axis=1)),
                         accuracy_real=weighted_share(hit_real, w_real), accuracy_ai=weighted_share(hit_ai, w_ai))
        for name, values in block.items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


__all__ = ["class_order", "percentile", "replicate_metrics", "weight_blocks", "weighted_auc_ap", "weighted_share"]
