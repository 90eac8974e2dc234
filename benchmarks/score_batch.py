"""score-batch against plain detect on the same images, and score-batch's memory as the input grows.

Prints, in one run on one machine:

  * plain ``sentry-image detect`` (one process) on the first ``--small`` images: images/s and peak RSS,
  * ``score-batch`` (local Ray, ``--workers`` actors) on the same images: images/s (Ray's start-up included)
    and the ratio to detect, and each worker's peak RSS,
  * ``score-batch`` on all ``--n`` images: images/s and each worker's peak RSS, which should stay flat
    (each actor holds one batch at a time; nothing grows with the input).

Usage: python benchmarks/score_batch.py [--data ../shared/data] [--n 10000] [--small 2000] [--workers 2]
       [--backend auto|onnx|torch] [--batch-size 32]
The images are symbolic links to the shared real and AI images, repeated under distinct names to reach N.
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sentry_image.scale.ray_batch import ScoreOptions, ScoreSummary, score_batch_run

EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".avif", ".gif"}


def link_folder(data: Path, folder: Path, n: int) -> Path:
    """``n`` symbolic links named ``000000-<name>`` to the shared images, cycling through them."""
    sources = sorted(p for sub in ("real", "ai") for p in (data / sub).rglob("*") if p.suffix.lower() in EXTS)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = sources[i % len(sources)].resolve()
        (folder / f"{i:06d}-{src.name}").symlink_to(src)
    return folder


def plain_detect(folder: Path, batch_size: int, backend: str) -> tuple[float, float]:
    """Images/s and peak RSS (MB) of ``sentry-image detect`` on ``folder`` in a child process."""
    cmd = [sys.executable, "-m", "sentry_image.cli", "detect", str(folder), "--format", "jsonl", "--no-progress",
           "--batch-size", str(batch_size), "--backend", backend]
    start = time.perf_counter()
    lines = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.count("\n")
    seconds = time.perf_counter() - start
    return lines / seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_score_batch(folder: Path, out: Path, args: argparse.Namespace) -> ScoreSummary:
    options = ScoreOptions(backend=args.backend, workers=args.workers, batch_size=args.batch_size)
    return score_batch_run(folder, out, options)


def describe(label: str, s: ScoreSummary) -> str:
    workers = ", ".join(f"{rss:.0f}" for rss in sorted(s.worker_peak_rss_mb.values()))
    return (f"{label}: {s.total_rows} rows ({s.failed} errors) in {s.seconds:.1f} s = {s.images_per_second:.2f} "
            f"images/s; worker peak RSS MB: {workers}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    ap.add_argument("--skip-detect", action="store_true", help="only the score-batch runs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="sentry-bench-") as tmp:
        root = Path(tmp)
        small = link_folder(args.data, root / "small", args.small)
        print(f"{args.small} and {args.n} linked images; backend {args.backend}, batch {args.batch_size}, "
              f"{args.workers} score-batch workers", flush=True)
        detect_rate = None
        if not args.skip_detect:
            detect_rate, detect_rss = plain_detect(small, args.batch_size, args.backend)
            print(f"detect, {args.small} images: {detect_rate:.2f} images/s; peak RSS {detect_rss:.0f} MB", flush=True)
        s_small = run_score_batch(small, root / "out-small", args)
        ratio = "" if detect_rate is None else f" ({s_small.images_per_second / detect_rate:.2f} x detect)"
        print(describe(f"score-batch, {args.small} images", s_small) + ratio, flush=True)
        large = link_folder(args.data, root / "large", args.n)
        s_large = run_score_batch(large, root / "out-large", args)
        print(describe(f"score-batch, {args.n} images", s_large), flush=True)
        grow = max(s_large.worker_peak_rss_mb.values()) / max(s_small.worker_peak_rss_mb.values())
        print(f"worker peak RSS, {args.n} vs {args.small} images: {grow:.2f} x", flush=True)


if __name__ == "__main__":
    main()
