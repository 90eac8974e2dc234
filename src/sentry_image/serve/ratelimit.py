"""Rate limits on what anyone can do without an account: opening questionnaire sessions and guessing tokens.

Both are counted per client address (``scope["client"]``: behind a reverse proxy, uvicorn puts the forwarded
address there when the proxy is trusted, ``--forwarded-allow-ips``). A refused request gets ``429`` with
``Retry-After`` and never reaches a route, a worker thread or the database: a flood costs the server a dictionary
lookup per request.

* Session starts (``POST /api/v1/survey/sessions``, ``POST /survey/start``): each one counts.
* Token checks (any request carrying ``X-Team-Token``/``X-Admin-Token``, and the leaderboard and admin forms):
  only refusals (401) count, so a team that knows its token is not slowed (beyond ``limit`` checks in flight at
  once from one address); an address that keeps guessing is turned away before its guesses reach the database.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

SESSION_STARTS = ("/api/v1/survey/sessions", "/survey/start")
TOKEN_FORMS = ("/leaderboard/submit", "/admin", "/admin/export.csv")


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key; thread-safe, bounded memory."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            if len(self._events) > self.max_keys:  # forget the least recently seen address
                self._events.popitem(last=False)
        self._events.move_to_end(key)
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def refund(self, key: str) -> None:
        """Take back the latest event of ``key`` (a reserved attempt that turned out not to count)."""
        with self._lock:
            events = self._events.get(key)
            if events:
                events.pop()

    def take(self, key: str) -> int | None:
        """Count one event if allowed (None); otherwise the wait in seconds, counting nothing."""
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if len(events) >= self.limit:
                return max(1, math.ceil(events[0] + self.window - now))
            events.append(now)
            return None


@dataclass
class Limits:
    session_starts: SlidingWindow
    failed_tokens: SlidingWindow


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _carries_token(scope: Scope) -> bool:
    if scope["method"] == "POST" and scope["path"] in TOKEN_FORMS:
        return True
    headers = Headers(scope=scope)
    return "x-team-token" in headers or "x-admin-token" in headers


class ThrottleMiddleware:
    """ASGI middleware applying :class:`Limits` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = _client(scope)
        if scope["method"] == "POST" and scope["path"] in SESSION_STARTS:
            wait = self.limits.session_starts.take(client)
            if wait is not None:
                await _too_many(scope, send, wait, "too many questionnaire sessions started from this address")
                return
        if not _carries_token(scope):
            await self.app(scope, receive, send)
            return
        # Every token check reserves a failure up front and gets it back unless the answer is 401: concurrent
        # guesses cannot all slip through before the first refusals are counted.
        wait = self.limits.failed_tokens.take(client)
        if wait is not None:
            await _too_many(scope, send, wait, "too many wrong tokens from this address")
            return
        refused = False

        async def watch(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                refused = message["status"] == 401
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not refused:
                self.limits.failed_tokens.refund(client)


async def _too_many(scope: Scope, send: Send, wait: int, why: str) -> None:
    message = f"{why}; try again in {wait} s"
    if scope["path"].startswith("/api/"):
        body, kind = json.dumps(error_body("rate_limited", message)).encode(), b"application/json"
    else:  # a person using the pages: a readable page rather than JSON
        body, kind = (f"<!doctype html><title>Too many requests</title><p>{message}.</p>".encode(),
                      b"text/html; charset=utf-8")
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(wait).encode())]})
    await send({"type": "http.response.body", "body": body})
