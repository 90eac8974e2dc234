"""The questionnaire gives nothing away and does not flatter the detector: one square size and format for every
image, no pre-selected answer, and the detector compared with people only on images it did not train on."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from sentry_image.data.parts import file_sha256
from sentry_image.models.training_record import write_training_record
from sentry_image.serve.app import create_app
from sentry_image.serve.questionnaire import display_png, read_pool
from sentry_image.serve.settings import Settings
from tests.helpers.serve_helpers import ADMIN, png_chunks

PIXELS_ONLY = {"IHDR", "IDAT", "IEND"}  # no tEXt/iTXt/zTXt, eXIf, iCCP, pHYs, tIME...


class _Radios(HTMLParser):
    """The radio buttons of a page: name, value, and which boolean attributes they carry."""

    def __init__(self) -> None:
        super().__init__()
        self.radios: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "radio":
            self.radios.append(found)


def _radios(html: str) -> list[dict[str, str | None]]:
    parser = _Radios()
    parser.feed(html)
    return parser.radios


def test_every_image_is_shown_as_one_square_size_without_metadata(make_settings: Callable[..., Settings],
                                                                  pool_manifest: Path) -> None:
    rows = read_pool(pool_manifest)
    stored = {label: {(Image.open(r.path).size, Image.open(r.path).format) for r in rows if r.label == label}
              for label in (0, 1)}
    assert not {s for s, _ in stored[0]} & {s for s, _ in stored[1]}  # the files' sizes give the label away
    assert {f for _, f in stored[0]} == {"JPEG"} and {f for _, f in stored[1]} == {"PNG", "WEBP"}
    for row in rows:
        png = display_png(str(row.path), 96)
        shown = Image.open(io.BytesIO(png))
        assert (shown.format, shown.size, shown.mode) == ("PNG", (96, 96), "RGB"), row.key
        assert set(png_chunks(png)) <= PIXELS_ONLY, (row.key, png_chunks(png))  # the photos carry EXIF and ICC
    with TestClient(create_app(make_settings(survey_side=96))) as c:
        sid = c.post("/api/v1/survey/sessions").json()["session_id"]
        page = c.get(f"/survey/s/{sid}").text
        assert 'width="96" height="96"' in page
        for pos in range(8):
            png = c.get(f"/api/v1/survey/sessions/{sid}/items/{pos}/image").content
            assert Image.open(io.BytesIO(png)).size == (96, 96) and set(png_chunks(png)) <= PIXELS_ONLY


def test_the_form_preselects_nothing_and_a_missing_choice_gets_a_message(sqlite_client: TestClient) -> None:
    url = sqlite_client.post("/survey/start", follow_redirects=False).headers["location"]
    sid = url.rsplit("/", 1)[1]
    radios = _radios(sqlite_client.get(url).text)
    assert {r["value"] for r in radios if r["name"] == "answer"} == {"real", "ai"}
    assert {r["value"] for r in radios if r["name"] == "confidence"} == {"1", "2", "3", "4", "5"}
    assert not [r for r in radios if "checked" in r]
    # the browser refuses to send the form with either group empty
    assert {r["name"] for r in radios if "required" in r} == {"answer", "confidence"}

    no_confidence = sqlite_client.post(url, data={"position": "0", "answer": "ai", "response_ms": "1200"})
    assert no_confidence.status_code == 422 and no_confidence.headers["content-type"].startswith("text/html")
    assert "Please choose how sure you are, then press Next." in no_confidence.text
    kept = _radios(no_confidence.text)
    assert [r["value"] for r in kept if "checked" in r] == ["ai"]  # the participant's own choice, kept
    nothing = sqlite_client.post(url, data={"position": "0", "confidence": "9"})
    assert nothing.status_code == 422 and "Please choose whether the image is a real photo or AI-generated and " \
                                          "how sure you are" in nothing.text
    assert not [r for r in _radios(nothing.text) if "checked" in r]
    assert sqlite_client.get(f"/api/v1/survey/sessions/{sid}").json()["answered"] == 0

    done = sqlite_client.post(url, data={"position": "0", "answer": "ai", "confidence": "3"}, follow_redirects=False)
    assert done.status_code == 303
    assert sqlite_client.get(f"/api/v1/survey/sessions/{sid}").json()["answered"] == 1
    assert "Image 2 of 8" in sqlite_client.get(url).text


def _model_trained_on(tiny_model: Path, folder: Path, paths: list[Path]) -> Path:
    shutil.copytree(tiny_model, folder)
    write_training_record(folder, {file_sha256(p) for p in paths})
    return folder


def _finish_all(c: TestClient) -> tuple[str, dict[str, Any]]:
    sid = c.post("/api/v1/survey/sessions").json()["session_id"]
    for pos in range(32):
        stored = c.post(f"/api/v1/survey/sessions/{sid}/answers",
                        json={"position": pos, "answer": "ai" if pos % 3 else "real", "confidence": 2})
        assert stored.status_code == 201
    return sid, c.get(f"/api/v1/survey/sessions/{sid}/results").json()


def test_the_detector_is_compared_only_on_images_it_did_not_train_on(
        make_settings: Callable[..., Settings], tiny_model: Path, pool_manifest: Path, db_url: str,
        tmp_path: Path) -> None:
    rows = read_pool(pool_manifest)
    trained = {r.key for i, r in enumerate(rows) if i % 2 == 0}  # half of the photos and half of the AI images
    half = _model_trained_on(tiny_model, tmp_path / "half", [r.path for r in rows if r.key in trained])
    with TestClient(create_app(make_settings(db_url, model=str(half), survey_length=32))) as c:
        sid, res = _finish_all(c)  # a session of the whole pool: every image, both halves
        export = csv.DictReader(io.StringIO(c.get("/api/v1/survey/export.csv", headers={"X-Admin-Token": ADMIN}).text))
        key_at = {int(r["position"]): r["image"] for r in export}
        page = c.get(f"/survey/s/{sid}").text
    items = res["items"]
    held = [it for it in items if key_at[it["position"]] not in trained]
    assert len(held) == 16
    right = sum((it["detector_probability"] >= res["detector"]["threshold"]) == (it["truth"] == "ai") for it in held)
    det = res["detector"]
    assert (det["compared"], det["trained_on"], det["record_missing"]) == (16, 16, False)
    assert det["accuracy"] == round(right / 16, 4)
    assert det["you"] == round(sum(it["correct"] for it in held) / 16, 4)
    assert sum(g["detector_n"] for g in res["by_category"].values()) == 16
    assert {it["position"] for it in items if it["detector_trained"]} == {p for p, k in key_at.items() if k in trained}
    assert "On the 16 of these images that the detector" in page and "The 16 images it trained on are left out" in page

    everything = _model_trained_on(tiny_model, tmp_path / "all", [r.path for r in rows])
    with TestClient(create_app(make_settings(db_url, model=str(everything), survey_length=32))) as c:
        res = c.get(f"/api/v1/survey/sessions/{sid}/results").json()  # the pool is re-marked for this detector
        page = c.get(f"/survey/s/{sid}").text
    assert (res["detector"]["compared"], res["detector"]["accuracy"], res["detector"]["trained_on"]) == (0, None, 32)
    assert "No comparison with the detector" in page and "it trained on all 32 of" in page


def test_a_detector_without_a_record_is_compared_with_a_warning(sqlite_client: TestClient) -> None:
    sid = sqlite_client.post("/api/v1/survey/sessions").json()["session_id"]
    for pos in range(8):
        sqlite_client.post(f"/api/v1/survey/sessions/{sid}/answers",
                           json={"position": pos, "answer": "ai", "confidence": 5})
    det = sqlite_client.get(f"/api/v1/survey/sessions/{sid}/results").json()["detector"]
    assert (det["compared"], det["trained_on"], det["record_missing"]) == (8, 0, True)
    assert "does not record which images it trained on" in sqlite_client.get(f"/survey/s/{sid}").text
