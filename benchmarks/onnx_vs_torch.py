"""torch vs onnxruntime vs onnxruntime INT8: images/s at batch 1 and 32, and parity, per detector, in one run.

For each detector (the shipped default checkpoint, then every registered architecture with its factory's weights)
prints one line per runtime:

  * ``torch``: the PyTorch model (the baseline of the ratios),
  * ``ort-noopt``: onnxruntime with graph optimisations off,
  * ``ort``: onnxruntime with all graph optimisations (the backend's default),
  * ``ort-int8``: INT8 dynamic quantisation of the weights, all optimisations,

with images/s at batch 1 and batch 32 (forward pass only, on preprocessed real images), the speed ratio to torch,
and the largest difference of calibrated probabilities to torch over the real images (the parity the README
promises is 1e-4).

Usage: python benchmarks/onnx_vs_torch.py [--data ../shared/data] [--detectors 'test_*'] [--threads 2]
"""

from __future__ import annotations

import argparse
import fnmatch
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sentry_image.data.preprocess import preprocess
from sentry_image.imaging import load_image
from sentry_image.models import Calibration, DetectorModel, create_detector, list_detectors
from sentry_image.models.checkpoint import load_torch, resolve_model
from sentry_image.models.onnx import ExportError, export_bytes, make_session, quantize_int8

EXTS = {".jpg", ".jpeg", ".png", ".webp"}


def real_batch(data: Path, net: DetectorModel, n: int) -> torch.Tensor:
    """``n`` preprocessed crops of shared images (first crop of each), through the model's own preprocessing."""
    files = sorted(p for sub in ("real", "ai") for p in (data / sub).rglob("*") if p.suffix.lower() in EXTS)
    step = max(1, len(files) // n)
    crops = [preprocess(load_image(f).rgb, net.preprocess_cfg)[:1] for f in files[::step][:n]]
    return torch.from_numpy(np.concatenate(crops))


def per_second(run: Callable[[torch.Tensor], object], x: torch.Tensor, seconds: float) -> float:
    """Images/s of ``run`` on batches ``x``: warm up once, then repeat for about ``seconds``."""
    run(x)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done == 0:
        run(x)
        done += x.shape[0]
    return done / (time.perf_counter() - start)


def bench(label: str, net: DetectorModel, calibration: Calibration, config: dict[str, object], data: Path,
          threads: int, seconds: float) -> None:
    x32 = real_batch(data, net, 32)
    x1 = x32[:1]
    with torch.inference_mode():
        ref = calibration.probability(net(x32).float().reshape(-1).numpy())
    fp32 = export_bytes(net, dict(config))
    runtimes: dict[str, Callable[[torch.Tensor], np.ndarray]] = {}

    def torch_run(x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(net(x).float().reshape(-1).numpy())

    runtimes["torch"] = torch_run
    try:
        int8: bytes | None = quantize_int8(fp32)
    except ExportError as exc:
        print(f"  ort-int8: not measured ({exc})")
        int8 = None
    for name, model, level in (("ort-noopt", fp32, "none"), ("ort", fp32, "all"), ("ort-int8", int8, "all")):
        if model is None:
            continue
        session = make_session(model, threads=threads, optimization=level)
        runtimes[name] = lambda x, s=session: s.run(None, {"pixels": x.numpy()})[0].reshape(-1)
    base: dict[int, float] = {}
    print(f"\n{label} (crop {net.preprocess_cfg.crop_size}, {sum(p.numel() for p in net.parameters()):,} params)")
    print(f"  {'runtime':<10} {'b1 img/s':>9} {'x torch':>8} {'b32 img/s':>10} {'x torch':>8} {'max |dp|':>10}")
    for name, run in runtimes.items():
        speeds = {b: per_second(run, x, seconds) for b, x in ((1, x1), (32, x32))}
        base = base or speeds
        diff = float(np.max(np.abs(calibration.probability(run(x32)) - ref)))
        print(f"  {name:<10} {speeds[1]:9.1f} {speeds[1] / base[1]:8.2f} {speeds[32]:10.1f} "
              f"{speeds[32] / base[32]:8.2f} {diff:10.2e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--detectors", default="*", help="registry pattern (default: all)")
    ap.add_argument("--exclude", default="", help="registry pattern to leave out, e.g. the largest models")
    ap.add_argument("--threads", type=int, default=2, help="threads for torch and onnxruntime alike")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per runtime and batch size")
    ap.add_argument("--skip-default", action="store_true", help="leave out the shipped checkpoint")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net, calibration, config = load_torch(resolve_model(None))
    if not args.skip_default:
        bench(f"default checkpoint {config.get('name')}@{config.get('version')}", net, calibration, config,
              args.data, args.threads, args.seconds)
    for name in list_detectors(args.detectors):
        if args.exclude and fnmatch.fnmatch(name, args.exclude):
            continue
        torch.manual_seed(0)
        try:
            model = create_detector(name).eval()
        except Exception as exc:  # a family that needs weights this machine lacks: say so and go on
            print(f"\n{name}: skipped ({type(exc).__name__}: {exc})")
            continue
        bench(name, model, Calibration(), {"name": name, "preprocessing": model.preprocess_cfg.to_dict(),
                                           "calibration": Calibration().to_dict()},
              args.data, args.threads, args.seconds)


if __name__ == "__main__":
    main()
