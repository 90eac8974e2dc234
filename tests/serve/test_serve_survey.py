"""HPBench questionnaire on SQLite and PostgreSQL: balance, no label before the answer is stored, no double
answers, results against crowd and detector, export, totals, and answers that outlive the server process."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sentry_image.serve.app import create_app
from sentry_image.serve.questionnaire import CATEGORIES
from sentry_image.serve.settings import Settings
from tests.helpers.serve_helpers import ADMIN, AI_TEXT

SECRET_KEYS = {"label", "truth", "category", "generator", "detector_probability", "correct"}


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _answer(client: TestClient, sid: str, position: int, answer: str = "ai", confidence: int = 4) -> Any:
    return client.post(f"/api/v1/survey/sessions/{sid}/answers",
                       json={"position": position, "answer": answer, "confidence": confidence, "response_ms": 900})


def _finish(client: TestClient, answer: str = "ai") -> dict[str, Any]:
    sid = client.post("/api/v1/survey/sessions").json()["session_id"]
    for pos in range(8):
        assert _answer(client, sid, pos, answer).status_code == 201
    return client.get(f"/api/v1/survey/sessions/{sid}/results").json()


def test_no_label_is_sent_before_its_answer_is_stored(client: TestClient) -> None:
    start = client.post("/api/v1/survey/sessions")
    assert start.status_code == 201
    sid, seen = start.json()["session_id"], [start.json()]
    for pos in range(8):
        seen.append(client.get(f"/api/v1/survey/sessions/{sid}").json())
        early = client.get(f"/api/v1/survey/sessions/{sid}/results")
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_finished"
        image = client.get(f"/api/v1/survey/sessions/{sid}/items/{pos}/image")
        assert image.headers["content-type"] == "image/png"
        # Re-encoded: no generator text chunk, no EXIF, whatever the original file carried.
        assert AI_TEXT.encode() not in image.content
        assert not Image.open(io.BytesIO(image.content)).info.get("parameters")
        stored = _answer(client, sid, pos)
        assert stored.status_code == 201 and stored.json()["stored"] is True
        seen.append(stored.json())
    assert not _keys(seen) & SECRET_KEYS
    assert seen[-1]["finished"] is True and seen[-1]["answered"] == 8


def test_sessions_are_balanced_random_and_answers_cannot_be_changed(client: TestClient) -> None:
    first, second = _finish(client, "ai"), _finish(client, "real")
    for res in (first, second):
        truths = [it["truth"] for it in res["items"]]
        assert truths.count("ai") == truths.count("real") == 4
    # Answering "ai" everywhere is right exactly on the AI half.
    assert first["correct"] == 4 and first["accuracy"] == 0.5
    orders = [[(it["category"], it["generator"], it["truth"]) for it in r["items"]] for r in (first, second)]
    third = _finish(client)
    assert len({str(o) for o in (*orders, [(i["category"], i["generator"], i["truth"]) for i in third["items"]])}) > 1
    sid = client.post("/api/v1/survey/sessions").json()["session_id"]
    assert _answer(client, sid, 0, "real").status_code == 201
    again = _answer(client, sid, 0, "ai")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_answered"
    assert _answer(client, sid, 99).json()["error"]["code"] == "item_not_found"
    bad = client.post(f"/api/v1/survey/sessions/{sid}/answers",
                      json={"position": 1, "answer": "maybe", "confidence": 9})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert client.get("/api/v1/survey/sessions/nope").json()["error"]["code"] == "session_not_found"
    assert client.get(f"/api/v1/survey/sessions/{sid}").json()["answered"] == 1
    with ThreadPoolExecutor(4) as pool:  # racing requests for one position: the database keeps exactly one
        codes = sorted(r.status_code for r in pool.map(lambda a: _answer(client, sid, 1, a), ["ai", "real"] * 2))
    assert codes == [201, 409, 409, 409]


def test_results_compare_with_crowd_and_detector_per_category_and_generator(client: TestClient) -> None:
    _finish(client, "real")
    res = _finish(client, "ai")
    assert res["crowd"]["sessions"] == 2 and sum(res["crowd"]["histogram"]) == 2
    assert res["crowd"]["mean_accuracy"] == 0.5
    assert set(res["by_category"]) <= set(CATEGORIES)
    assert sum(g["n"] for g in res["by_category"].values()) == 8
    assert set(res["by_generator"]) <= {"camera", "sdxl", "midjourney-v6"}
    camera = res["by_generator"].get("camera")
    assert camera is not None and camera["you"] == 0.0  # every photo was called AI
    assert camera["crowd"] is not None and 0.0 <= camera["crowd"] <= 1.0
    items = res["items"]
    assert all(0.0 <= it["detector_probability"] <= 1.0 for it in items)
    det_acc = sum((it["detector_probability"] >= 0.5) == (it["truth"] == "ai") for it in items) / 8
    assert res["detector"]["accuracy"] == det_acc


def test_export_and_totals_are_for_the_admin(client: TestClient) -> None:
    _finish(client)
    sid = client.post("/api/v1/survey/sessions").json()["session_id"]
    _answer(client, sid, 0)
    assert client.get("/api/v1/survey/export.csv").status_code == 401
    resp = client.get("/api/v1/survey/export.csv", headers={"X-Admin-Token": ADMIN})
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == 9 and rows[0]["label"] in {"real", "ai"} and rows[0]["confidence"] == "4"
    assert {r["category"] for r in rows} <= set(CATEGORIES) and all(r["response_ms"] == "900" for r in rows)
    totals = client.get("/api/v1/survey/totals", headers={"X-Admin-Token": ADMIN}).json()
    assert (totals["sessions"], totals["finished_sessions"], totals["answers"], totals["pool_images"]) == (2, 1, 9, 32)
    page = client.post("/admin", data={"token": ADMIN})
    assert page.status_code == 200 and '<dd data-testid="answers">9</dd>' in page.text
    assert "<title>Admin · Sentry-Image</title>" in page.text
    exported = client.post("/admin/export.csv", data={"token": ADMIN})
    assert exported.headers["content-type"].startswith("text/csv") and exported.text == resp.text
    assert client.post("/admin", data={"token": "wrong"}).status_code == 401


def test_answers_survive_a_restart(make_settings: Callable[..., Settings], db_url: str) -> None:
    settings = make_settings(db_url)
    with TestClient(create_app(settings)) as first:
        sid = first.post("/api/v1/survey/sessions").json()["session_id"]
        for pos in range(3):
            _answer(first, sid, pos)
    with TestClient(create_app(make_settings(db_url))) as second:  # a new process would see the same
        state = second.get(f"/api/v1/survey/sessions/{sid}").json()
        assert (state["answered"], state["next_position"]) == (3, 3)
        assert _answer(second, sid, 1).json()["error"]["code"] == "already_answered"
        for pos in range(3, 8):
            _answer(second, sid, pos)
        assert second.get(f"/api/v1/survey/sessions/{sid}/results").json()["item_count"] == 8


def test_survey_pages_work_without_javascript(sqlite_client: TestClient) -> None:
    start = sqlite_client.post("/survey/start", follow_redirects=False)
    assert start.status_code == 303
    url = start.headers["location"]
    for pos in range(8):
        page = sqlite_client.get(url).text
        assert f"Image {pos + 1} of 8" in page and '<legend>This image is…</legend>' in page
        sid = url.rsplit("/", 1)[1]
        assert f'action="{url}"' in page and f'src="/api/v1/survey/sessions/{sid}/items/{pos}/image"' in page
        sqlite_client.post(url, data={"position": str(pos), "answer": "real", "confidence": "2", "response_ms": ""})
    sqlite_client.post(url, data={"position": "7", "answer": "ai", "confidence": "2"})  # a resent form: ignored
    final = sqlite_client.get(url).text
    assert "You were right on" in final and "4 of 8" in final


def test_empty_pool_is_a_clear_error(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(survey_pool=None))) as c:
        resp = c.post("/api/v1/survey/sessions")
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "pool_empty"


@pytest.mark.parametrize("label", ["maybe", ""])
def test_pool_manifest_with_bad_labels_is_refused(tmp_path: Any, label: str) -> None:
    from sentry_image.serve.questionnaire import read_pool

    (tmp_path / "manifest.csv").write_text(f"path,label\na.png,{label}\n")
    with pytest.raises(ValueError, match="label must be real or ai"):
        read_pool(tmp_path)
