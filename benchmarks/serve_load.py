"""Load on the service: 50 concurrent ``POST /api/v1/detect`` requests on loopback against ``sentry-image serve``.

Prints, for a real server process started here:
  * latency of one request at a time (the baseline) and of each request in waves of 50 concurrent ones:
    p50 / p95 / p99 and the p50 ratio concurrent / alone,
  * errors (goal: 0) and throughput of the waves,
  * the server's peak RSS (VmHWM) after start-up, after the first wave and after the last wave: memory must stay
    bounded however many waves come (the server scores ``SENTRY_DETECT_CONCURRENCY`` requests at a time).

Usage: python benchmarks/serve_load.py [--data ../shared/data] [--model default|DIR] [--concurrency 50] [--waves 3]
Images are real files from the data folder (real/ and ai/); without it, generated noise PNGs. Without a shipped
default checkpoint, a tiny test_tiny_cnn checkpoint is built so that the HTTP path can still be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import numpy as np

EXTS = {".jpg", ".jpeg", ".png", ".webp"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def payloads(data: Path, n: int) -> list[tuple[str, bytes]]:
    files = sorted(p for sub in ("real", "ai") for p in (data / sub).rglob("*") if p.suffix.lower() in EXTS
                   and p.stat().st_size < 3_000_000)
    if files:
        step = max(1, len(files) // n)
        return [(p.name, p.read_bytes()) for p in files[::step][:n]]
    from PIL import Image  # no data folder: generated images still exercise the whole HTTP path

    out = []
    rng = np.random.default_rng(0)
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (384, 512, 3), dtype=np.uint8)).save(buf, format="PNG")
        out.append((f"noise-{i}.png", buf.getvalue()))
    return out


def model_arg(model: str, work: Path) -> str:
    from sentry_image.models.checkpoint import shipped_checkpoints

    if model != "default" or "default" in shipped_checkpoints():
        return model
    from sentry_image.models import Calibration, create_detector, save_checkpoint

    print("no shipped default checkpoint yet: measuring with a tiny test_tiny_cnn checkpoint")
    calib = Calibration(temperature=1.0, threshold=0.5, uncertain_band=(0.4, 0.6), method="none", fitted_on="none")
    return str(save_checkpoint(create_detector("test_tiny_cnn"), work / "tiny", calibration=calib, name="tiny",
                               version="bench"))


async def one(client: httpx2.AsyncClient, url: str, item: tuple[str, bytes]) -> tuple[float, bool]:
    t0 = time.perf_counter()
    try:
        resp = await client.post(url, files={"file": item}, timeout=300)
        ok = resp.status_code == 200 and resp.json()["verdicts"][0]["error"] is None
    except httpx2.HTTPError:
        ok = False
    return time.perf_counter() - t0, ok


async def run(base: str, items: list[tuple[str, bytes]], concurrency: int, waves: int, pid: int) -> None:
    url = base + "/api/v1/detect"
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(limits=limits) as client:
        await one(client, url, items[0])  # warm-up: first forward pass, lazy imports
        alone = [(await one(client, url, it))[0] for it in items[:10]]
        rss = [("after start-up and warm-up", vm_kb(pid, "VmHWM"))]
        lat: list[float] = []
        errors, wall = 0, 0.0
        for w in range(waves):
            t0 = time.perf_counter()
            results = await asyncio.gather(*(one(client, url, items[i % len(items)]) for i in range(concurrency)))
            wall += time.perf_counter() - t0
            lat += [t for t, _ in results]
            errors += sum(not ok for _, ok in results)
            rss.append((f"after wave {w + 1}", vm_kb(pid, "VmHWM")))
    p = np.percentile(np.array(lat) * 1000, [50, 95, 99])
    base_ms = statistics.median(alone) * 1000
    print(f"one request at a time: p50 {base_ms:.0f} ms (10 requests)")
    print(f"{concurrency} concurrent x {waves} waves: p50 {p[0]:.0f} ms  p95 {p[1]:.0f} ms  p99 {p[2]:.0f} ms  "
          f"(p50 / alone = {p[0] / base_ms:.1f}x); {len(lat) / wall:.1f} requests/s; errors {errors}")
    for label, kb in rss:
        print(f"server peak RSS {label}: {kb / 1024:.0f} MB")
    print(f"peak RSS growth from wave 1 to wave {waves}: {(rss[-1][1] - rss[1][1]) / 1024:.0f} MB "
          f"(ratio {rss[-1][1] / max(1, rss[1][1]):.2f})")
    if errors:
        raise SystemExit(f"{errors} requests failed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--model", default="default")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--waves", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        items = payloads(args.data, args.concurrency)
        port = free_port()
        cmd = [sys.executable, "-m", "sentry_image.cli", "serve", "--port", str(port), "--model",
               model_arg(args.model, work), "--database-url", f"sqlite:///{work / 'load.db'}"]
        server = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    httpx2.get(base + "/api/v1/health", timeout=1)
                    break
                except httpx2.TransportError:
                    if server.poll() is not None:
                        raise SystemExit(server.stderr.read() if server.stderr else "server exited") from None
                    time.sleep(0.1)
            sizes = [len(b) for _, b in items]
            print(f"{len(items)} images, {min(sizes) // 1024}-{max(sizes) // 1024} kB; server pid {server.pid}")
            asyncio.run(run(base, items, args.concurrency, args.waves, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
