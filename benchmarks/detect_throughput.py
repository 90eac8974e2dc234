"""Detect throughput, per stage and whole, as ratios measured in one process on the same images; cold start; memory.

Prints:
  * per stage, one image at a time (ms per image: mean, median, p95, share of the total): read + decode, each
    provenance reader (C2PA, watermark, metadata), the model's preprocessing, the forward pass (batch 1);
  * images/s of decode + the model's preparation only (the floor any detector pays: the baseline), of the default
    ``detect`` path (``Detector.detect_many``: decode threads ahead of batched inference), and their ratio
    (goal: >= 0.5);
  * cold start: ``sentry-image detect`` of one image against bare ``python -c pass`` (median of runs);
  * with ``--n N``: peak RSS while ``detect`` walks a folder of N files (links to the images), sampled along the
    way to show it stays flat.

Usage: python benchmarks/detect_throughput.py [--data ../shared/data] [--model default] [--n 10000]
Runs on the core install (no torch).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentry_image import load_detector
from sentry_image.imaging import ImageError, load_image
from sentry_image.imaging.inputs import is_image_name, iter_inputs
from sentry_image.imaging.memory import limit_malloc_arenas
from sentry_image.provenance.c2pa import read_c2pa
from sentry_image.provenance.metadata import read_metadata
from sentry_image.provenance.watermark import read_watermark


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def source_images(data: Path) -> list[Path]:
    return sorted(p for sub in ("real", "ai") for p in (data / sub).rglob("*") if is_image_name(p))


def stage_table(paths: list[Path], detector: Any) -> dict[str, list[float]]:
    """Seconds per image of every stage, one image at a time (what each would cost alone)."""
    scorer = detector.model.scorer
    stages: dict[str, list[float]] = {k: [] for k in ("read + decode", "provenance: c2pa", "provenance: watermark",
                                                        "provenance: metadata", "preprocess", "forward (batch 1)")}

    def clock(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        stages[name].append(time.perf_counter() - t0)
        return out

    for path in paths:
        try:
            decoded = clock("read + decode", lambda p=path: load_image(p))
        except ImageError:
            continue
        clock("provenance: c2pa", lambda d=decoded: read_c2pa(d.data, d.info.format))
        clock("provenance: watermark", lambda d=decoded: read_watermark(d.original, d.info.jpeg_quality))
        clock("provenance: metadata", lambda d=decoded: read_metadata(d.original, d.data))
        prepared = clock("preprocess", lambda d=decoded: scorer.prepare(d.rgb))
        clock("forward (batch 1)", lambda x=prepared: scorer.score([x]))
    return stages


def print_stages(stages: dict[str, list[float]]) -> None:
    total = sum(sum(v) for v in stages.values())
    print(f"{'stage':24s} {'mean ms':>8s} {'median':>8s} {'p95':>8s} {'share':>7s}")
    for name, times in stages.items():
        ordered = sorted(times)
        print(f"{name:24s} {1000 * statistics.fmean(times):8.2f} {1000 * statistics.median(times):8.2f} "
              f"{1000 * ordered[int(0.95 * (len(ordered) - 1))]:8.2f} {sum(times) / total:7.1%}")


def rate(fn: Callable[[list[Path]], int], paths: list[Path]) -> float:
    t0 = time.perf_counter()
    n = fn(paths)
    return n / (time.perf_counter() - t0)


def cold_start(image: Path, model: str | None, runs: int) -> tuple[float, float]:
    """Median wall seconds of bare Python start-up and of ``sentry-image detect IMAGE`` in a fresh process."""
    cli = [sys.executable, "-m", "sentry_image.cli", "detect", str(image), "--format", "jsonl"]
    cli += ["--model", model] if model else []

    def wall(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0

    bare = statistics.median(wall([sys.executable, "-c", "pass"]) for _ in range(runs))
    detect = statistics.median(wall(cli) for _ in range(runs))
    return bare, detect


def memory_run(detector: Any, images: list[Path], n: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(n):
            src = images[i % len(images)]
            os.symlink(src.resolve(), folder / f"{i:06d}{src.suffix.lower()}")
        marks = {n // 10, n // 4, n // 2, 3 * n // 4, n}
        start_rss = rss_mb()
        t0, seen, failed = time.perf_counter(), 0, 0
        for v in detector.detect_many(iter_inputs([folder]), batch_size=batch_size):
            seen += 1
            failed += not v.ok
            if seen in marks:
                print(f"  after {seen:6d} files: peak RSS {rss_mb():7.0f} MB")
        dt = time.perf_counter() - t0
        print(f"folder of {n}: {seen} rows ({failed} errors) in {dt:.0f} s = {seen / dt:.1f} images/s; "
              f"peak RSS {rss_mb():.0f} MB (before the run {start_rss:.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=0, help="files in the memory run (0: skip it)")
    args = ap.parse_args()
    limit_malloc_arenas()  # as `sentry-image detect` does

    images = source_images(args.data)
    if not images:
        raise SystemExit(f"no images under {args.data}")
    detector = load_detector(args.model)
    scorer = detector.model.scorer
    print(f"model {detector.name} on {detector.backend}; {len(images)} images; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")

    def decode_resize(paths: list[Path]) -> int:
        n = 0
        for p in paths:
            try:
                scorer.prepare(load_image(p).rgb)
                n += 1
            except ImageError:
                pass
        return n

    def full(paths: list[Path]) -> int:
        return sum(1 for _ in detector.detect_many(paths, batch_size=args.batch_size))

    decode_resize(images[:16])  # warm-up: imports, allocator, thread pools, the session's first run
    full(images[:16])
    print_stages(stage_table(images, detector))
    base = rate(decode_resize, images)
    whole = rate(full, images)
    print(f"\ndecode + resize only (baseline): {base:7.1f} images/s")
    print(f"detect (default path)          : {whole:7.1f} images/s   ratio detect/baseline = {whole / base:.2f} "
          "(goal >= 0.5)")
    bare, cold = cold_start(images[0], args.model, args.cold_runs)
    print(f"\ncold start: python -c pass {bare:.2f} s; sentry-image detect of one image {cold:.2f} s "
          f"({cold - bare:.2f} s above bare start-up)")
    if args.n:
        print()
        memory_run(detector, images, args.n, args.batch_size)


if __name__ == "__main__":
    main()
