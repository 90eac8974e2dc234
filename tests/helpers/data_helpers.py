"""A miniature FakeImageDataset with the published layout and quirks, and a loopback server playing the hub.

Quirks reproduced (see ``sentry_image.data.subsets``): parts with 1-digit (``SDv15-CC30K``: ``.0``..``.4``),
2-digit (``IF-CC95K``: ``.00``..``.11``) and 3-digit (``cogview2-22K``: ``.000``..) suffixes; one unsplit
archive (``Midjourneyv5-5K.tar.gz``) whose header-less CSV says 0 on every row; the train subset ``IFv1-CC1M``
whose CSV is ``IF-CC1M.csv``; CSV paths with and without the subset folder.

The server answers the endpoints ``huggingface_hub`` calls: ``/api/datasets/<repo>/revision/<rev>``,
``/api/datasets/<repo>/tree/<rev>/<path>``, ``HEAD``/``GET /datasets/<repo>/resolve/<rev>/<path>`` (LFS files
redirect to ``/cdn/<sha256>`` with ``X-Linked-Etag``/``X-Linked-Size`` as the hub does) with ``Range`` support.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
from PIL import Image

REPO = "InfImagine/FakeImageDataset"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def noise_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (40, 32)) -> bytes:
    """A small image that does not compress (so archives have real size to split)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    """A gzip-compressed tar of ``members`` (folders added as the real archives have them)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folders = sorted({str(Path(n).parent) for n in members} - {"."})
        for d in folders:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def split_parts(data: bytes, folder: Path, name: str, n: int, width: int) -> list[Path]:
    """Cut ``data`` into ``n`` parts named ``name.<i:0width>`` (all but the last of equal size)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(data) // n)
    paths = []
    for i in range(n):
        p = folder / f"{name}.{i:0{width}d}"
        p.write_bytes(data[i * size:(i + 1) * size])
        paths.append(p)
    return paths


@dataclass
class SubsetSpec:
    name: str
    split: str
    csv_name: str
    folders: tuple[str, ...]
    per_folder: int
    fmt: str
    parts: int | None  # None: unsplit
    width: int = 1
    csv_prefix: bool = True
    csv_label: str = "1"


SPECS = (
    SubsetSpec("IF-CC95K", "val", "IF-CC95K.csv", ("IF-ddim-25-15K", "IF-dpmsolver++-10-15K"), 3, "PNG", 12, 2),
    SubsetSpec("Midjourneyv5-5K", "val", "Midjourneyv5-5K.csv", ("",), 4, "JPEG", None, csv_prefix=False,
               csv_label="0"),
    SubsetSpec("SDv15-CC30K", "val", "SDv15-CC30K.csv", ("SDv15-dpmsolver-25-15K", "SDv15R-dpmsolver-25-15K"), 2,
               "PNG", 5, 1, csv_prefix=False),
    SubsetSpec("cogview2-22K", "val", "cogview2-22K.csv", ("",), 3, "PNG", 3, 3),
    SubsetSpec("IFv1-CC1M", "train", "IF-CC1M.csv", ("IFv1-dpmsolver++-50-1M",), 3, "PNG", 2, 1),
)


@dataclass
class MiniDataset:
    """Where the miniature lives and what it holds (member names below the subset folder, per subset)."""

    root: Path
    members: dict[str, dict[str, bytes]] = field(default_factory=dict)


def build_mini_dataset(root: Path) -> MiniDataset:
    """Write the miniature repository under ``root`` (``ImageData/...`` and ``MetaData/...``)."""
    mini = MiniDataset(root)
    seed = 0
    for spec in SPECS:
        members: dict[str, bytes] = {}
        rows = []
        for folder in spec.folders:
            for i in range(spec.per_folder):
                seed += 1
                ext = "jpg" if spec.fmt == "JPEG" else "png"
                inner = f"{folder}/{i:06d}.{ext}" if folder else f"{i:06d}.{ext}"
                members[inner] = noise_bytes(seed, spec.fmt)
                rows.append(f"{spec.name}/{inner}" if spec.csv_prefix else inner)
        mini.members[spec.name] = members
        archive = make_tar_gz({f"{spec.name}/{k}": v for k, v in members.items()})
        folder_path = root / "ImageData" / spec.split / spec.name
        if spec.parts is None:
            folder_path.mkdir(parents=True, exist_ok=True)
            (folder_path / f"{spec.name}.tar.gz").write_bytes(archive)
        else:
            split_parts(archive, folder_path, f"{spec.name}.tar.gz", spec.parts, spec.width)
        meta = root / "MetaData" / spec.split / spec.csv_name
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text("".join(f"{r} {spec.csv_label}\n" for r in rows))
    (root / "README.md").write_text("miniature FakeImageDataset for tests\n")
    return mini


class HubServer:
    """A loopback HTTP server serving a folder as the hub serves a dataset repository at one commit."""

    def __init__(self, repo_root: Path, repo: str = REPO, commit: str = COMMIT) -> None:
        self.root, self.repo, self.commit = repo_root, repo, commit
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.overrides: dict[str, int] = {}  # path substring -> status to answer instead
        self.cut_after: dict[str, int] = {}  # repo path -> bytes sent before the connection drops (once)
        self._lfs: dict[str, Path] = {}
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def entry(self, p: Path) -> dict[str, Any]:
        rel = p.relative_to(self.root).as_posix()
        data = p.read_bytes()
        e: dict[str, Any] = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": rel}
        if ".tar.gz" in p.name:  # archives are LFS files on the hub
            sha = hashlib.sha256(data).hexdigest()
            e["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
            self._lfs[sha] = p
        return e

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # one write per response and no Nagle: otherwise each keep-alive request waits for a delayed ACK
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                       head: bool = False) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _json(self, obj: Any, head: bool) -> None:
                self._reply(200, json.dumps(obj).encode(), {"Content-Type": "application/json"}, head)

            def _error(self, status: int, code: str, head: bool) -> None:
                self._reply(status, json.dumps({"error": code}).encode(),
                            {"X-Error-Code": code, "X-Error-Message": code, "Content-Type": "application/json"},
                            head)

            def _serve(self, head: bool) -> None:
                url = urlsplit(self.path)
                path = unquote(url.path)
                server.requests.append((self.command, path, self.headers.get("Range")))
                for key, status in server.overrides.items():
                    if key in path:
                        return self._error(status, "RepoNotFound" if status == 401 else "EntryNotFound", head)
                api, resolve = f"/api/datasets/{server.repo}/", f"/datasets/{server.repo}/resolve/"
                if path.startswith("/cdn/"):
                    return self._file(server._lfs[path[5:]], head)
                if path.startswith("/api/datasets/") and not path.startswith(api):
                    return self._error(401, "RepoNotFound", head)
                if path.startswith(api + "revision/"):
                    rev = path[len(api + "revision/"):]
                    if rev not in ("main", server.commit):
                        return self._error(404, "RevisionNotFound", head)
                    siblings = [{"rfilename": p.relative_to(server.root).as_posix()} for p in server.files()]
                    return self._json({"id": server.repo, "sha": server.commit, "private": False,
                                       "siblings": siblings}, head)
                if path.startswith(api + "tree/"):
                    rev, _, sub = path[len(api + "tree/"):].partition("/")
                    if rev not in ("main", server.commit):
                        return self._error(404, "RevisionNotFound", head)
                    recursive = "recursive=True" in (url.query or "") or "recursive=true" in (url.query or "")
                    base = server.root / sub
                    if not base.is_dir():
                        return self._error(404, "EntryNotFound", head)
                    items = base.rglob("*") if recursive else base.iterdir()
                    out = [server.entry(p) if p.is_file() else
                           {"type": "directory", "oid": "0" * 40, "path": p.relative_to(server.root).as_posix()}
                           for p in sorted(items)]
                    return self._json(out, head)
                if path.startswith(resolve):
                    rev, _, rel = path[len(resolve):].partition("/")
                    target = server.root / rel
                    if rev not in ("main", server.commit) or not target.is_file():
                        return self._error(404, "EntryNotFound", head)
                    e = server.entry(target)
                    common = {"X-Repo-Commit": server.commit}
                    if "lfs" in e:
                        sha = e["lfs"]["oid"]
                        return self._reply(302, b"", {**common, "Location": f"{server.url}/cdn/{sha}",
                                                      "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(e["size"])},
                                           head)
                    return self._file(target, head, {**common, "ETag": f'"{e["oid"]}"'})
                return self._error(404, "NotFound", head)

            def _file(self, target: Path, head: bool, extra: dict[str, str] | None = None) -> None:
                data = target.read_bytes()
                start, status = 0, 200
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start, status = int(rng[6:].split("-")[0]), 206
                body = data[start:]
                headers = {**(extra or {}), "Accept-Ranges": "bytes", "Content-Length": str(len(body)),
                           "Content-Type": "application/octet-stream"}
                if status == 206:
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                rel = target.relative_to(server.root).as_posix()
                cut = None if head else server.cut_after.pop(rel, None)
                if cut is not None:
                    # announce the whole body, send part of it, drop the connection: an interrupted transfer
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._reply(status, body, headers, head)

        return Handler
