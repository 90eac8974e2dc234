"""The service's upload caps as set in the environment (``SENTRY_MAX_PIXELS``, ``SENTRY_MAX_UPLOAD_BYTES``): an
upload exactly at a limit gets a verdict, one pixel or one byte over is a ``too_large`` row of the response."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from tests.helpers.builders import image_bytes, noise_image

SIZE = (64, 48)
PIXELS = SIZE[0] * SIZE[1]  # 3,072


def test_uploads_at_and_one_over_the_caps_set_in_the_environment(make_settings: Callable[..., Settings],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = image_bytes(noise_image(SIZE, seed=3))  # noise: the largest file of the three
    one_pixel_over = image_bytes(Image.new("RGB", (439, 7), (120, 80, 40)))  # 3,073 pixels in a few hundred bytes
    assert len(one_pixel_over) < len(at)
    monkeypatch.setenv("SENTRY_MAX_PIXELS", str(PIXELS))
    monkeypatch.setenv("SENTRY_MAX_UPLOAD_BYTES", str(len(at)))
    settings = make_settings(survey_pool=None)
    assert (settings.max_pixels, settings.max_upload_bytes) == (PIXELS, len(at))
    files = [("file", ("at.png", at, "image/png")),
             ("file", ("pixel-over.png", one_pixel_over, "image/png")),
             ("file", ("byte-over.png", at + b"\0", "image/png"))]  # Pillow reads past a trailing byte
    with TestClient(create_app(settings)) as client:
        resp = client.post("/api/v1/detect", files=files)
    assert resp.status_code == 200, resp.text
    exact, pixel_over, byte_over = resp.json()["verdicts"]
    assert exact["error"] is None and exact["ai_probability"] is not None
    assert (exact["image"]["width"], exact["image"]["height"]) == SIZE
    assert pixel_over["error"]["code"] == "too_large" and "pixel" in pixel_over["error"]["message"]
    assert byte_over["error"]["code"] == "too_large" and "byte" in byte_over["error"]["message"]
    assert pixel_over["ai_probability"] is None and byte_over["ai_probability"] is None
