"""URLs as inputs: kept in their place by ``iter_sources`` and fetched, then judged, by the detector's threads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from sentry_image import load_detector
from sentry_image.detect import Detector
from sentry_image.imaging import ImageError
from sentry_image.imaging.fetch import FetchOptions, RemoteImage
from sentry_image.imaging.inputs import iter_sources
from tests.helpers.builders import write_image
from tests.imaging.loopback import JPEG, PNG, LoopbackServer, serve_loopback

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras): the shipped default is ONNX


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve_loopback() as started:
        yield started


@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_detector(max_bytes=100_000)  # a small cap, so /huge is cut short quickly


def test_urls_keep_their_place_among_paths(tmp_path: Path) -> None:
    write_image(tmp_path / "folder" / "b.png", seed=1)
    write_image(tmp_path / "a.png", seed=2)
    options = FetchOptions(read_timeout=3.0)
    args: list[str | Path] = ["https://host/x.jpg", str(tmp_path / "a.png"), str(tmp_path / "folder"),
                              "ftp://host/y.png", "HTTP://host/z.png", Path("http://host/p.png")]
    items = list(iter_sources(args, fetch=options))
    assert items[0] == RemoteImage("https://host/x.jpg", options) and items[0].options.read_timeout == 3.0
    assert items[1:3] == [tmp_path / "a.png", tmp_path / "folder" / "b.png"]
    assert isinstance(items[3], ImageError) and items[3].code == "fetch_failed" and items[3].path == "ftp://host/y.png"
    assert items[4] == RemoteImage("HTTP://host/z.png", options)
    # A Path is never a URL (it has folded the "//" anyway): it is looked up on disk like any other.
    assert isinstance(items[5], ImageError) and items[5].code == "not_found"


def test_an_existing_path_that_looks_like_another_scheme_is_still_a_path(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "s3:").mkdir()
    write_image(tmp_path / "s3:" / "bucket.png")
    monkeypatch.chdir(tmp_path)
    assert list(iter_sources(["s3://bucket.png"])) == [Path("s3://bucket.png")]


def test_fetched_images_are_judged_like_their_bytes(server: LoopbackServer, detector: Detector) -> None:
    urls = [server.url("/img.png"), server.url("/chain/1")]
    rows = list(detector.detect_many([RemoteImage(urls[0]), urls[1]], workers=2))  # a plain str URL works too
    expected = detector.detect(PNG, name="x")
    for row, url in zip(rows, urls, strict=True):
        assert row.ok and row.path == url
        assert row.ai_probability == expected.ai_probability and row.image == expected.image
    jpeg = detector.detect(server.url("/img.jpg"))
    assert jpeg.ok and jpeg.image is not None and jpeg.image["format"] == "JPEG" and jpeg.image["bytes"] == len(JPEG)


def test_every_failure_is_a_row_named_by_its_url(server: LoopbackServer, detector: Detector) -> None:
    names = ["/text", "/missing", "/loop", "/huge", "/declared", "/to?u=" + quote("ftp://host/x.png")]
    rows = list(detector.detect_many([server.url(n) for n in names], workers=2))
    assert [r.path for r in rows] == [server.url(n) for n in names]
    assert [r.error.code if r.error else None for r in rows] == [
        "not_an_image", "fetch_failed", "fetch_failed", "too_large", "too_large", "fetch_failed"]
    assert all(r.ai_probability is None and r.verdict is None for r in rows)


def test_a_read_timeout_is_a_row(server: LoopbackServer, detector: Detector) -> None:
    row = detector.detect(RemoteImage(server.url("/slow"), FetchOptions(read_timeout=0.3)))
    assert row.error is not None and row.error.code == "fetch_failed" and "timed out" in row.error.message


def test_urls_download_in_parallel_on_the_decoding_threads(server: LoopbackServer, detector: Detector) -> None:
    # /barrier answers only while two requests wait on it together: fetched one after the other, the first would
    # fail with 503 once the barrier gives up. No time is measured.
    rows = list(detector.detect_many([server.url("/barrier"), server.url("/barrier")], workers=2))
    assert [r.error for r in rows] == [None, None]
