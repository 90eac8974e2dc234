"""Helpers for the service tests: settings, a throw-away PostgreSQL cluster, a live HTTP server, test data."""

from __future__ import annotations

import csv
import glob
import hashlib
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
    """A questionnaire pool whose file properties give the label away, as real pools do: per HPBench category 2
    photos (landscape JPEGs of varied sizes with camera EXIF and an ICC profile) and 2 AI images (squares, larger,
    one PNG with generator text and one WebP)."""
    from PIL import ImageCms

    folder.mkdir(parents=True, exist_ok=True)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rows = []
    seed = 0
    for cat in CATEGORIES:
        for k in range(4):
            seed += 1
            label = "ai" if k >= 2 else "real"
            if label == "real":
                name, img = f"{cat}-{k}.jpg", noise_image((60 + 4 * seed, 40 + seed % 3), seed=seed)
                exif = Image.Exif()
                exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D"  # Make, Model
                img.save(folder / name, format="JPEG", quality=90, exif=exif, icc_profile=icc)
            elif k == 2:
                name, img = f"{cat}-{k}.png", noise_image((72, 72), seed=seed)
                info = PngImagePlugin.PngInfo()
                info.add_text("parameters", AI_TEXT)
                img.save(folder / name, format="PNG", pnginfo=info)
            else:
                name, img = f"{cat}-{k}.webp", noise_image((80, 80), seed=seed)
                img.save(folder / name, format="WEBP", lossless=True)
            rows.append({"path": name, "label": label, "generator": AI_GENERATORS[k % 2] if label == "ai" else "camera",
                         "category": cat})
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "generator", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "manifest.csv"


def png_chunks(data: bytes) -> list[str]:
    """The chunk types of a PNG file, in order (metadata lives in tEXt, iTXt, zTXt, eXIf, iCCP, pHYs, tIME...)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        chunks.append(data[at + 4:at + 8].decode("ascii"))
        at += 12 + length
    return chunks


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


def post_benchmark(client: Any, images: list[tuple[str, bytes]], labels_csv: bytes, slug: str = "bench",
                   **form: str) -> Any:
    """POST a benchmark registration (admin) with extra form fields (``normalise``, ``force``); the response."""
    files = [("labels", ("labels.csv", labels_csv, "text/csv"))]
    files += [("images", (name, data, "application/octet-stream")) for name, data in images]
    return client.post("/api/v1/leaderboard/benchmarks", headers={"X-Admin-Token": ADMIN}, files=files,
                       data={"slug": slug, "title": "Test benchmark", "description": "generated noise", **form})


def register_benchmark(client: Any, slug: str = "bench", n: int = 24) -> dict[str, tuple[int, str, str]]:
    """Register a benchmark through the API (admin) and return the hidden truth the test keeps for itself."""
    images, labels_csv, truth = benchmark_files(n)
    resp = post_benchmark(client, images, labels_csv, slug)
    assert resp.status_code == 201, resp.text
    return truth


def pixel_key(data: bytes) -> str:
    """A digest of an image's decoded pixels (mode, size, samples): served files are the uploads rewritten without
    metadata, so their bytes may differ while their pixels may not."""
    with Image.open(io.BytesIO(data)) as image:
        return hashlib.sha256(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()


def id_truth(client: Any, slug: str, truth: dict[str, tuple[int, str, str]],
             images: list[tuple[str, bytes]] | None = None) -> dict[str, tuple[int, str, str]]:
    """Map public ids back to the truth by comparing downloaded pixels with the originals' (test side only)."""
    originals = images if images is not None else benchmark_files(len(truth))[0]
    by_pixels = {pixel_key(data): truth[name] for name, data in originals}
    ids = client.get(f"/api/v1/leaderboard/benchmarks/{slug}").json()["image_ids"]
    return {i: by_pixels[pixel_key(client.get(f"/api/v1/leaderboard/benchmarks/{slug}/images/{i}").content)]
            for i in ids}


# Metadata of the kinds that gave benchmark labels away: camera EXIF on photos, generation records on AI images.
A1111_PARAMETERS = "a lighthouse at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Model: sdxl"
AI_XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
          '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
          'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
          '</rdf:RDF></x:xmpmeta>')
JUMBF = b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa\x00\x11\x00\x10c2pa"


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS 40D", "GIMP 2.4.5"
    exif[0x0112] = 6  # orientation: a tag only cameras write
    return exif.tobytes()


def camera_jpeg(seed: int, size: tuple[int, int] = (40, 40)) -> bytes:
    """A JPEG as a camera and an editor leave it: EXIF, an ICC profile, a comment, bytes after the image."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return image_bytes(noise_image(size, seed=seed), "JPEG", quality=90, exif=camera_exif(), icc_profile=icc,
                       comment=b"shot on a tripod") + b"MAKERTRAILER"


def generator_png(seed: int, size: tuple[int, int] = (40, 40)) -> bytes:
    """A PNG as a Stable Diffusion UI writes it, plus an AI XMP statement and a C2PA-looking ``caBX`` chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_PARAMETERS)
    info.add_itxt("XML:com.adobe.xmp", AI_XMP)
    info.add_text("Software", "ComfyUI", zip=True)
    data = image_bytes(noise_image(size, seed=seed), "PNG", pnginfo=info, dpi=(300, 300))
    cabx = struct.pack(">I", len(JUMBF)) + b"caBX" + JUMBF + struct.pack(">I", zlib.crc32(b"caBX" + JUMBF))
    return data[:33] + cabx + data[33:]  # right after IHDR, where C2PA writers put it


def generator_jpeg(seed: int, size: tuple[int, int] = (40, 40)) -> bytes:
    """A JPEG with the generation record in EXIF UserComment-like Software text, XMP and a C2PA APP11 store."""
    exif = Image.Exif()
    exif[0x0131] = "Stable Diffusion"
    exif[0x010E] = A1111_PARAMETERS
    data = image_bytes(noise_image(size, seed=seed), "JPEG", quality=90, exif=exif.tobytes(), xmp=AI_XMP.encode())
    app11 = b"\xff\xeb" + struct.pack(">H", len(JUMBF) + 2) + JUMBF
    return data[:2] + app11 + data[2:]


def labelled(files: list[tuple[str, int, bytes]], subset: str = "all") -> tuple[list[tuple[str, bytes]], bytes,
                                                                                 dict[str, tuple[int, str, str]]]:
    """``(name, label, bytes)`` rows -> images, labels CSV and truth, like :func:`benchmark_files`."""
    truth = {name: (label, subset, "clean") for name, label, _ in files}
    csv_text = "file,label,subset,slice\n" + "".join(
        f"{name},{'ai' if label else 'real'},{subset},clean\n" for name, label, _ in files)
    return [(name, data) for name, _, data in files], csv_text.encode(), truth


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
