"""The demo page's picture of the checked image: the map of where the detector looked, or a thumbnail."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from sentry_image.serve.pictures import CAPTION, result_picture
from sentry_image.types import Region, Verdict, VerdictLabel
from tests.helpers.builders import image_bytes, noise_image

DATA_URL = re.compile(r'<img src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"')


def pictures(page: str) -> list[tuple[str, Image.Image, str]]:
    """The inlined images of a page: mime type, decoded picture, alt text."""
    return [(mime, Image.open(io.BytesIO(base64.b64decode(data))), alt) for mime, data, alt in DATA_URL.findall(page)]


def test_demo_result_shows_the_region_map_beside_the_verdict(sqlite_client: TestClient) -> None:
    png = image_bytes(noise_image((96, 64), seed=5))
    api = sqlite_client.post("/api/v1/detect", files={"file": ("a.png", png)}).json()["verdicts"][0]
    assert api["regions"]  # the tiny model scores crops: each is a region
    page = sqlite_client.post("/", files={"file": ("a.png", png, "image/png")}).text
    found = pictures(page)
    assert len(found) == 1
    mime, picture, alt = found[0]
    assert mime == "image/png" and 'data-testid="overlay"' in page
    assert picture.width >= 256 and picture.height > picture.width * 64 / 96  # the legend strip below the map
    assert "regions the detector scored" in alt or "one region the detector scored" in alt
    assert CAPTION in page and f"{round(100 * api['ai_probability'])}%" in page


def test_demo_result_without_regions_shows_a_thumbnail(sqlite_client: TestClient) -> None:
    sqlite_client.app.state.detector.explain = False  # type: ignore[attr-defined]  # a model that draws no map
    jpeg = image_bytes(noise_image((640, 400), seed=6), "JPEG", quality=90)
    page = sqlite_client.post("/", files={"file": ("b.jpg", jpeg, "image/jpeg")}).text
    [(mime, picture, alt)] = pictures(page)
    assert mime == "image/jpeg" and max(picture.size) == 256 and "b.jpg" in alt
    assert 'data-testid="thumbnail"' in page and CAPTION not in page


def test_demo_result_of_a_file_that_is_no_image_has_no_picture(sqlite_client: TestClient) -> None:
    page = sqlite_client.post("/", files={"file": ("x.txt", b"not an image")}).text
    assert "Could not check this file" in page and "data:image" not in page


def test_picture_of_hand_made_regions_is_a_png_map_with_a_described_spread() -> None:
    image = Image.fromarray(np.zeros((200, 400, 3), dtype=np.uint8))
    verdict = Verdict(path="c.png", ai_probability=0.6, verdict=VerdictLabel.AI, threshold=0.5, model="m@1",
                      image={"format": "PNG", "width": 400, "height": 200},
                      regions=[Region(0, 0, 200, 200, 0.05), Region(200, 0, 200, 200, 0.95)])
    picture = result_picture(verdict, image_bytes(image), max_pixels=10_000_000)
    assert picture is not None and picture["kind"] == "overlay"
    assert picture["src"].startswith("data:image/png;base64,") and "from 5% to 95%" in picture["alt"]
    drawn = Image.open(io.BytesIO(base64.b64decode(picture["src"].split(",", 1)[1]))).convert("RGB")
    arr = np.asarray(drawn, dtype=np.int16)[:200]
    assert (arr[:, 210:, 0] - arr[:, 210:, 2]).mean() > 0 > (arr[:, :190, 0] - arr[:, :190, 2]).mean()
    failed = Verdict.failed("d.png", "not_an_image", "not a recognised image format")
    assert result_picture(failed, b"junk", max_pixels=10_000_000) is None
