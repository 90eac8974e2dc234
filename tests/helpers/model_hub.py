"""A loopback server playing the hub for model repositories, and the environment that points the client at it.

:class:`~tests.helpers.data_helpers.HubServer` serves one dataset repository at one commit; checkpoints live in
model repositories, with branches and tags, so this server holds several repositories, each a list of commits
published from folders. It answers what ``snapshot_download`` asks: ``/api/models/<repo>/revision/<rev>``,
``/api/models/<repo>/tree/<rev>[/<path>]`` and ``HEAD``/``GET /<repo>/resolve/<rev>/<path>``, and errors as the
hub does (an unknown repository 401 ``RepoNotFound``, a gated one 403 ``GatedRepo``, an unknown revision 404
``RevisionNotFound``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest


def isolate_hub_client(monkeypatch: pytest.MonkeyPatch, cache: Path, endpoint: str = "http://127.0.0.1:9") -> None:
    """Never the real hub, never a token, a fresh cache (the discard port refuses at once unless a test serves)."""
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setenv("HF_HOME", str(cache))
    from huggingface_hub import constants

    # CI runs with HF_HUB_OFFLINE=1, which the client reads once at import: lift it for the loopback hub only
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(cache / "token"))  # no token file of the machine either


def _oid(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _commit(repo: str, folder: Path) -> str:
    digest = hashlib.sha1(repo.encode())
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            digest.update(p.relative_to(folder).as_posix().encode() + b"\0" + hashlib.sha1(p.read_bytes()).digest())
    return digest.hexdigest()


class ModelHub:
    """Model repositories served from folders: :meth:`publish` adds a commit and moves refs to it."""

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, Path]] = {}  # repo -> commit -> folder
        self.refs: dict[str, dict[str, str]] = {}  # repo -> branch or tag -> commit
        self.gated: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.connections: set[socket.socket] = set()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.running = False

    def __enter__(self) -> ModelHub:
        self.thread.start()
        self.running = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Shut the server down and close its port: the hub is unreachable from now on."""
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            # keep-alive connections outlive the listener: close them, or the client's pool would still get answers
            for conn in list(self.connections):
                with contextlib.suppress(OSError):  # already closed by the client
                    conn.shutdown(socket.SHUT_RDWR)
            self.running = False

    def publish(self, repo: str, folder: Path, refs: tuple[str, ...] = ("main",)) -> str:
        """Serve ``folder`` (read when asked, so leave it unchanged) as a new commit of ``repo``; returns its sha."""
        commit = _commit(repo, folder)
        self.commits.setdefault(repo, {})[commit] = folder
        for ref in refs:
            self.refs.setdefault(repo, {})[ref] = commit
        return commit

    def _folder(self, repo: str, rev: str) -> tuple[str, Path] | None:
        commit = self.refs.get(repo, {}).get(rev, rev)
        folder = self.commits.get(repo, {}).get(commit)
        return None if folder is None else (commit, folder)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per response and no Nagle: keep-alive requests do not wait for ACKs
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                hub.connections.add(self.connection)

            def finish(self) -> None:
                hub.connections.discard(self.connection)
                super().finish()

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _reply(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
                self.send_response(status)
                for k, v in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _error(self, status: int, code: str, head: bool) -> None:
                self._reply(status, json.dumps({"error": code}).encode(),
                            {"X-Error-Code": code, "X-Error-Message": code, "Content-Type": "application/json"},
                            head)

            def _serve(self, head: bool) -> None:
                url = urlsplit(self.path)
                # split before unquoting: a revision arrives as one quoted segment and may hold "/" (refs/pr/1)
                parts = [unquote(p) for p in url.path.strip("/").split("/")]
                hub.requests.append((self.command, unquote(url.path)))
                api = parts[:2] == ["api", "models"]
                rest = parts[2:] if api else parts
                if len(rest) < 4:
                    return self._error(404, "NotFound", head)
                repo, kind, rev, sub = f"{rest[0]}/{rest[1]}", rest[2], rest[3], "/".join(rest[4:])
                if repo not in hub.commits:
                    return self._error(401, "RepoNotFound", head)
                if repo in hub.gated:
                    return self._error(403, "GatedRepo", head)
                found = hub._folder(repo, rev)
                if found is None:
                    return self._error(404, "RevisionNotFound", head)
                commit, root = found
                files = sorted(p for p in root.rglob("*") if p.is_file())
                if api and kind == "revision":
                    siblings = [{"rfilename": p.relative_to(root).as_posix()} for p in files]
                    body = {"id": repo, "modelId": repo, "sha": commit, "private": False, "siblings": siblings}
                    return self._reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)
                if api and kind == "tree":
                    base = root / sub
                    if not base.is_dir():
                        return self._error(404, "EntryNotFound", head)
                    recursive = "recursive=true" in (url.query or "").lower()
                    items = sorted(base.rglob("*") if recursive else base.iterdir())
                    listing = [{"type": "file", "oid": _oid(p.read_bytes()), "size": p.stat().st_size,
                                "path": p.relative_to(root).as_posix()} if p.is_file() else
                               {"type": "directory", "oid": "0" * 40, "path": p.relative_to(root).as_posix()}
                               for p in items]
                    return self._reply(200, json.dumps(listing).encode(), {"Content-Type": "application/json"}, head)
                if not api and kind == "resolve":
                    target = root / sub
                    if not sub or not target.is_file():
                        return self._error(404, "EntryNotFound", head)
                    data = target.read_bytes()
                    return self._reply(200, data, {"X-Repo-Commit": commit, "ETag": f'"{_oid(data)}"',
                                                   "Content-Type": "application/octet-stream"}, head)
                return self._error(404, "NotFound", head)

        return Handler
