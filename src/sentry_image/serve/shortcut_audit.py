"""Shortcut audit of a benchmark: how well file facts alone (format, size, dimensions, bytes per pixel, metadata
presence) predict the hidden labels.

A benchmark whose real photos are JPEGs and whose AI images are PNGs is scored by the file extension; one whose AI
images are 512 px squares by the image size. A detector may learn such shortcuts from its training data without
anyone noticing, and the leaderboard would then rank the shortcut, not the detector. The audit puts a number on it.

The model is deliberately small and fitted with numpy alone (the service must not need scikit-learn): an
L2-penalised logistic regression on standardised features, cross-validated (stratified 5-fold, repeated 5 times
with fixed seeds; the AUC of each held-out fold, averaged), once on every feature and once per feature group. The
audit figure is the best of those cross-validated AUCs, read as "the strongest shortcut found"; since a shortcut
counts in either direction only through the fit on the training folds, an uninformative feature scores about 0.5.
Its 95 % interval is a stratified bootstrap of the images.

Taking the best of six figures on a few dozen images overstates chance: on 24 images with random file facts the
figure exceeds 0.75 one time in ten, on 12 images one time in four. So a figure over the limit is also put to a
permutation test (the whole audit statistic recomputed on shuffled labels, best-of-six included), and only a
figure that beats every one of 99 shuffles (p = 0.01) counts as a shortcut: chance then refuses at most one
honest benchmark in a hundred, whatever its size. From about 80 images on, chance alone stays under 0.7 and the
test only confirms what the figure says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FOLDS = 5
REPEATS = 5
BOOTSTRAP = 1000
PERMUTATIONS = 99  # p-values in steps of 0.01; run only for figures over the limit (the statistic is cheap)
ALPHA = 0.01  # with 99 shuffles: the observed figure must beat all of them
RIDGE = 1.0  # on standardised features: enough to keep separable folds finite, small enough not to hide a leak
SEED = 20260101  # fixed: the same files always get the same audit


@dataclass(frozen=True)
class FileFacts:
    """What the audit knows of one file, none of it about its pixels' content."""

    format: str
    bytes: int
    width: int
    height: int
    metadata: bool  # any metadata block (EXIF, XMP, ICC, text chunks, C2PA, ...) in the file
    generator_metadata: bool = False  # the provenance reader's strong AI evidence or a C2PA store (reported only)


def feature_groups(facts: list[FileFacts]) -> dict[str, np.ndarray]:
    """One ``n x k`` matrix per group. Dimensions get indicator columns too: AI images come as exact squares with
    sides that are multiples of 64, which a linear model on log sizes alone would miss."""
    formats = sorted({f.format for f in facts})
    width = np.array([f.width for f in facts], dtype=float)
    height = np.array([f.height for f in facts], dtype=float)
    size = np.array([f.bytes for f in facts], dtype=float)
    dims = np.column_stack([
        np.log(width), np.log(height), np.abs(np.log(width / height)), width == height,
        (width % 64 == 0) & (height % 64 == 0)])
    return {
        "format": np.array([[f.format == name for name in formats] for f in facts], dtype=float),
        "file_size": np.log(size)[:, None],
        "width_height": dims.astype(float),
        "bytes_per_pixel": np.log(size / (width * height))[:, None],
        "metadata": np.array([[f.metadata] for f in facts], dtype=float),
    }


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) statistic, ties counted half."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties: each tied run gets the mean of the positions it spans.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ridge logistic regression by Newton's method; column 0 of ``x`` is the (unpenalised) intercept."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], RIDGE)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def _folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per image, each class spread evenly over the folds."""
    fold = np.empty(len(y), dtype=int)
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        fold[idx] = np.arange(len(idx)) % k
    return fold


def out_of_fold(x: np.ndarray, y: np.ndarray, k: int = FOLDS, repeats: int = REPEATS
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each image's score from models that never saw it, and its fold, for ``repeats`` fold assignments
    (two ``repeats x n`` arrays)."""
    rng = np.random.default_rng(SEED)
    scores, folds = np.zeros((repeats, len(y))), np.zeros((repeats, len(y)), dtype=int)
    for r in range(repeats):
        folds[r] = _folds(y, k, rng)
        for f in range(k):
            train, test = folds[r] != f, folds[r] == f
            mean, std = x[train].mean(axis=0), x[train].std(axis=0)
            std[std == 0] = 1.0  # a constant column carries nothing; it stays at zero after centring
            design = np.column_stack([np.ones(len(y)), (x - mean) / std])
            w = _fit(design[train], y[train].astype(float))
            scores[r, test] = design[test] @ w
    return scores, folds


def cv_auc(y: np.ndarray, scores: np.ndarray, folds: np.ndarray, sample: np.ndarray | None = None) -> float:
    """The mean over repeats and folds of each fold's AUC on its own held-out images (``sample``: a resample of
    the image indices). Each fold is ranked on its own: scores of different folds come from different fits, whose
    offsets are anti-correlated with the held-out labels, so pooling them would bias the AUC down (a clean 0.85
    metadata shortcut pooled to 0.73)."""
    idx = np.arange(len(y)) if sample is None else sample
    values = []
    for r in range(scores.shape[0]):
        fold_of = folds[r, idx]
        for f in np.unique(fold_of):
            part = idx[fold_of == f]
            if 0 < y[part].sum() < len(part):
                values.append(auc(y[part], scores[r, part]))
    return float(np.mean(values)) if values else 0.5


def _weighted_auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of the AUC of one fold under each row of ``weights`` (how many times each image
    was drawn): the rank-sum by cumulative sums over the distinct scores, ties half, O(draws x images)."""
    order = np.argsort(scores, kind="mergesort")
    ranked, truth, w = scores[order], y[order], weights[:, order]
    starts = np.r_[0, np.flatnonzero(np.diff(ranked)) + 1]
    pos = np.add.reduceat(w * truth, starts, axis=1)
    neg = np.add.reduceat(w * (1 - truth), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    return (pos * (below + 0.5 * neg)).sum(axis=1), pos.sum(axis=1) * neg.sum(axis=1)


def bootstrap_ci(y: np.ndarray, scores: np.ndarray, folds: np.ndarray, n: int = BOOTSTRAP) -> tuple[float, float]:
    """Percentile 95 % interval of :func:`cv_auc` over stratified resamples of the images (fits held fixed: it
    covers which images the benchmark happens to hold, not how the fits would vary)."""
    rng = np.random.default_rng(SEED + 1)
    weights = np.zeros((n, len(y)), dtype=np.int32)  # draws x images: 40 MB for 10,000 images
    for cls in (0, 1):
        members = np.flatnonzero(y == cls)
        weights[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n)
    total, count = np.zeros(n), np.zeros(n)
    for r in range(scores.shape[0]):
        for f in np.unique(folds[r]):
            part = np.flatnonzero(folds[r] == f)
            num, den = _weighted_auc(y[part], scores[r, part], weights[:, part])
            valid = den > 0  # a draw that left this fold without one class says nothing about it
            total[valid] += num[valid] / den[valid]
            count += valid
    values = np.where(count > 0, total / np.maximum(count, 1), 0.5)
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _aucs(groups: dict[str, np.ndarray], y: np.ndarray, k: int
          ) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    fits = {name: out_of_fold(x, y, k) for name, x in groups.items()}
    fits["all"] = out_of_fold(np.column_stack(list(groups.values())), y, k)
    return {name: cv_auc(y, *fit) for name, fit in fits.items()}, fits


def permutation_p(groups: dict[str, np.ndarray], y: np.ndarray, k: int, observed: float,
                  n: int = PERMUTATIONS) -> float:
    """How often shuffled labels give an audit figure at least ``observed`` (the observed labels counted in)."""
    rng = np.random.default_rng(SEED + 2)
    hits = sum(max(_aucs(groups, rng.permutation(y), k)[0].values()) >= observed - 1e-12 for _ in range(n))
    return (1 + hits) / (1 + n)


def audit(facts: list[FileFacts], labels: list[int], *, limit: float | None = None,
          digits: int = 3) -> dict[str, Any]:
    """The audit of one benchmark's files: figure, interval, per-group AUCs and the counts behind them; with a
    ``limit``, a figure over it gets its permutation p-value (``p_value``, else None)."""
    y = np.asarray(labels, dtype=int)
    counts = [int((y == 0).sum()), int((y == 1).sum())]
    formats: dict[str, list[int]] = {}
    for fact, label in zip(facts, labels, strict=True):
        formats.setdefault(fact.format, [0, 0])[label] += 1
    report: dict[str, Any] = {
        "n": {"real": counts[0], "ai": counts[1]}, "formats": formats,
        "metadata_files": {"real": sum(f.metadata for f, v in zip(facts, labels, strict=True) if v == 0),
                           "ai": sum(f.metadata for f, v in zip(facts, labels, strict=True) if v == 1)},
        "generator_metadata_files": sum(f.generator_metadata for f in facts)}
    k = min(FOLDS, *counts)
    if k < 2:  # a class of one image cannot be cross-validated: nothing to measure, nothing to refuse
        return {**report, "auc": None, "ci95": None, "p_value": None, "strongest": None, "features": {}}
    groups = feature_groups(facts)
    aucs, fits = _aucs(groups, y, k)
    strongest = max(aucs, key=lambda name: (aucs[name], name == "all"))
    lo, hi = bootstrap_ci(y, *fits[strongest])
    p_value = None
    if limit is not None and aucs[strongest] > limit:
        p_value = permutation_p(groups, y, k, aucs[strongest])
    return {**report, "auc": round(aucs[strongest], digits), "ci95": [round(lo, digits), round(hi, digits)],
            "p_value": p_value, "strongest": strongest,
            "features": {name: round(v, digits) for name, v in aucs.items()}}


def leading_features(report: dict[str, Any], floor: float = 0.6) -> list[str]:
    """The feature groups that predict the labels on their own (AUC >= ``floor``), strongest first."""
    groups = {k: v for k, v in report.get("features", {}).items() if k != "all" and v >= floor}
    return sorted(groups, key=lambda k: -groups[k])


def registration_audit(uploaded: list[FileFacts], served: list[FileFacts], labels: list[int], *, limit: float,
                       normalise: str, force: bool) -> dict[str, Any]:
    """What a benchmark stores and its admin sees: the audit of the files as served (the one the limit applies
    to) and as uploaded (what stripping or re-encoding bought), the limit and the admin's choices."""
    record: dict[str, Any] = {"served": audit(served, labels, limit=limit), "uploaded": audit(uploaded, labels),
                              "limit": limit, "normalise": normalise, "forced": force}
    p_value = record["served"]["p_value"]
    record["passed"] = p_value is None or p_value > ALPHA  # None: at or under the limit, or nothing to measure
    return record


def refusal_message(record: dict[str, Any]) -> str:
    """Why a registration is refused: the figure, its interval, the features behind it, and the ways out."""
    served, uploaded = record["served"], record["uploaded"]
    lo, hi = served["ci95"]
    named = leading_features(served) or [served["strongest"]]
    features = ", ".join(f"{name} {served['features'][name]:.2f}" for name in named)
    return (f"shortcut audit: file facts alone predict the labels at AUC {served['auc']:.3f} (95% CI {lo:.2f}-"
            f"{hi:.2f}, permutation p={served['p_value']:.2f}; as uploaded {uploaded['auc']:.3f}), over the limit "
            f"{record['limit']:.2f}; features: "
            f"{features}. Register again with normalise=jpeg to re-encode every image alike, or force=true to "
            "accept the benchmark as it is")


__all__ = [
    "FileFacts",
    "auc",
    "audit",
    "bootstrap_ci",
    "cv_auc",
    "feature_groups",
    "leading_features",
    "out_of_fold",
    "permutation_p",
    "refusal_message",
    "registration_audit",
]
