"""Browser-facing protections: security headers on every response, and no state change from another site.

Pages are server-rendered with one external script (``/static/app.js``), external styles and images that are
either same-origin or ``data:`` (the demo's thumbnail and map), so a strict Content-Security-Policy costs nothing.
The offline API docs (``/docs``, ``/redoc``) are the exception: their pages bootstrap with inline script, so they
get a policy that allows it there and nowhere else.

Cross-site writes: a form on any web site can POST to this service (a plain form needs no CORS preflight), e.g.
to open questionnaire sessions by the thousand from visitors' browsers. Browsers say where a request comes from
(``Sec-Fetch-Site``, ``Origin``); a write whose origin is another site is refused with 403. Scripts and ``curl``
send neither header and are unaffected.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
              "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
_COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",  # older browsers; frame-ancestors says the same to newer ones
    # Questionnaire pages carry the session's secret in their URL: never send it to another site.
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _policy(path: str) -> str:
    return DOCS_CSP if path.startswith(DOCS_PATHS) else STRICT_CSP


def cross_site(headers: Headers) -> bool:
    """True when a browser says the request comes from another site than the one it is sent to."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "cross-site"  # same-origin, same-site, none (typed URL) are fine
    origin = headers.get("origin")
    if origin is None or origin == "null":
        # no Origin: not a browser's cross-site write; "null" (sandboxed frame, file://) cannot be trusted
        return origin == "null"
    return urlsplit(origin).netloc.lower() != (headers.get("host") or "").lower()


class SecurityMiddleware:
    """ASGI middleware adding the headers above and refusing cross-site writes (403 ``cross_site``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _COMMON.items():
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", _policy(path))
                if path.startswith(("/admin", "/api/v1/survey/export", "/api/v1/survey/totals")):
                    headers["cache-control"] = "no-store"  # answers and totals must not sit in shared caches
            await send(message)

        if scope["method"] in _UNSAFE and cross_site(Headers(scope=scope)):
            body = json.dumps(error_body("cross_site", "this form may only be sent from this site's own pages"))
            await with_headers({"type": "http.response.start", "status": 403,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.app(scope, receive, with_headers)
