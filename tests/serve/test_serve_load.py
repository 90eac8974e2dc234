"""Hostile load on a real server: wrong-token and valid form submissions at once, on SQLite and PostgreSQL.

The burst runs ``benchmarks/leaderboard_load.py`` (the measurement and the test are one code path); its health
latencies are figures for the benchmark, not assertions. That the event loop stays free is shown without timing:
requests blocked on a database lock must not keep the health probe or a page from answering.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2

from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from tests.helpers.serve_helpers import create_team, live_server, register_benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "leaderboard_load.py"


def burst(tiny_model: Path, db_url: str, *extra: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--wrong", "60", "--valid", "60", "--daily-limit", "5",
                           "--model", str(tiny_model), "--database-url", db_url, "--json", *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_a_burst_of_submissions_gets_no_500_and_never_passes_the_daily_limit(tiny_model: Path, db_url: str) -> None:
    out = burst(tiny_model, db_url)  # the wrong-token rate limit out of the way: guesses from many addresses
    assert out["wrong_statuses"] == {"401": 60}
    assert out["valid_statuses"] == {"201": 5, "429": 55}  # the daily limit holds however the uploads race
    assert out["scored"] == 5 and out["health_probes"] >= 1


def test_concurrent_guesses_from_one_address_cannot_outrun_the_rate_limit(tiny_model: Path, tmp_path: Path) -> None:
    out = burst(tiny_model, f"sqlite:///{tmp_path / 'db.sqlite'}", "--failed-token-limit", "10")
    assert set(out["wrong_statuses"]) <= {"401", "429"} and out["wrong_statuses"].get("401", 0) <= 10
    assert set(out["valid_statuses"]) <= {"201", "429"}  # throttled or over the daily limit, never a 500


def test_requests_stuck_on_the_database_do_not_stall_other_clients(make_settings: Callable[..., Settings],
                                                                   pg_url: str) -> None:
    """20 token checks wait on a lock held on the teams table; meanwhile health and the demo page must answer.
    Before database routes left the event loop, the first waiting check froze every client until the lock went."""
    import psycopg

    app = create_app(make_settings(pg_url, failed_tokens_per_minute=1000))
    with live_server(app) as base:
        register_benchmark(httpx2.Client(base_url=base))
        create_team(httpx2.Client(base_url=base), "locked-out")
        plain = pg_url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(plain) as blocker, ThreadPoolExecutor(20) as pool:
            blocker.execute("LOCK TABLE teams IN ACCESS EXCLUSIVE MODE")  # held until the block ends
            form = {"benchmark": "bench", "team_token": "wrong"}
            futures = [pool.submit(httpx2.post, base + "/leaderboard/submit", data=form, timeout=120,
                                   files={"file": ("p.csv", b"image_id,ai_probability\n", "text/csv")})
                       for _ in range(20)]
            deadline = time.monotonic() + 60
            while _waiting_on_locks(blocker) < 1:  # at least one check is inside the database, waiting
                assert time.monotonic() < deadline, "no request reached the database"
                time.sleep(0.05)
            health = httpx2.get(base + "/api/v1/health", timeout=60)
            page = httpx2.get(base + "/", timeout=60)
            assert all(not f.done() for f in futures)  # the lock is still held: they are still waiting
            blocker.rollback()
            statuses = [f.result().status_code for f in futures]
    assert health.status_code == 200 and health.json()["status"] == "ok" and page.status_code == 200
    assert statuses == [401] * 20


def _waiting_on_locks(conn: Any) -> int:
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()
    return int(row[0])
