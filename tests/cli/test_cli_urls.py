"""``sentry-image detect`` with http(s) URLs beside paths, as a user runs it: a real process against a loopback
server started by the test (the command line has no address guard, so loopback URLs are fetched)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.cli.test_cli import run
from tests.imaging.loopback import PNG, LoopbackServer, serve_loopback

pytestmark = pytest.mark.core  # the shipped default runs on onnxruntime: the core install


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve_loopback() as started:
        yield started


def test_urls_and_paths_are_judged_in_the_order_given(server: LoopbackServer, tmp_path: Path) -> None:
    local = tmp_path / "same.png"
    local.write_bytes(PNG)
    png, redirected = server.url("/img.png"), server.url("/chain/2")
    res = run("detect", png, str(local), redirected, "--format", "jsonl", "--model", "default")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["path"] for r in rows] == [png, str(local), redirected]  # the URL as given, not where redirects led
    assert all(r["error"] is None and r["verdict"] in {"ai-generated", "real", "uncertain"} for r in rows)
    assert rows[0]["ai_probability"] == rows[1]["ai_probability"]  # fetched bytes decode exactly like the file's
    assert rows[0]["image"] == rows[1]["image"]


def test_url_failures_are_rows_with_exit_1_and_no_traceback(server: LoopbackServer) -> None:
    urls = [server.url("/missing"), server.url("/text"), server.url("/loop"), server.url("/declared"),
            server.url("/to?u=" + quote("ftp://host/x.png")), "ftp://host/y.png", server.url("/img.png")]
    res = run("detect", *urls, "--format", "jsonl", "--model", "default")
    assert res.returncode == 1, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["path"] for r in rows] == urls
    assert [r["error"]["code"] if r["error"] else None for r in rows] == [
        "fetch_failed", "not_an_image", "fetch_failed", "too_large", "fetch_failed", "fetch_failed", None]
    assert rows[0]["error"]["message"] == "HTTP 404 Not Found"
    assert "redirects" in rows[2]["error"]["message"] and "declares" in rows[3]["error"]["message"]
    assert "6 of 7 inputs failed" in res.stderr and "Traceback" not in res.stderr


def test_the_table_shows_the_whole_url(server: LoopbackServer) -> None:
    url = server.url("/img.png")
    res = run("detect", url, "--model", "default")
    assert res.returncode == 0, res.stderr
    assert url in res.stdout
