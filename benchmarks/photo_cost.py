"""Per-image cost of the default detector on large camera photos, against its semantic branch alone, in one process.

The semantic branch alone is the first default's design (the same EfficientNet-Lite2 features and preprocessing,
so the same per-image cost, including its reduced-scale JPEG decode); the fusion adds a full-resolution decode and
the low-level branch's native tiles. For every photo of at least ``--min-mp`` megapixels under ``--data``, the
median wall time of ``Detector.detect`` (decode, provenance, every branch, calibration) over ``--repeats`` runs,
for each tile count of ``--tiles`` (the speed knob: tiles per image), and the ratio to the semantic branch alone,
all timed round-robin in one process.

Usage: python benchmarks/photo_cost.py [--data ../shared/data] [--model default] [--tiles 4,16,36,64]
Runs on the core install (no torch).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from PIL import Image

from sentry_image import load_detector
from sentry_image.imaging.inputs import is_image_name
from sentry_image.models.checkpoint import resolve_model
from sentry_image.models.fusion import set_tiles


def large_photos(data: Path, min_mp: float) -> list[Path]:
    out = []
    for path in sorted((data / "real").rglob("*")):
        if not is_image_name(path):
            continue
        try:
            with Image.open(path) as im:
                if im.width * im.height >= min_mp * 1e6:
                    out.append(path)
        except OSError:
            continue
    return out


def interleaved_ms(detectors: dict[str, object], paths: list[Path], repeats: int) -> dict[str, list[float]]:
    """Median ms per photo for each detector, timed round-robin (photo by photo, detector by detector, repeat by
    repeat) so that a change of load on the machine weighs on all of them alike."""
    out: dict[str, list[float]] = {name: [] for name in detectors}
    for path in paths:
        times: dict[str, list[float]] = {name: [] for name in detectors}
        for d in detectors.values():
            d.detect(path)  # type: ignore[attr-defined]  # warm-up: this file's first decode
        for _ in range(repeats):
            for name, d in detectors.items():
                t0 = time.perf_counter()
                verdict = d.detect(path)  # type: ignore[attr-defined]
                times[name].append(time.perf_counter() - t0)
                assert verdict.ok, verdict.error
        for name in detectors:
            out[name].append(1000 * statistics.median(times[name]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--model", default=None)
    ap.add_argument("--min-mp", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tiles", default="4,16,36,64")
    args = ap.parse_args()
    photos = large_photos(args.data, args.min_mp)
    if not photos:
        raise SystemExit(f"no photo of {args.min_mp} MP or more under {args.data / 'real'}")
    folder = resolve_model(args.model)
    detectors: dict[str, object] = {"semantic alone": load_detector(folder / "semantic")}
    for tiles in (int(t) for t in args.tiles.split(",")):
        fused = load_detector(args.model)
        try:
            set_tiles(fused.model, tiles)
        except ValueError as exc:  # a fusion without a tiling branch: its one setting
            print(f"note: {exc}")
            detectors["fusion"] = fused
            break
        detectors[f"fusion, {tiles} tiles"] = fused
    ms = interleaved_ms(detectors, photos, args.repeats)
    print(f"model {fused.name}; {len(photos)} photos of >= {args.min_mp} MP; {os.cpu_count()} "
          f"CPUs; load average {os.getloadavg()[0]:.2f}")
    print(f"{'photo':40s} {'MP':>5s} " + " ".join(f"{name:>20s}" for name in detectors))
    for i, path in enumerate(photos):
        with Image.open(path) as im:
            mp = im.width * im.height / 1e6
        print(f"{path.name[:40]:40s} {mp:5.1f} " + " ".join(f"{ms[name][i]:17.1f} ms" for name in detectors))
    base = ms["semantic alone"]
    print(f"\n{'setting':24s} {'median ms':>10s} {'ratio to semantic alone (median over photos)':>46s}")
    for name in detectors:
        ratios = [a / b for a, b in zip(ms[name], base, strict=True)]
        print(f"{name:24s} {statistics.median(ms[name]):10.1f} {statistics.median(ratios):46.2f}")


if __name__ == "__main__":
    main()
