"""Security headers, refusal of cross-site writes, and the rate limits on what needs no account."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sentry_image.serve.app import create_app
from sentry_image.serve.ratelimit import SlidingWindow
from sentry_image.serve.security import DOCS_CSP, STRICT_CSP
from sentry_image.serve.settings import Settings
from tests.helpers.serve_helpers import ADMIN, create_team, register_benchmark

ROUTES = Path(__file__).resolve().parents[2] / "src" / "sentry_image" / "serve" / "routes"


@pytest.mark.parametrize("path", ["/", "/leaderboard", "/survey", "/admin", "/api/v1/health", "/no-such-page"])
def test_every_response_carries_the_security_headers(sqlite_client: TestClient, path: str) -> None:
    resp = sqlite_client.get(path)
    assert resp.headers["content-security-policy"] == STRICT_CSP
    assert "frame-ancestors 'none'" in STRICT_CSP
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"


def test_only_the_api_docs_may_run_inline_script(sqlite_client: TestClient) -> None:
    assert sqlite_client.get("/docs").headers["content-security-policy"] == DOCS_CSP
    assert sqlite_client.get("/admin").headers["cache-control"] == "no-store"
    assert "'unsafe-inline'" not in STRICT_CSP


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "null"}])
def test_a_write_from_another_site_is_refused_and_changes_nothing(sqlite_client: TestClient,
                                                                  headers: dict[str, str]) -> None:
    resp = sqlite_client.post("/survey/start", headers=headers, follow_redirects=False)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "cross_site"
    assert resp.headers["content-security-policy"] == STRICT_CSP
    totals = sqlite_client.get("/api/v1/survey/totals", headers={"X-Admin-Token": ADMIN}).json()
    assert totals["sessions"] == 0


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}])
def test_writes_from_the_sites_own_pages_and_from_scripts_pass(sqlite_client: TestClient,
                                                               headers: dict[str, str]) -> None:
    resp = sqlite_client.post("/survey/start", headers=headers, follow_redirects=False)
    assert resp.status_code == 303


def test_session_starts_are_limited_per_address(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(session_starts_per_hour=3))
    with TestClient(app) as one, TestClient(app, client=("10.0.0.2", 4000)) as other:
        assert [one.post("/api/v1/survey/sessions").status_code for _ in range(3)] == [201] * 3
        refused = one.post("/api/v1/survey/sessions")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 3600
        page = one.post("/survey/start", follow_redirects=False)  # the form route shares the address's budget
        assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
        assert other.post("/api/v1/survey/sessions").status_code == 201  # another address is not affected
        totals = one.get("/api/v1/survey/totals", headers={"X-Admin-Token": ADMIN}).json()
        assert totals["sessions"] == 4


def test_token_guessing_is_turned_away_but_known_tokens_never_count(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(failed_tokens_per_minute=3))
    with TestClient(app) as guesser, TestClient(app, client=("10.0.0.9", 4000)) as team_client:
        register_benchmark(guesser)
        token = create_team(guesser, "honest")
        for _ in range(5):  # successes never count towards the limit
            assert team_client.get("/api/v1/leaderboard/submissions",
                                   headers={"X-Team-Token": token}).status_code == 200
        wrong = [guesser.get("/api/v1/leaderboard/submissions", headers={"X-Team-Token": f"guess-{i}"})
                 for i in range(3)]
        assert [r.status_code for r in wrong] == [401] * 3
        blocked = guesser.post("/leaderboard/submit", data={"benchmark": "bench", "team_token": token},
                               files={"file": ("p.csv", b"image_id,ai_probability\n", "text/csv")})
        assert blocked.status_code == 429 and "retry-after" in blocked.headers
        assert guesser.post("/admin", data={"token": ADMIN}).status_code == 429  # admin checks too
        assert guesser.get("/api/v1/health").status_code == 200  # nothing else is refused to the address
        assert team_client.get("/api/v1/leaderboard/submissions",
                               headers={"X-Team-Token": token}).status_code == 200


def test_sliding_window_forgets_events_older_than_its_window() -> None:
    now = [100.0]
    window = SlidingWindow(2, 60.0, clock=lambda: now[0], max_keys=2)
    assert window.take("a") is None and window.take("a") is None
    assert window.take("a") == 60
    now[0] += 30
    assert window.take("a") == 30  # refused: counts nothing
    now[0] += 30.5
    assert window.take("a") is None  # the first two fell out of the window
    assert window.take("a") is None and window.take("a") == 60
    window.refund("a")  # a reserved attempt given back frees its place at once
    assert window.take("a") is None
    window.take("b")
    window.take("c")  # over max_keys: the least recently seen address ("a") is forgotten
    assert window.take("a") is None


def test_no_async_route_touches_the_database() -> None:
    """Blocking database work inside ``async def`` freezes the event loop for every client (a 30 s pool wait
    per waiter): database routes must be plain ``def`` so that they run on worker threads."""
    offenders = []
    for path in ROUTES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AsyncFunctionDef):
                text = ast.unparse(node)
                if any(word in text for word in ("SessionDep", "session", "find_team", "TeamDep")):
                    offenders.append(f"{path.name}:{node.name}")
    assert offenders == []
