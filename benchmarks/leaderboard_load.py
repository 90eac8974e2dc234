"""Hostile load on the leaderboard form: wrong-token and valid submissions at once, the health probe polled throughout.

For a real server process started here, the script registers a benchmark and a team through the admin API, then
fires ``--wrong`` concurrent ``POST /leaderboard/submit`` with wrong team tokens and ``--valid`` with the team's
token (its daily limit decides how many are scored), while ``GET /api/v1/health`` is polled every 50 ms. Prints:
  * health latency idle (the baseline: 20 probes before the burst) and during the burst, median and max, and the
    ratio max-during / median-idle,
  * the burst's status counts (goal: no 500, no transport error) and how many submissions were scored (goal:
    exactly the daily limit, however the uploads race),
  * the burst's wall time.

The rate limit on wrong tokens is raised out of the way by default (``--failed-token-limit``), so the figures are
those of an attacker spread over many addresses; ``--failed-token-limit 10`` shows the server's default.
``--src DIR`` runs the server from another source tree (a checkout of an older commit) to compare; ``--json``
prints one JSON object instead of the lines (the service tests run it that way).

Usage: python benchmarks/leaderboard_load.py [--wrong 60] [--valid 60] [--database-url URL] [--model DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
from PIL import Image

ADMIN = "load-admin-token"
POLL_S = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, work: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "SENTRY_ADMIN_TOKEN": ADMIN, "SENTRY_DATA_DIR": str(work / "data"),
           "SENTRY_DATABASE_URL": args.database_url or f"sqlite:///{work / 'load.db'}",
           "SENTRY_SUBMISSIONS_PER_DAY": str(args.daily_limit),
           "SENTRY_FAILED_TOKENS_PER_MINUTE": str(args.failed_token_limit)}
    if args.src is not None:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    cmd = [sys.executable, "-m", "sentry_image.cli", "serve", "--port", str(port), "--model", args.model]
    return subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_ready(base: str, server: subprocess.Popen[str]) -> None:
    for _ in range(1200):
        try:
            httpx2.get(base + "/api/v1/health", timeout=1)
            return
        except httpx2.TransportError:
            if server.poll() is not None:
                raise SystemExit(server.stderr.read() if server.stderr else "the server exited") from None
            time.sleep(0.1)
    raise SystemExit("the server did not answer within 120 s")


def setup(base: str, n_images: int = 20) -> tuple[str, bytes]:
    """Register a benchmark of generated images and a team; return the team token and a valid predictions CSV."""
    admin = {"X-Admin-Token": ADMIN}
    rng = np.random.default_rng(0)
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    labels = "file,label,subset\n"
    for i in range(n_images):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
        files.append(("images", (f"im{i}.png", buf.getvalue(), "image/png")))
        labels += f"im{i}.png,{'ai' if i % 2 else 'real'},all\n"
    files.append(("labels", ("labels.csv", labels.encode(), "text/csv")))
    resp = httpx2.post(base + "/api/v1/leaderboard/benchmarks", headers=admin, files=files,
                       data={"slug": "load", "title": "load"}, timeout=60)
    resp.raise_for_status()
    token = str(httpx2.post(base + "/api/v1/leaderboard/teams", headers=admin, json={"name": "load"},
                            timeout=60).json()["token"])
    ids = httpx2.get(base + "/api/v1/leaderboard/benchmarks/load", timeout=60).json()["image_ids"]
    csv = "image_id,ai_probability\n" + "".join(f"{i},{rng.random():.3f}\n" for i in ids)
    return token, csv.encode()


async def health_latency(client: httpx2.AsyncClient, base: str, timeout: float) -> float:
    t0 = time.perf_counter()
    with contextlib.suppress(httpx2.HTTPError):  # a probe that fails counts with the time it took
        await client.get(base + "/api/v1/health", timeout=timeout)
    return time.perf_counter() - t0


async def burst(base: str, token: str, csv: bytes, wrong: int, valid: int, timeout: float) -> dict[str, Any]:
    async with httpx2.AsyncClient(limits=httpx2.Limits(max_connections=wrong + valid + 4)) as client:
        idle = [await health_latency(client, base, timeout) for _ in range(20)]
        during: list[float] = []
        done = asyncio.Event()

        async def poll() -> None:
            while not done.is_set():
                during.append(await health_latency(client, base, timeout))
                await asyncio.sleep(POLL_S)

        async def submit(team_token: str) -> str:
            form = {"benchmark": "load", "team_token": team_token, "threshold": "0.5", "method": "load"}
            try:
                resp = await client.post(base + "/leaderboard/submit", data=form, timeout=timeout,
                                         files={"file": ("p.csv", csv, "text/csv")})
                return str(resp.status_code)
            except httpx2.HTTPError as exc:
                return type(exc).__name__

        poller = asyncio.create_task(poll())
        t0 = time.perf_counter()
        tokens = [f"wrong-{i}" for i in range(wrong)] + [token] * valid
        statuses = await asyncio.gather(*(submit(t) for t in tokens))
        wall = time.perf_counter() - t0
        done.set()
        await poller
        try:
            mine = await client.get(base + "/api/v1/leaderboard/submissions", headers={"X-Team-Token": token},
                                    timeout=timeout)
            scored = len(mine.json()) if mine.status_code == 200 else None
        except httpx2.HTTPError:  # a server still frozen after the burst
            scored = None
    return {"health_idle_median_s": statistics.median(idle), "health_during_median_s": statistics.median(during),
            "health_during_max_s": max(during), "health_probes": len(during), "burst_wall_s": wall,
            "wrong_statuses": dict(Counter(statuses[:wrong])), "valid_statuses": dict(Counter(statuses[wrong:])),
            "scored": scored}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wrong", type=int, default=60)
    ap.add_argument("--valid", type=int, default=60)
    ap.add_argument("--daily-limit", type=int, default=5)
    ap.add_argument("--failed-token-limit", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--model", default="default")
    ap.add_argument("--src", default=None, help="source folder (holding sentry_image/) to run the server from")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before one request counts as failed")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(args, Path(tmp), port)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, server)
            token, csv = setup(base)
            out = asyncio.run(burst(base, token, csv, args.wrong, args.valid, args.timeout))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a server frozen on its event loop may not even hear SIGTERM
                server.kill()
                server.wait()
    if args.json:
        print(json.dumps(out))
        return
    ratio = out["health_during_max_s"] / out["health_idle_median_s"]
    print(f"health idle: median {out['health_idle_median_s'] * 1000:.1f} ms (20 probes)")
    print(f"health during the burst: median {out['health_during_median_s'] * 1000:.1f} ms, max "
          f"{out['health_during_max_s'] * 1000:.0f} ms over {out['health_probes']} probes "
          f"(max / idle median = {ratio:.0f}x)")
    print(f"burst of {args.wrong} wrong-token + {args.valid} valid form submissions: {out['burst_wall_s']:.1f} s")
    print(f"statuses, wrong tokens: {out['wrong_statuses']}; valid: {out['valid_statuses']}")
    print(f"scored: {out['scored']} (daily limit {args.daily_limit})")


if __name__ == "__main__":
    main()
