"""Speed of the report's bootstrap intervals: replicate weights in matrix blocks against a loop over replicates.

The baseline is the textbook loop (draw indices per class, compute AUC, AP and accuracy of the resampled list, one
replicate at a time); the vectorised path is :func:`sentry_image.evaluate.bootstrap.replicate_metrics`. Both run
here, on the same scores, in one process; the figures are wall times (median of ``--repeats``) and their ratio, and
the two intervals, which differ only by the random draws.

Usage: python benchmarks/bootstrap_speed.py [--n-real 2000] [--n-ai 1000] [--replicates 1000] [--repeats 3]
Runs on the core install (numpy only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from sentry_image.evaluate.bootstrap import percentile, replicate_metrics
from sentry_image.evaluate.metrics import accuracy_at, auc, average_precision


def naive(y: np.ndarray, s: np.ndarray, replicates: int, seed: int, threshold: float) -> dict[str, np.ndarray]:
    """One replicate at a time: resample each class's indices, then score the resampled list."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(y == label) for label in (0, 1)]
    out: dict[str, list[float]] = {"auc": [], "ap": [], "accuracy": []}
    for _ in range(replicates):
        idx = np.concatenate([m[rng.integers(0, m.size, m.size)] for m in members])
        out["auc"].append(auc(y[idx], s[idx]))
        out["ap"].append(average_precision(y[idx], s[idx]))
        out["accuracy"].append(accuracy_at(y[idx], s[idx], threshold)["overall"])
    return {k: np.asarray(v) for k, v in out.items()}


def timed(call: Callable[[], dict[str, np.ndarray]], repeats: int) -> tuple[float, dict[str, np.ndarray]]:
    times, result = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-real", type=int, default=2000)
    parser.add_argument("--n-ai", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [args.n_real, args.n_ai]).astype(np.int64)
    s = 1.0 / (1.0 + np.exp(-(rng.normal(size=y.size) + 1.2 * y)))
    s = np.round(s, 3)  # ties, as calibrated probabilities have
    fast_s, fast = timed(lambda: replicate_metrics(y, s, replicates=args.replicates, seed=0, threshold=0.5),
                         args.repeats)
    slow_s, slow = timed(lambda: naive(y, s, args.replicates, 0, 0.5), args.repeats)
    print(f"{y.size} scores ({args.n_real} real, {args.n_ai} AI), {args.replicates} replicates, AUC + AP + accuracy")
    print(f"  loop over replicates : {slow_s:8.3f} s")
    print(f"  vectorised (blocks)  : {fast_s:8.3f} s   ratio {slow_s / fast_s:.1f}x faster")
    for name in ("auc", "ap", "accuracy"):
        lo_f, hi_f = percentile(fast[name], 0.95)
        lo_s, hi_s = percentile(slow[name], 0.95)
        print(f"  95% interval {name:8s}: vectorised [{lo_f:.3f}, {hi_f:.3f}]  loop [{lo_s:.3f}, {hi_s:.3f}]")
    auc_s, _ = timed(lambda: replicate_metrics(y, s, replicates=args.replicates, seed=0), args.repeats)
    print(f"  AUC + AP only (no threshold), vectorised: {auc_s:.3f} s")


if __name__ == "__main__":
    main()
