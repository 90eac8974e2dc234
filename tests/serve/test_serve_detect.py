"""Detect API, health, models, error envelope and upload limits (HTTP through the ASGI app, real images)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import PngImagePlugin

from sentry_image.detect import load_detector
from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from tests.helpers.builders import image_bytes, noise_image
from tests.helpers.serve_helpers import bomb_png

VERDICT_KEYS = {"path", "ai_probability", "verdict", "threshold", "model", "signals", "decided_by", "reasons", "image",
                "error", "regions"}


@pytest.fixture
def small_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """Tight limits: 40 kB per image, 2 images per request."""
    with TestClient(create_app(make_settings(max_upload_bytes=40_000, max_files=2, survey_pool=None))) as c:
        yield c


def test_health_and_models_report_the_loaded_model_without_server_paths(sqlite_client: TestClient,
                                                                          tiny_model: Path) -> None:
    health = sqlite_client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["database"] == "ok" and health["model"] == "tiny@t1"
    models = sqlite_client.get("/api/v1/models")
    assert models.json()["loaded"]["model"] == "tiny@t1" and models.json()["loaded"]["threshold"] == 0.5
    assert str(tiny_model) not in models.text and "/tmp" not in models.text


def test_detect_returns_the_cli_verdict_for_each_file_in_order(sqlite_client: TestClient, tiny_model: Path) -> None:
    png = image_bytes(noise_image((64, 48), seed=3))
    files = [("file", ("dir/../a.png", png, "image/png")),
             ("file", ("notes.txt", b"hello, not an image", "text/plain")),
             ("file", ("b.jpg", image_bytes(noise_image((40, 40), seed=4), "JPEG"), "image/jpeg"))]
    resp = sqlite_client.post("/api/v1/detect", files=files)
    assert resp.status_code == 200
    rows = resp.json()["verdicts"]
    assert [r["path"] for r in rows] == ["a.png", "notes.txt", "b.jpg"]  # folders in client names are dropped
    assert all(set(r) == VERDICT_KEYS for r in rows)
    expected = load_detector(str(tiny_model)).detect(png, name="a.png").to_dict()
    assert rows[0]["ai_probability"] == expected["ai_probability"] and rows[0]["verdict"] == expected["verdict"]
    assert rows[1]["error"]["code"] == "not_an_image" and rows[1]["ai_probability"] is None
    assert rows[0]["regions"] and rows[1]["regions"] is None  # the service's detector draws maps for the demo
    assert rows[2]["error"] is None and rows[2]["image"]["format"] == "JPEG"


def test_oversized_file_is_refused_without_being_decoded(small_client: TestClient) -> None:
    # 45 kB of garbage: decoding would say not_an_image; too_large proves the size check came first.
    resp = small_client.post("/api/v1/detect", files={"file": ("big.png", b"\x89PNG" + b"\0" * 45_000)})
    assert resp.json()["verdicts"][0]["error"]["code"] == "too_large"


def test_declared_pixel_bomb_is_refused_from_its_header(small_client: TestClient) -> None:
    resp = small_client.post("/api/v1/detect", files={"file": ("bomb.png", bomb_png(), "image/png")})
    row = resp.json()["verdicts"][0]
    assert row["error"]["code"] == "too_large" and "pixel" in row["error"]["message"]


def test_request_body_over_the_cap_gets_413_json_before_parsing(small_client: TestClient) -> None:
    declared = small_client.post("/api/v1/detect", files={"file": ("x.png", b"\0" * 200_000)})
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream is counted and cut off
        for _ in range(50):
            yield b"\0" * 10_000

    streamed = small_client.post("/api/v1/detect", content=chunks(),
                                 headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"files": [("file", (f"{i}.png", b"x", "image/png")) for i in range(3)]}, 413, "too_many_files"),
    ({"data": {"other": "1"}}, 422, "invalid_request"),
])
def test_request_errors_are_json_with_a_code(small_client: TestClient, kwargs: dict[str, object], status: int,
                                             code: str) -> None:
    resp = small_client.post("/api/v1/detect", **kwargs)  # type: ignore[arg-type]
    assert resp.status_code == status and resp.json()["error"]["code"] == code


def test_unknown_route_and_wrong_method_use_the_error_envelope(sqlite_client: TestClient) -> None:
    assert sqlite_client.get("/api/v1/nope").json() == {"error": {"code": "not_found", "message": "Not Found"}}
    assert sqlite_client.get("/api/v1/detect").json()["error"]["code"] == "method_not_allowed"


def test_openapi_and_docs_are_served_and_list_the_api(sqlite_client: TestClient) -> None:
    paths = sqlite_client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/detect", "/api/v1/health", "/api/v1/models", "/api/v1/leaderboard/benchmarks/{slug}/rows",
                 "/api/v1/survey/sessions"):
        assert path in paths
    docs = sqlite_client.get("/docs").text
    assert "swagger" in docs.lower() and "https://" not in docs and "cdn" not in docs  # works offline
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        src = docs.split(asset)[0].rsplit("'", 1)[-1].rsplit('"', 1)[-1] + asset
        assert src.startswith("/") and sqlite_client.get(src).status_code == 200


def test_demo_page_shows_probability_verdict_and_meaning(sqlite_client: TestClient) -> None:
    page = sqlite_client.get("/")
    assert '<label for="file">' in page.text and 'name="file"' in page.text and "https://" not in page.text
    png = image_bytes(noise_image((64, 48), seed=3))
    api = sqlite_client.post("/api/v1/detect", files={"file": ("a.png", png)}).json()["verdicts"][0]
    result = sqlite_client.post("/", files={"file": ("a.png", png, "image/png")})
    assert result.status_code == 200
    assert f"{round(100 * api['ai_probability'])}%" in result.text and api["verdict"] in result.text
    assert "No content credentials, watermark or generator notes were found" in result.text
    broken = sqlite_client.post("/", files={"file": ("x.txt", b"not an image")})
    assert "Could not check this file" in broken.text and "not_an_image" in broken.text
    assert "No content credentials" not in broken.text  # nothing was read, so nothing is claimed about marks


class _PageFacts(HTMLParser):
    """Collects what the accessibility checks need: title text, h1 count, labelled ids, form controls."""

    def __init__(self) -> None:
        super().__init__()
        self.title, self.in_title, self.h1 = "", False, 0
        self.labels: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.in_title = tag == "title" or self.in_title
        self.h1 += tag == "h1"
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
        for key in ("src", "href"):
            value = a.get(key) or ""
            if value.startswith(("http://", "https://", "//")):
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        self.in_title = self.in_title and tag != "title"

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data


@pytest.mark.parametrize("path", ["/", "/leaderboard", "/survey", "/admin"])
def test_pages_are_accessible_and_offline(sqlite_client: TestClient, path: str) -> None:
    page = sqlite_client.get(path)
    assert page.status_code == 200 and '<html lang="en">' in page.text and 'name="viewport"' in page.text
    facts = _PageFacts()
    facts.feed(page.text)
    assert facts.title.endswith("· Sentry-Image") and "<" not in facts.title and facts.h1 == 1
    assert facts.external == []  # no CDN: the service must work offline
    for control in facts.controls:  # radios sit inside their <label>; every other control has a label for its id
        assert control.get("type") == "radio" or control.get("id") in facts.labels, control


def test_demo_page_says_when_the_files_own_marks_decide(sqlite_client: TestClient) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x48, Model: sdxl")
    png = image_bytes(noise_image((64, 48), seed=9), pnginfo=info)
    row = sqlite_client.post("/api/v1/detect", files={"file": ("gen.png", png)}).json()["verdicts"][0]
    assert row["verdict"] == "ai-generated" and row["decided_by"] == "provenance:metadata"
    page = sqlite_client.post("/", files={"file": ("gen.png", png, "image/png")}).text
    assert "Likely AI-generated" in page and "The file itself carries a mark of its origin" in page
    assert "points to AI generation (strong evidence)" in page
