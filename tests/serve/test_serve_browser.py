"""Real browser, real HTTP: Debian's Chromium (driven by Playwright) uses the three pages of a live server.

Screenshots go to ``out/screenshots/`` (git-ignored) or ``$SENTRY_SCREENSHOTS``; look at them after a change.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from tests.helpers.builders import image_bytes, noise_image, tiny_checkpoint
from tests.helpers.serve_helpers import ADMIN, benchmark_files, live_server, predictions_csv

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("SENTRY_SCREENSHOTS", Path(__file__).resolve().parents[2] / "out" / "screenshots"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]

sync_api = pytest.importorskip("playwright.sync_api", reason="BROWSER TESTS SKIPPED: playwright is not installed")
if not CHROMIUM.exists():
    pytest.skip("BROWSER TESTS SKIPPED: /usr/bin/chromium is missing (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="sentry-chromium-")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), args=ARGS,
                                                        headless=True, viewport={"width": 1100, "height": 900})
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[str]:
    with live_server(create_app(make_settings())) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    # the pages must live within their Content-Security-Policy: a blocked inline style or script is a broken page
    tab.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield tab
    tab.close()
    assert errors == []  # no script error, no failed (e.g. external) request


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_demo_page_upload_shows_the_verdict(page: Any, server: str, tmp_path: Path) -> None:
    image = tmp_path / "holiday.png"
    image.write_bytes(image_bytes(noise_image((96, 64), seed=5)))
    page.goto(server + "/")
    _shot(page, "demo-empty")
    page.get_by_label("Image file").set_input_files(str(image))
    page.get_by_role("button", name="Check image").click()
    page.wait_for_selector("[data-testid=verdict]")
    assert page.text_content("[data-testid=file-name]") == "holiday.png"
    shown = page.text_content("[data-testid=probability]") or ""
    import httpx2

    api = httpx2.post(server + "/api/v1/detect", files={"file": ("holiday.png", image.read_bytes())}).json()
    assert shown == f"{round(100 * api['verdicts'][0]['ai_probability'])}%"
    assert page.text_content("[data-testid=verdict]") == api["verdicts"][0]["verdict"]
    assert page.evaluate("document.activeElement.id") == "result"  # focus moves to the result for screen readers
    _shot(page, "demo-result")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "demo-result-phone")
    page.set_viewport_size({"width": 1100, "height": 900})


def _hex(rgb: str) -> str:
    """``rgb(122, 82, 0)`` -> ``#7a5200``."""
    return "#" + "".join(f"{int(v):02x}" for v in re.findall(r"\d+", rgb)[:3])


def test_demo_result_draws_the_band_and_colours_the_bar_by_verdict(page: Any, make_settings: Callable[..., Settings],
                                                                    tmp_path: Path) -> None:
    # a band wide enough that the tiny model's score (about 0.55) is uncertain, narrow enough to measure its edges
    model = tiny_checkpoint(tmp_path / "wide", threshold=0.5, band=(0.1, 0.9))
    image = tmp_path / "street.png"
    image.write_bytes(image_bytes(noise_image((96, 64), seed=5)))
    with live_server(create_app(make_settings(model=str(model)))) as server:
        page.goto(server + "/")
        page.get_by_label("Image file").set_input_files(str(image))
        page.get_by_role("button", name="Check image").click()
        page.wait_for_selector("[data-testid=score-bar]")
        assert page.text_content("[data-testid=verdict]") == "uncertain"
        track = page.locator(".bar-track").bounding_box()
        band = page.locator("[data-testid=band]").bounding_box()
        assert track is not None and band is not None and track["width"] > 200
        assert (band["x"] - track["x"]) / track["width"] == pytest.approx(0.1, abs=0.01)  # as drawn on screen
        assert (band["x"] + band["width"] - track["x"]) / track["width"] == pytest.approx(0.9, abs=0.01)
        colours = page.evaluate("() => { const s = getComputedStyle(document.documentElement);"
                                " return ['--ai', '--real', '--unsure'].map(v => s.getPropertyValue(v).trim()); }")
        fill = _hex(page.locator("[data-testid=score-fill]").evaluate("el => getComputedStyle(el).fill"))
        assert fill == colours[2] and fill not in colours[:2]  # the stylesheet's uncertain colour reached the bar
        # what a screen reader gets: the bar's accessible name and the legend's words
        bar = page.get_by_role("img", name=re.compile(r"AI probability 55%, inside the uncertain band"))
        assert bar.count() == 1
        assert page.get_by_text(re.compile(r"Uncertain band: 10%\s+to 90%")).is_visible()
        assert "The detector is sometimes wrong" in (page.text_content("[data-testid=caveat]") or "")
        _shot(page, "demo-result-uncertain")


def test_questionnaire_to_the_end(page: Any, server: str) -> None:
    page.goto(server + "/survey")
    page.get_by_role("button", name="Start").click()
    for pos in range(8):
        page.wait_for_selector(f"text=Image {pos + 1} of 8")
        image = page.locator(".survey-image img")
        image.wait_for()
        deadline = time.monotonic() + 30
        while not image.evaluate("img => img.complete && img.naturalWidth > 0"):  # it loaded
            assert time.monotonic() < deadline, "the questionnaire image never loaded"
            page.wait_for_timeout(50)
        if pos == 0:
            _shot(page, "survey-item")
            page.focus("input[value=ai]")  # keyboard only: select with Space, send with Enter
            page.keyboard.press("Space")
            page.keyboard.press("Tab")  # on to the confidence scale (nothing is pre-selected there either)
            page.keyboard.press("Space")
            page.keyboard.press("Enter")
        else:
            page.get_by_label("a real photo" if pos % 2 else "AI-generated").check()
            page.get_by_label("certain").check()
            page.get_by_role("button", name="Next").click()
    page.wait_for_selector("[data-testid=score]")
    assert " of 8" in (page.text_content("[data-testid=score]") or "")
    assert page.get_by_role("heading", name="By category").is_visible()
    _shot(page, "survey-results")


def test_leaderboard_submission_shows_the_row(page: Any, server: str) -> None:
    import httpx2

    images, labels_csv, _ = benchmark_files(24)
    files = [("labels", ("labels.csv", labels_csv, "text/csv"))]
    files += [("images", (name, data, "image/png")) for name, data in images]
    admin = {"X-Admin-Token": ADMIN}
    assert httpx2.post(server + "/api/v1/leaderboard/benchmarks", headers=admin, files=files,
                       data={"slug": "noise-24", "title": "Noise 24"}).status_code == 201
    token = httpx2.post(server + "/api/v1/leaderboard/teams", headers=admin, json={"name": "Team Lynx"}).json()["token"]
    ids = httpx2.get(server + "/api/v1/leaderboard/benchmarks/noise-24").json()["image_ids"]
    page.goto(server + "/leaderboard")
    assert "No submissions yet." in page.text_content("[data-testid=rows]")
    page.get_by_label("Team token").fill(token)
    page.get_by_label("Predictions CSV").set_input_files(
        {"name": "preds.csv", "mimeType": "text/csv", "buffer": predictions_csv(dict.fromkeys(ids, 0.5))[:-20]})
    page.get_by_role("button", name="Submit").click()
    assert "csv_" in (page.text_content("[data-testid=submit-error]") or "")  # a cut file: refused, nothing added
    page.get_by_label("Team token").fill(token)
    page.get_by_label("Predictions CSV").set_input_files(
        {"name": "preds.csv", "mimeType": "text/csv",
         "buffer": predictions_csv({i: (k % 7) / 7 for k, i in enumerate(ids)})})
    page.get_by_label("Method (optional)").fill("seven-step guess")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("[data-testid=submit-ok]")
    row = page.locator("[data-testid=rows] tbody tr").first
    assert "Team Lynx" in row.text_content() and "seven-step guess" in row.text_content()
    _shot(page, "leaderboard-row")


def test_api_docs_render_offline(page: Any, server: str) -> None:
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path")  # Swagger UI ran: its scripts came from this server
    paths = page.locator(".opblock-summary-path").all_text_contents()
    assert "/api/v1/detect" in [p.replace("\u200b", "") for p in paths]
    _shot(page, "api-docs")


def test_the_admin_page_cannot_be_framed_by_another_page(browser: Any, server: str) -> None:
    tab = browser.new_page()
    try:
        with tab.expect_console_message(lambda m: "frame-ancestors" in m.text, timeout=30_000):
            tab.set_content(f'<iframe id="victim" src="{server}/admin"></iframe>')
        frame = tab.frame_locator("#victim")
        assert frame.locator("input[name=token]").count() == 0  # the admin form never rendered inside the frame
    finally:
        tab.close()
