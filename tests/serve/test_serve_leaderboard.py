"""Leaderboard on SQLite and PostgreSQL: admin actions, hidden labels, strict CSV checks, limits, ranking."""

from __future__ import annotations

import io
import logging
import math
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import average_precision_score, roc_auc_score

from sentry_image.imaging import decode_image
from sentry_image.provenance import read_provenance
from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from tests.helpers.builders import image_bytes, noise_image
from tests.helpers.serve_helpers import (
    ADMIN,
    benchmark_files,
    camera_exif,
    camera_jpeg,
    create_team,
    generator_jpeg,
    generator_png,
    id_truth,
    labelled,
    post_benchmark,
    predictions_csv,
    register_benchmark,
)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _rows(client: TestClient, slug: str = "bench") -> list[dict[str, Any]]:
    return client.get(f"/api/v1/leaderboard/benchmarks/{slug}/rows").json()


def test_admin_actions_need_the_token(client: TestClient, make_settings: Callable[..., Settings]) -> None:
    for headers in ({}, {"X-Admin-Token": "wrong"}):
        team = client.post("/api/v1/leaderboard/teams", json={"name": "x"}, headers=headers)
        bench = client.post("/api/v1/leaderboard/benchmarks", headers=headers, data={"slug": "b", "title": "t"},
                            files={"labels": ("l.csv", b"file,label,subset\n"), "images": ("a.png", b"x")})
        export = client.get("/api/v1/survey/export.csv", headers=headers)
        totals = client.get("/api/v1/survey/totals", headers=headers)
        for resp in (team, bench, export, totals):
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/leaderboard/benchmarks").json() == []
    with TestClient(create_app(make_settings(admin_token=None, survey_pool=None))) as no_admin:
        resp = no_admin.post("/api/v1/leaderboard/teams", json={"name": "x"}, headers={"X-Admin-Token": ""})
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "admin_disabled"


def test_labels_are_never_served_nor_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    truth = register_benchmark(client)
    team = create_team(client, "alpha")
    detail = client.get("/api/v1/leaderboard/benchmarks/bench").json()
    assert set(detail) == {"slug", "title", "description", "image_count", "created_at", "image_ids"}
    ids = detail["image_ids"]
    assert len(ids) == 24 and all(isinstance(i, str) and i.startswith("img-") for i in ids)
    mapping = id_truth(client, "bench", truth)
    # Ids are handed out in random order: they must not follow the registration order (which follows labels).
    assert [mapping[i][0] for i in sorted(ids)] != [t[0] for t in truth.values()]
    client.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": team},
                files={"file": ("p.csv", predictions_csv(dict.fromkeys(ids, 0.5)))})
    with zipfile.ZipFile(io.BytesIO(client.get("/api/v1/leaderboard/benchmarks/bench/images.zip").content)) as zf:
        assert sorted(n.split(".")[0] for n in zf.namelist()) == sorted(ids)  # images only, no labels file
    pages = [client.get(u).text for u in (
        "/api/v1/leaderboard/benchmarks", "/api/v1/leaderboard/benchmarks/bench",
        "/api/v1/leaderboard/benchmarks/bench/rows", "/api/v1/leaderboard/benchmarks/bench/template.csv",
        "/leaderboard", "/openapi.json")]
    pages.append(client.get("/api/v1/leaderboard/submissions", headers={"X-Team-Token": team}).text)
    for text in pages:
        for label_word in ("real,", "ai,", '"label"', '"subset":', '"slice":'):
            assert label_word not in text
        for public_id, (label, subset, slice_) in mapping.items():  # no id is ever shown beside its truth
            for truth_word in ("real" if label == 0 else "ai", subset, slice_):
                assert f"{public_id},{truth_word}" not in text and f'"{public_id}": "{truth_word}"' not in text
    server_side = ("sentry_image", "uvicorn", "fastapi", "starlette", "sqlalchemy", "alembic")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(server_side))
    assert logged and not any(i in logged for i in ids) and "file-0" not in logged and ",gan," not in logged


def test_submission_is_scored_on_hidden_labels_with_rounded_aggregates(client: TestClient) -> None:
    truth = register_benchmark(client)
    token = create_team(client, "alpha")
    mapping = id_truth(client, "bench", truth)
    rng = np.random.default_rng(0)
    probs = {i: round(float(v), 4) for i, v in zip(mapping, rng.random(len(mapping)), strict=True)}
    resp = client.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": token},
                       files={"file": ("p.csv", predictions_csv(probs))}, data={"threshold": "0.3", "method": "rnd"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    y = np.array([mapping[i][0] for i in probs])
    p = np.array(list(probs.values()))
    overall = body["metrics"]["overall"]
    assert overall["auc"] == round(roc_auc_score(y, p), 3) and overall["ap"] == round(average_precision_score(y, p), 3)
    assert overall["accuracy"] == round(float(np.mean((p >= 0.5) == y)), 3)
    assert overall["accuracy_at_threshold"] == round(float(np.mean((p >= 0.3) == y)), 3)
    subsets, slices = body["metrics"]["subsets"], body["metrics"]["slices"]
    assert set(subsets) == {"gan", "diffusion"} and set(slices) == {"clean", "jpeg-75"}
    gan = np.array([mapping[i][1] == "gan" for i in probs])
    assert subsets["gan"]["auc"] == round(roc_auc_score(y[gan], p[gan]), 3) and subsets["gan"]["n"] == 12
    numbers = [v for block in (overall, *subsets.values(), *slices.values()) for k, v in block.items() if k != "n"]
    assert all(v is None or round(v, 3) == v for v in numbers)
    assert body["remaining_today"] == 4
    row = _rows(client)[0]
    assert row["name"] == "alpha" and row["method"] == "rnd" and row["metrics"]["overall"]["auc"] == overall["auc"]
    assert row["submitted_at"].endswith("+00:00")  # the same on SQLite (naive storage) and PostgreSQL


def test_small_subsets_are_not_reported(client: TestClient) -> None:
    # 12 images: subsets and slices of 6 are under min_slice_size=10, so only the overall block comes back.
    truth = register_benchmark(client, slug="tiny", n=12)
    token = create_team(client, "alpha")
    ids = list(id_truth(client, "tiny", truth))
    body = client.post("/api/v1/leaderboard/benchmarks/tiny/submissions", headers={"X-Team-Token": token},
                       files={"file": ("p.csv", predictions_csv(dict.fromkeys(ids, 0.7)))}).json()
    assert body["metrics"]["subsets"] == {} and body["metrics"]["slices"] == {}
    assert body["metrics"]["groups_hidden_as_too_small"] == 4


def _malformed(ids: list[str]) -> dict[str, bytes]:
    good = dict.fromkeys(ids, 0.5)
    return {
        "csv_missing_ids": predictions_csv(dict(list(good.items())[:-1])),
        "csv_duplicate_ids": predictions_csv(good) + f"{ids[0]},0.1\n".encode(),
        "csv_not_finite": predictions_csv({**good, ids[3]: math.nan}),
        "csv_out_of_range": predictions_csv({**good, ids[4]: 1.5}),
        "csv_not_a_number": predictions_csv(good).replace(f"{ids[5]},0.5".encode(), f"{ids[5]},high".encode()),
        "csv_unknown_ids": predictions_csv({**good, "img-99999": 0.5}),
        "csv_wrong_columns": predictions_csv(good).replace(b"image_id,ai_probability", b"id,prob"),
        "csv_empty": b"",
        "csv_encoding": b"image_id,ai_probability\n\xff\xfe\x00bad",
    }


def test_malformed_csv_gets_a_clear_error_and_changes_nothing(client: TestClient) -> None:
    truth = register_benchmark(client)
    token = create_team(client, "alpha")
    ids = sorted(id_truth(client, "bench", truth))
    extra_column = predictions_csv(dict.fromkeys(ids, 0.5)).replace(b"\n", b",x\n")
    for code, data in [*_malformed(ids).items(), ("csv_wrong_columns", extra_column)]:
        resp = client.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": token},
                           files={"file": ("p.csv", data)})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == code, (code, resp.text)
        assert resp.json()["error"]["message"]
    assert _rows(client) == []
    assert client.get("/api/v1/leaderboard/submissions", headers={"X-Team-Token": token}).json() == []
    ok = client.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": token},
                     files={"file": ("p.csv", predictions_csv(dict.fromkeys(ids, 0.5)))})
    assert ok.json()["remaining_today"] == 4  # refused files did not count against the daily limit


def test_daily_limit_is_per_team(make_settings: Callable[..., Settings], db_url: str) -> None:
    with TestClient(create_app(make_settings(db_url, submissions_per_day=2, survey_pool=None))) as c:
        truth = register_benchmark(c)
        ids = list(id_truth(c, "bench", truth))
        alpha, beta = create_team(c, "alpha"), create_team(c, "beta")
        csv_ = predictions_csv(dict.fromkeys(ids, 0.5))

        def send(token: str) -> int:
            return c.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": token},
                          files={"file": ("p.csv", csv_)}).status_code

        assert [send(alpha), send(alpha)] == [201, 201]
        third = c.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": alpha},
                       files={"file": ("p.csv", csv_)})
        assert third.status_code == 429 and third.json()["error"]["code"] == "daily_limit"
        assert send(beta) == 201
        assert len(c.get("/api/v1/leaderboard/submissions", headers={"X-Team-Token": alpha}).json()) == 2
        gamma = create_team(c, "gamma")
        with ThreadPoolExecutor(6) as pool:  # parallel uploads must not slip past the limit together
            codes = sorted(pool.map(lambda _: send(gamma), range(6)))
        assert codes == [201, 201, 429, 429, 429, 429]


def test_teams_see_only_their_own_submissions_and_rows_rank_best_first(client: TestClient) -> None:
    truth = register_benchmark(client)
    mapping = id_truth(client, "bench", truth)
    alpha, beta = create_team(client, "alpha"), create_team(client, "beta")
    perfect = {i: float(t[0]) for i, t in mapping.items()}
    inverted = {i: 1.0 - v for i, v in perfect.items()}
    for token, preds in ((alpha, inverted), (beta, perfect), (alpha, perfect)):
        client.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": token},
                    files={"file": ("p.csv", predictions_csv(preds))}, data={"method": "<script>alert(1)</script>"})
    mine = client.get("/api/v1/leaderboard/submissions", headers={"X-Team-Token": beta}).json()
    assert [s["name"] for s in mine] == ["beta"]
    assert client.get("/api/v1/leaderboard/submissions").status_code == 401
    rows = _rows(client)
    # One row per team (its best), best AUC first; on a tie the earlier submission ranks first.
    ranking = [(r["rank"], r["name"], r["metrics"]["overall"]["auc"]) for r in rows]
    assert ranking == [(1, "beta", 1.0), (2, "alpha", 1.0)]
    assert "file_sha256" not in str(rows) and "team_id" not in str(rows)
    page = client.get("/leaderboard").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # team text is escaped


def test_evaluation_report_is_imported_as_a_marked_row(client: TestClient) -> None:
    register_benchmark(client)
    report = {"model": "sentry-default@1", "method": "EfficientNet probe", "threshold": 0.42,
              "overall": {"auc": 0.97123, "ap": 0.9612, "accuracy": 0.91},
              "subsets": {"sdxl": {"auc": 0.99, "accuracy": 0.95, "n": 200}}, "slices": {"jpeg-75": {"auc": 0.9}}}
    url = "/api/v1/leaderboard/benchmarks/bench/reports"
    assert client.post(url, json=report).status_code == 401
    resp = client.post(url, json=report, headers={"X-Admin-Token": ADMIN})
    assert resp.status_code == 201, resp.text
    row = _rows(client)[0]
    assert row["source"] == "report" and row["name"] == "sentry-default@1"
    assert row["metrics"]["overall"]["auc"] == 0.971 and row["metrics"]["subsets"]["sdxl"]["n"] == 200
    bad: dict[str, Any]
    for bad in ({**report, "overall": {"auc": 1.2}}, {**report, "overall": {"f1": 0.5}}, {"subsets": {}},
                {**report, "subsets": []}):
        resp = client.post(url, json=bad, headers={"X-Admin-Token": ADMIN})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "report_invalid"
    assert len(_rows(client)) == 1
    assert "reported" in client.get("/leaderboard").text


def test_registration_refuses_mismatched_labels_and_leaves_nothing(sqlite_client: TestClient) -> None:
    images, labels_csv, _ = benchmark_files(12)
    files = [("labels", ("l.csv", labels_csv)), *[("images", img) for img in images[:-1]]]
    resp = sqlite_client.post("/api/v1/leaderboard/benchmarks", headers={"X-Admin-Token": ADMIN}, files=files,
                              data={"slug": "bad", "title": "Bad"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "labels_mismatch"
    few = sqlite_client.post("/api/v1/leaderboard/benchmarks", headers={"X-Admin-Token": ADMIN},
                             files=[("labels", ("l.csv", labels_csv)), *[("images", img) for img in images[:2]]],
                             data={"slug": "few", "title": "Few"})
    assert few.status_code == 422 and few.json()["error"]["code"] == "too_few_images"
    assert sqlite_client.get("/api/v1/leaderboard/benchmarks").json() == []
    register_benchmark(sqlite_client)
    again = sqlite_client.post("/api/v1/leaderboard/benchmarks", headers={"X-Admin-Token": ADMIN},
                               files=[("labels", ("l.csv", b"file,label,subset\n")), ("images", ("a.png", b"x"))],
                               data={"slug": "bench", "title": "Again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "benchmark_exists"


def test_a_100_mb_predictions_file_is_refused_and_changes_nothing(sqlite_client: TestClient) -> None:
    truth = register_benchmark(sqlite_client)
    token = create_team(sqlite_client, "alpha")
    ids = list(id_truth(sqlite_client, "bench", truth))
    huge = predictions_csv(dict.fromkeys(ids, 0.5)) + b"#" * (100 * 1024 * 1024)
    resp = sqlite_client.post("/api/v1/leaderboard/benchmarks/bench/submissions", headers={"X-Team-Token": token},
                              files={"file": ("p.csv", huge)})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
    assert _rows(sqlite_client) == []


def test_served_images_keep_their_pixels_but_no_metadata_and_the_zip_is_written_once(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both classes in both formats, every file with metadata (camera EXIF or a generation record): the audit passes,
    # and before stripping the downloads gave every AI image away by its metadata.
    images, labels_csv, truth = labelled(
        [(f"real-{i}.jpg", 0, camera_jpeg(i)) for i in range(6)] + [(f"ai-{i}.jpg", 1, generator_jpeg(20 + i))
                                                                    for i in range(6)]
        + [(f"real-{i}.png", 0, image_bytes(noise_image((40, 40), seed=40 + i), "PNG", exif=camera_exif()))
           for i in range(6)] + [(f"ai-{i}.png", 1, generator_png(60 + i)) for i in range(6)])
    resp = post_benchmark(client, images, labels_csv)
    assert resp.status_code == 201, resp.text
    assert resp.json()["audit"]["uploaded"]["generator_metadata_files"] == 12
    mapping = id_truth(client, "bench", truth, images)  # every download decodes to one upload's exact pixels
    assert sorted(t[0] for t in mapping.values()) == [0] * 12 + [1] * 12
    downloads = {i: client.get(f"/api/v1/leaderboard/benchmarks/bench/images/{i}").content for i in mapping}
    for data in downloads.values():
        decoded = decode_image(data)
        assert read_provenance(decoded, ("c2pa", "metadata")) == [] and not decoded.original.getexif()
    zip_file = client.app.state.settings.data_dir / "benchmarks" / "bench" / "images.zip"  # type: ignore[attr-defined]
    assert zip_file.is_file()  # written at registration, before any download
    monkeypatch.setattr(zipfile, "ZipFile", None)  # a download that tried to build the archive would fail
    archive = client.get("/api/v1/leaderboard/benchmarks/bench/images.zip")
    assert archive.status_code == 200 and archive.content == zip_file.read_bytes()
    assert 'filename="bench-images.zip"' in archive.headers["content-disposition"]
    monkeypatch.undo()
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert {n.split(".")[0]: zf.read(n) for n in zf.namelist()} == downloads
    zip_file.unlink()  # as for a benchmark registered before archives were kept: built on first download, once
    assert client.get("/api/v1/leaderboard/benchmarks/bench/images.zip").content == archive.content


def test_an_image_that_cannot_be_served_is_refused_by_name(client: TestClient) -> None:
    images, labels_csv, _ = benchmark_files(12)
    cmyk_tiff = image_bytes(noise_image((40, 40), seed=3, mode="CMYK"), "TIFF")  # decodes, but has no PNG form
    for bad, code, problem in ((cmyk_tiff, "image_not_servable", "TIFF in mode CMYK"),
                               (images[3][1][:60], "not_an_image", "")):
        sent = [*images[:3], (images[3][0], bad), *images[4:]]
        resp = post_benchmark(client, sent, labels_csv, "broken")
        assert resp.status_code == 422 and resp.json()["error"]["code"] == code
        assert resp.json()["error"]["message"].startswith(f"{images[3][0]}: ") and problem in resp.text
    assert client.get("/api/v1/leaderboard/benchmarks").json() == []
    assert not (client.app.state.settings.data_dir / "benchmarks" / "broken").exists()  # type: ignore[attr-defined]
