"""The demo page's result view through the real app: the score bar (verdict colour, stored band and threshold),
the plain-language evidence, the note on how often the detector errs, and the region map, all within the CSP."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from tests.helpers.builders import image_bytes, noise_image, tiny_checkpoint
from tests.helpers.paths import SHARED

EXAMPLES = SHARED / "examples"
BING = EXAMPLES / "provenance-ms_bing_image_creator.jpg"
TONES = {"ai-generated": "ai", "real": "real", "uncertain": "uncertain"}


class _Svg(HTMLParser):
    """The score bar's shapes by ``data-testid`` (or class for the track): tag attributes as given."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        key = a.get("data-testid") or ("track" if "bar-track" in a.get("class", "") else "")
        if tag in ("rect", "line", "figure") and key:
            self.shapes[key] = a


def shapes(page: str) -> dict[str, dict[str, str]]:
    parser = _Svg()
    parser.feed(page)
    return parser.shapes


def text_of(page: str) -> str:
    """The page's visible words on one line (tags dropped, entities decoded, spaces squeezed)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())


def post(client: TestClient, data: bytes, name: str = "a.png") -> tuple[dict[str, Any], str]:
    """The API's verdict row and the demo page for the same upload."""
    row = client.post("/api/v1/detect", files={"file": (name, data)}).json()["verdicts"][0]
    return row, client.post("/", files={"file": (name, data, "application/octet-stream")}).text


@pytest.fixture
def app_with(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Start the app on a tiny checkpoint with the given threshold, band and recorded metrics."""
    clients: list[TestClient] = []

    def start(threshold: float = 0.5, band: tuple[float, float] = (0.4, 0.6),
              metrics: dict[str, Any] | None = None) -> TestClient:
        folder = tiny_checkpoint(tmp_path / f"model-{len(clients)}", threshold=threshold, band=band)
        if metrics is not None:
            config = json.loads((folder / "config.json").read_text())
            (folder / "config.json").write_text(json.dumps({**config, "metrics": metrics}))
        client = TestClient(create_app(make_settings(model=str(folder))))
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize(("threshold", "band", "verdict"), [
    (0.5, (0.0, 1.0), "uncertain"),  # every probability lies strictly inside (0, 1)
    (0.0, (0.0, 0.0), "ai-generated"),  # every probability is at or above 0
    (1.0, (1.0, 1.0), "real"),  # no probability of this model reaches 1
])
def test_the_bar_takes_the_verdicts_own_colour(app_with: Callable[..., TestClient], threshold: float,
                                                band: tuple[float, float], verdict: str) -> None:
    row, page = post(app_with(threshold, band), image_bytes(noise_image((96, 64), seed=4)))
    assert row["verdict"] == verdict
    fill = shapes(page)["score-fill"]["class"].split()
    assert f"verdict-{TONES[verdict]}" in fill
    assert not {f"verdict-{t}" for t in TONES.values() if t != TONES[verdict]} & set(fill)
    assert f'class="badge verdict-{TONES[verdict]}"' in page


def test_the_drawn_band_threshold_and_score_are_the_stored_ones(app_with: Callable[..., TestClient]) -> None:
    client = app_with(0.45, (0.3, 0.7))
    row, page = post(client, image_bytes(noise_image((96, 64), seed=4)))
    found = shapes(page)
    track_x, track_w = float(found["track"]["x"]), float(found["track"]["width"])

    def at(x: str) -> float:
        return (float(x) - track_x) / track_w

    band = found["band"]
    assert at(band["x"]) == pytest.approx(0.3, abs=1e-3)
    assert at(str(float(band["x"]) + float(band["width"]))) == pytest.approx(0.7, abs=1e-3)
    assert at(found["threshold"]["x1"]) == pytest.approx(0.45, abs=1e-3)
    assert at(found["score-fill"]["width"]) == pytest.approx(row["ai_probability"], abs=1e-3)
    words = text_of(page)  # the same facts in words, not colour alone
    assert "Uncertain band: 30% to 70%" in words and "Threshold: 45%" in words
    assert f"This image: {round(100 * row['ai_probability'])}%" in words


def test_without_a_band_the_bar_draws_none_and_the_note_says_so(app_with: Callable[..., TestClient]) -> None:
    _, page = post(app_with(0.5, (0.5, 0.5)), image_bytes(noise_image((96, 64), seed=4)))
    assert "band" not in shapes(page) and "Uncertain band" not in page
    assert "This detector has no uncertain band" in text_of(page)


def test_the_note_quotes_the_checkpoints_recorded_error_figures(app_with: Callable[..., TestClient]) -> None:
    metrics = {"test_split": {"n": 300, "n_real": 200, "n_ai": 100, "threshold": 0.5,
                              "accuracy": {"overall": 0.8, "real": 0.835, "fake": 0.72, "balanced": 0.78},
                              "selective": [{"band": [0.4, 0.6], "coverage": 0.75, "selective_accuracy": 0.93}]}}
    words = text_of(post(app_with(metrics=metrics), image_bytes(noise_image((96, 64), seed=4)))[1])
    assert "The detector is sometimes wrong" in words
    assert ("Measured on 300 held-out test images it was neither trained nor calibrated on (200 real photos, 100 AI "
            "images), deciding by its threshold alone, it called 84% of the real photos real and 72% of the AI "
            "images AI.") in words
    assert ("\u201cNot sure\u201d means the score fell inside the uncertain band (40% to 60%), where its mistakes "
            "are most common. 25% of the measured images fell inside it; on the others the detector was right 93% "
            "of the time.") in words


def test_figures_recorded_for_another_band_or_none_at_all_are_not_quoted(app_with: Callable[..., TestClient]) -> None:
    stale = {"test_split": {"n": 10, "accuracy": {"real": 0.9, "fake": 0.8},
                            "selective": [{"band": [0.2, 0.8], "coverage": 0.5, "selective_accuracy": 0.99}]}}
    words = text_of(post(app_with(metrics=stale), image_bytes(noise_image((96, 64), seed=4)))[1])
    assert "90% of the real photos real" in words and "99%" not in words  # the band moved since they were recorded
    bare = text_of(post(app_with(), image_bytes(noise_image((96, 64), seed=4)))[1])
    assert "records no measured error rates" in bare and "Measured on" not in bare


def test_the_bing_c2pa_image_is_explained_in_plain_words(app_with: Callable[..., TestClient]) -> None:
    if not BING.is_file():
        pytest.skip(f"shared example not found: {BING}")
    row, page = post(app_with(), BING.read_bytes(), BING.name)
    assert row["decided_by"] == "provenance:c2pa" and row["verdict"] == "ai-generated"
    words = text_of(page)
    assert ("Signed by Microsoft Corporation with Image Creator from Designer; the signing certificate is not on "
            "this server's trust list") in words
    assert "but the content hashes are intact (the image was not changed after signing)" in words
    assert "Decided by the file's Content Credentials (C2PA); the detector's score alone would say" in words
    technical = page.split('class="finding finding-ai"', 1)[1].split("</li>", 1)[0]
    assert "validation Invalid" in technical.split("<details", 1)[1]  # the raw sentence only behind "technically"
    assert "Invisible watermark</strong>: nothing found" in page and "File metadata</strong>: nothing found" in page


def test_the_result_keeps_the_region_map_and_lives_within_the_csp(app_with: Callable[..., TestClient]) -> None:
    client = app_with()
    row, page = post(client, image_bytes(noise_image((96, 64), seed=4)))
    assert row["regions"] and 'data-testid="overlay"' in page  # the route's map, reused
    assert " style=" not in page and "<style" not in page  # the CSP forbids inline styles
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/app.js" defer>']
    csp = client.post("/", files={"file": ("a.png", image_bytes(noise_image()))}).headers["content-security-policy"]
    assert "style-src 'self';" in csp  # the bar depends on this staying strict


def test_the_shipped_default_quotes_its_out_of_fold_figures_on_real_examples(
        make_settings: Callable[..., Settings]) -> None:
    images = sorted(p for p in EXAMPLES.glob("*") if p.suffix != ".md")
    if not images:
        pytest.skip(f"shared examples not found in {EXAMPLES}")
    with TestClient(create_app(make_settings(model=None))) as client:
        detector = client.app.state.detector  # type: ignore[attr-defined]
        record = detector.config["metrics"]["out_of_fold"]
        for path in images:
            row, page = post(client, path.read_bytes(), path.name)
            words = text_of(page)
            assert f"verdict-{TONES[row['verdict']]}" in shapes(page)["score-fill"]["class"]
            low, high = detector.band
            assert f"Uncertain band: {round(100 * low)}% to {round(100 * high)}%" in words
            assert (f"Measured on {record['n']:,} images it was not trained on ({record['n_real']:,} real photos, "
                    f"{record['n_ai']:,} AI images), deciding by its threshold alone, it called "
                    f"{round(100 * record['accuracy']['real'])}% of the real photos real and "
                    f"{round(100 * record['accuracy']['fake'])}% of the AI images AI.") in words
