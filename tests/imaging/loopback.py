"""A loopback HTTP server for the URL-input tests (standard library ``http.server`` on a thread; no internet).

Imported by the fetch, command-line and service tests; it needs only the core install. Endpoints:

==================  ===========================================================================================
``/img.png``        a 64 x 48 PNG (``/img.jpg`` the JPEG of the same pixels)
``/text``           a short text body: not an image
``/missing``        404
``/chain/N``        a relative redirect to ``/chain/N-1``; ``/chain/0`` redirects to ``/img.png``
``/loop``           redirects to itself
``/to?u=URL``       redirects to ``URL`` (another scheme, another address)
``/slow``           headers and 10 of 100 declared bytes, then nothing until the server stops
``/huge``           :data:`HUGE_TOTAL` bytes without a ``Content-Length``, counted in ``huge_sent``; ``huge_done`` is
                    set when the handler stops (finished, or the client hung up)
``/barrier``        ``/img.png`` once two requests wait here at the same time (503 if the second never comes):
                    proves that fetches run in parallel without measuring time
``/declared``       declares ``Content-Length: 10**12`` and sends nothing
``/short``          declares 1000 bytes, sends 10 and closes
==================  ===========================================================================================
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.helpers.builders import image_bytes, noise_image

HUGE_TOTAL = 256 * 1024 * 1024  # far more than any socket buffers hold, so a sender that stops early shows it
PNG = image_bytes(noise_image((64, 48), seed=11))
JPEG = image_bytes(noise_image((64, 48), seed=11), "JPEG", quality=92)


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str]] = []  # (path, Host header) of every request, in arrival order
        self.huge_sent = 0
        self.huge_done = threading.Event()
        self.release = threading.Event()  # set on shutdown: frees the /slow handlers
        self.barrier = threading.Barrier(2, timeout=30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.0"  # one request per connection; a body without a length ends when it closes

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host", "")))
        parts = urlsplit(self.path)
        path = parts.path
        if path in ("/img.png", "/img.jpg", "/text"):
            body, kind = {"/img.png": (PNG, "image/png"), "/img.jpg": (JPEG, "image/jpeg"),
                          "/text": (b"hello, this is not an image\n", "text/plain")}[path]
            self._head(200, {"Content-Type": kind, "Content-Length": str(len(body))})
            self.wfile.write(body)
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._head(302, {"Location": f"/chain/{left - 1}" if left > 0 else "/img.png", "Content-Length": "0"})
        elif path == "/loop":
            self._head(302, {"Location": "/loop", "Content-Length": "0"})
        elif path == "/to":
            self._head(302, {"Location": parse_qs(parts.query)["u"][0], "Content-Length": "0"})
        elif path == "/slow":
            self._head(200, {"Content-Type": "image/png", "Content-Length": "100"})
            self.wfile.write(PNG[:10])
            self.server.release.wait(60)
        elif path == "/barrier":
            try:
                self.server.barrier.wait()
            except threading.BrokenBarrierError:
                self._head(503, {"Content-Length": "0"})
                return
            self._head(200, {"Content-Type": "image/png", "Content-Length": str(len(PNG))})
            self.wfile.write(PNG)
        elif path == "/huge":
            self._huge()
        elif path == "/declared":
            self._head(200, {"Content-Type": "image/png", "Content-Length": str(10**12)})
        elif path == "/short":
            self._head(200, {"Content-Type": "image/png", "Content-Length": "1000"})
            self.wfile.write(PNG[:10])
        else:
            self._head(404, {"Content-Length": "0"})

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _huge(self) -> None:
        chunk = b"\0" * (64 * 1024)
        try:
            self._head(200, {"Content-Type": "application/octet-stream"})
            while self.server.huge_sent < HUGE_TOTAL:
                self.wfile.write(chunk)
                self.server.huge_sent += len(chunk)
        except OSError:  # the client hung up: what the test wants
            pass
        finally:
            self.server.huge_done.set()


@contextmanager
def serve_loopback() -> Iterator[LoopbackServer]:
    """A started :class:`LoopbackServer`, stopped (and its stalled handlers released) on exit."""
    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.barrier.abort()
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
