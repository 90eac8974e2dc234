"""The byte and pixel caps at their edges: an input exactly at a limit is decoded, one byte or one pixel over is
``too_large``, in the decoder and in the detector's rows (where the service's ``SENTRY_MAX_*`` settings land)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sentry_image import Verdict, load_detector
from sentry_image.detect import Detector, Source
from sentry_image.imaging import ImageError, decode_image, decode_pil, load_image
from sentry_image.imaging import decode as decode_module
from sentry_image.imaging.decode import read_image_bytes
from tests.helpers.builders import image_bytes, noise_image

pytestmark = pytest.mark.core  # decoding and the shipped default run on the core install

SIZE = (64, 48)
PIXELS = SIZE[0] * SIZE[1]  # 3,072
ONE_OVER = (439, 7)  # 3,073 pixels: one more than SIZE


def code(call: Callable[[], object]) -> str:
    """``ok`` or the ImageError code of ``call()``."""
    try:
        call()
    except ImageError as exc:
        return exc.code
    return "ok"


def row_code(verdict: Verdict) -> str:
    """``ok`` or the error code of a detector row."""
    return "ok" if verdict.error is None else verdict.error.code


@pytest.fixture(scope="module")
def png() -> bytes:
    return image_bytes(noise_image(SIZE, seed=5))


def test_pixel_cap_in_the_header_check(png: bytes) -> None:
    assert code(lambda: decode_image(png, max_pixels=PIXELS)) == "ok"
    assert code(lambda: decode_image(png, max_pixels=PIXELS - 1)) == "too_large"
    one_over = image_bytes(noise_image(ONE_OVER, seed=6))
    assert code(lambda: decode_image(one_over, max_pixels=PIXELS)) == "too_large"
    assert code(lambda: decode_image(one_over, max_pixels=PIXELS + 1)) == "ok"


def test_pixel_cap_of_an_opened_image() -> None:
    image = noise_image(SIZE, seed=5)
    assert code(lambda: decode_pil(image, max_pixels=PIXELS)) == "ok"
    assert code(lambda: decode_pil(image, max_pixels=PIXELS - 1)) == "too_large"


def test_byte_cap_on_bytes(png: bytes) -> None:
    assert code(lambda: decode_image(png, max_bytes=len(png))) == "ok"
    assert code(lambda: decode_image(png, max_bytes=len(png) - 1)) == "too_large"


def test_byte_cap_on_a_file(png: bytes, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png)
    assert read_image_bytes(path, max_bytes=len(png)) == png
    assert code(lambda: read_image_bytes(path, max_bytes=len(png) - 1)) == "too_large"
    assert code(lambda: load_image(path, max_bytes=len(png))) == "ok"
    assert code(lambda: load_image(path, max_bytes=len(png) - 1)) == "too_large"


def test_a_file_that_grows_past_the_cap_after_its_size_check_is_too_large(png: bytes, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The size check passed on a file of exactly the cap; the read then finds one byte more.
    path = tmp_path / "growing.png"
    path.write_bytes(png + b"\0")
    monkeypatch.setattr(decode_module, "_check_regular", lambda *_: None)
    assert code(lambda: read_image_bytes(path, max_bytes=len(png))) == "too_large"
    assert read_image_bytes(path, max_bytes=len(png) + 1) == png + b"\0"


@pytest.fixture(scope="module")
def model_detector() -> Detector:
    return load_detector(provenance=False)


def capped(detector: Detector, *, max_pixels: int, max_bytes: int) -> Detector:
    return Detector(detector.model, provenance=False, max_pixels=max_pixels, max_bytes=max_bytes)


@pytest.mark.parametrize("form", ["path", "bytes", "pil"])
def test_detector_rows_at_and_one_pixel_over_the_pixel_cap(model_detector: Detector, png: bytes, tmp_path: Path,
                                                           form: str) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png)
    sources: dict[str, Source] = {"path": path, "bytes": png, "pil": noise_image(SIZE, seed=5)}
    source = sources[form]
    at = capped(model_detector, max_pixels=PIXELS, max_bytes=10**6).detect(source)
    assert row_code(at) == "ok" and at.ai_probability is not None
    assert at.image is not None and (at.image["width"], at.image["height"]) == SIZE
    over = capped(model_detector, max_pixels=PIXELS - 1, max_bytes=10**6).detect(source)
    assert row_code(over) == "too_large" and over.error is not None and "pixel" in over.error.message
    assert over.ai_probability is None and over.verdict is None


@pytest.mark.parametrize("form", ["path", "bytes"])
def test_detector_rows_at_and_one_byte_over_the_byte_cap(model_detector: Detector, png: bytes, tmp_path: Path,
                                                         form: str) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png)
    source: Source = path if form == "path" else png
    at = capped(model_detector, max_pixels=10**6, max_bytes=len(png)).detect(source)
    assert row_code(at) == "ok" and at.ai_probability is not None
    over = capped(model_detector, max_pixels=10**6, max_bytes=len(png) - 1).detect(source)
    assert row_code(over) == "too_large" and over.error is not None and "byte" in over.error.message
    assert over.ai_probability is None and over.verdict is None


def test_load_detector_passes_its_caps_on(png: bytes) -> None:
    assert row_code(load_detector(provenance=False, max_pixels=PIXELS, max_bytes=len(png)).detect(png)) == "ok"
    assert row_code(load_detector(provenance=False, max_pixels=PIXELS - 1).detect(png)) == "too_large"
    assert row_code(load_detector(provenance=False, max_bytes=len(png) - 1).detect(png)) == "too_large"
