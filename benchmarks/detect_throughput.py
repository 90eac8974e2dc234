"""Detect throughput and memory, as ratios measured in one process on the same images.

Prints:
  * images/s for decode + the model's preprocessing only (the floor any detector pays),
  * images/s for full detect (decode, provenance, preprocessing, model, calibration), and full/decode ratio
    (goal: >= 0.5),
  * the default model's forward cost against a ResNet-50 forward at 224 px (CNNSpot's cost),
  * peak RSS while scoring a folder of N images (default 2,000), sampled along the way to show it stays flat.

Usage: python benchmarks/detect_throughput.py [--data ../shared/data] [--n 2000] [--model default]
Images come from the data folder (real/ and ai/) and are linked repeatedly into a temporary folder to reach N.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from sentry_image import load_detector
from sentry_image.imaging import load_image
from sentry_image.inputs import iter_inputs
from sentry_image.models import preprocess

EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".avif", ".gif"}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def source_images(data: Path) -> list[Path]:
    return sorted(p for sub in ("real", "ai") for p in (data / sub).rglob("*") if p.suffix.lower() in EXTS)


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--n", type=int, default=2000, help="images in the memory run")
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    images = source_images(args.data)
    if not images:
        raise SystemExit(f"no images under {args.data}")
    detector = load_detector(args.model)
    cfg = detector.model.preprocess_cfg
    print(f"model {detector.name}; {len(images)} distinct images; torch threads {torch.get_num_threads()}")

    def decode_only(paths: list[Path]) -> None:
        for p in paths:
            with contextlib.suppress(Exception):
                preprocess(load_image(p).rgb, cfg)

    def full(paths: list[Path]) -> None:
        for _ in detector.detect_many(paths, batch_size=args.batch_size):
            pass

    decode_only(images[:8])  # warm-up: imports, allocator, thread pools
    full(images[:8])
    t_dec = timed(decode_only, images)
    t_full = timed(full, images)
    dec_ips, full_ips = len(images) / t_dec, len(images) / t_full
    print(f"decode+preprocess only : {dec_ips:7.1f} images/s")
    print(f"full detect            : {full_ips:7.1f} images/s   "
          f"ratio full/decode = {full_ips / dec_ips:.2f} (goal >= 0.5)")

    import timm

    resnet = timm.create_model("resnet50", pretrained=False, num_classes=1).eval()
    x = torch.randn(args.batch_size, 3, cfg.crop_size, cfg.crop_size)
    x224 = torch.randn(args.batch_size, 3, 224, 224)
    crops = max(1, cfg.num_crops)
    with torch.inference_mode():
        for m, inp in ((detector.model, x), (resnet, x224)):
            m(inp)
        reps = 3
        t_ours = min(timed(detector.model, x) for _ in range(reps)) / args.batch_size * crops
        t_r50 = min(timed(resnet, x224) for _ in range(reps)) / args.batch_size
    print(f"model forward per image: {1000 * t_ours:6.1f} ms ({crops} crop(s) of {cfg.crop_size}px); "
          f"ResNet-50 @224: {1000 * t_r50:6.1f} ms; ratio ours/ResNet-50 = {t_ours / t_r50:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.n):
            src = images[i % len(images)]
            os.symlink(src.resolve(), folder / f"{i:06d}{src.suffix.lower()}")
        marks = {args.n // 4, args.n // 2, args.n}
        start_rss = rss_mb()
        t0, seen, failed = time.perf_counter(), 0, 0
        for v in detector.detect_many(iter_inputs([folder], recursive=False), batch_size=args.batch_size):
            seen += 1
            failed += not v.ok
            if seen in marks:
                print(f"  after {seen:6d} images: peak RSS {rss_mb():7.0f} MB")
        dt = time.perf_counter() - t0
        print(f"folder of {args.n}: {seen} rows ({failed} errors) in {dt:.0f} s = {seen / dt:.1f} images/s; "
              f"peak RSS {rss_mb():.0f} MB (before the run {start_rss:.0f} MB)")


if __name__ == "__main__":
    main()
