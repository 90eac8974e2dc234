"""Helpers for the service tests: settings, a throw-away PostgreSQL cluster, a live HTTP server, test data."""

from __future__ import annotations

import csv
import glob
import io
import os
import pwd
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from sentry_image.serve.questionnaire import CATEGORIES
from tests.helpers.builders import image_bytes, noise_image

ADMIN = "test-admin-token-123"
AI_GENERATORS = ("sdxl", "midjourney-v6")
AI_TEXT = "Steps: 20, Sampler: Euler a, Model: sdxl"  # generator metadata the survey must never show


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- data ---------------------------------------------------------------------------------------------------------
def make_pool(folder: Path) -> Path:
    """A questionnaire pool: per HPBench category 2 photos (JPEG) and 2 AI images (PNG with generator text)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    seed = 0
    for cat in CATEGORIES:
        for k in range(4):
            seed += 1
            label = "ai" if k >= 2 else "real"
            name = f"{cat}-{k}.{'png' if label == 'ai' else 'jpg'}"
            img = noise_image((48, 40), seed=seed)
            if label == "ai":
                info = PngImagePlugin.PngInfo()
                info.add_text("parameters", AI_TEXT)
                img.save(folder / name, format="PNG", pnginfo=info)
            else:
                img.save(folder / name, format="JPEG", quality=90)
            rows.append({"path": name, "label": label, "generator": AI_GENERATORS[k % 2] if label == "ai" else "camera",
                         "category": cat})
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "generator", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "manifest.csv"


def benchmark_files(n: int = 24) -> tuple[list[tuple[str, bytes]], bytes, dict[str, tuple[int, str, str]]]:
    """``n`` images, their labels CSV and ``file -> (label, subset, slice)``: half AI, two subsets, two slices."""
    images, truth = [], {}
    for i in range(n):
        name = f"file-{i:03d}.png"
        images.append((name, image_bytes(noise_image((40, 40), seed=1000 + i))))
        truth[name] = (i % 2, "gan" if i < n // 2 else "diffusion", "clean" if (i // 2) % 2 == 0 else "jpeg-75")
    buf = io.StringIO()
    buf.write("file,label,subset,slice\n")
    for name, (label, subset, slice_) in truth.items():
        buf.write(f"{name},{'ai' if label else 'real'},{subset},{slice_}\n")
    return images, buf.getvalue().encode(), truth


def register_benchmark(client: Any, slug: str = "bench", n: int = 24) -> dict[str, tuple[int, str, str]]:
    """Register a benchmark through the API (admin) and return the hidden truth the test keeps for itself."""
    images, labels_csv, truth = benchmark_files(n)
    files = [("labels", ("labels.csv", labels_csv, "text/csv"))]
    files += [("images", (name, data, "image/png")) for name, data in images]
    resp = client.post("/api/v1/leaderboard/benchmarks", headers={"X-Admin-Token": ADMIN}, files=files,
                       data={"slug": slug, "title": "Test benchmark", "description": "generated noise"})
    assert resp.status_code == 201, resp.text
    return truth


def id_truth(client: Any, slug: str, truth: dict[str, tuple[int, str, str]]) -> dict[str, tuple[int, str, str]]:
    """Map public ids back to the truth by comparing downloaded bytes with the originals (test side only)."""
    by_bytes = {data: truth[name] for name, data in benchmark_files(len(truth))[0]}
    ids = client.get(f"/api/v1/leaderboard/benchmarks/{slug}").json()["image_ids"]
    return {i: by_bytes[client.get(f"/api/v1/leaderboard/benchmarks/{slug}/images/{i}").content] for i in ids}


def create_team(client: Any, name: str) -> str:
    resp = client.post("/api/v1/leaderboard/teams", headers={"X-Admin-Token": ADMIN}, json={"name": name})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


def predictions_csv(values: dict[str, float]) -> bytes:
    return ("image_id,ai_probability\n" + "".join(f"{k},{v}\n" for k, v in values.items())).encode()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid tiny PNG whose header declares ``width x height`` pixels (a decompression bomb's signature)."""
    data = bytearray(image_bytes(Image.new("RGB", (1, 1))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


# -- PostgreSQL -----------------------------------------------------------------------------------------------------
def postgres_bin() -> Path | None:
    """Folder of initdb/pg_ctl: Debian's versioned folder first, then PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """The server refuses to run as root: as root, run it as the ``postgres`` user (Debian's package makes it)."""
    if os.geteuid() != 0:
        return cmd
    pwd.getpwnam("postgres")  # KeyError here means no postgres user: the caller skips loudly
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a throw-away cluster (initdb + pg_ctl, loopback only, spare port); yield its admin URL; remove it."""
    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("initdb not found")
    root = Path(tempfile.mkdtemp(prefix="sentry-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                     "-E", "UTF8", "--no-sync"]), check=True, capture_output=True, env=env)
        opts = (f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off")
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                                     "-t", "60", "-o", opts, "start"]), check=True, capture_output=True, env=env)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, env=env)
        shutil.rmtree(root, ignore_errors=True)


# -- live server ----------------------------------------------------------------------------------------------------
@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a spare loopback port in a thread; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
