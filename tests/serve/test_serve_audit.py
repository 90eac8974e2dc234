"""The shortcut audit: its AUC, that it catches format, size and metadata leaks, that chance on a small benchmark
does not refuse it, and that the shared data's leak is refused until the images are re-encoded."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sklearn.metrics import roc_auc_score

from sentry_image.serve.shortcut_audit import FileFacts, auc, audit, refusal_message, registration_audit
from tests.helpers.builders import image_bytes, noise_image
from tests.helpers.paths import SHARED
from tests.helpers.serve_helpers import ADMIN, AI_XMP, camera_exif, labelled, post_benchmark

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _facts(formats: list[str], *, sizes: list[int] | None = None, metadata: list[bool] | None = None,
           side: int = 256) -> list[FileFacts]:
    n = len(formats)
    return [FileFacts(format=formats[i], bytes=(sizes or [30_000] * n)[i], width=side, height=side,
                      metadata=(metadata or [False] * n)[i]) for i in range(n)]


def _random_facts(n: int, rng: np.random.Generator) -> list[FileFacts]:
    return [FileFacts(format=str(rng.choice(["JPEG", "PNG", "WEBP"])), bytes=int(rng.integers(10_000, 500_000)),
                      width=int(rng.choice([256, 320, 512])), height=int(rng.choice([256, 384, 512])),
                      metadata=bool(rng.random() < 0.5)) for _ in range(n)]


def test_auc_is_the_rank_auc_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 50)
        y[:2] = [0, 1]
        scores = rng.integers(0, 6, 50).astype(float)  # many ties
        assert auc(y, scores) == pytest.approx(roc_auc_score(y, scores))


def test_the_shared_data_format_mix_is_refused_and_named() -> None:
    # Formats of the 80-image sample of the review: real 34 JPEG, 5 PNG, 1 TIFF; AI 2 JPEG, 22 PNG, 16 WebP.
    labels = [0] * 40 + [1] * 40
    facts = _facts(["JPEG"] * 34 + ["PNG"] * 5 + ["TIFF"] + ["JPEG"] * 2 + ["PNG"] * 22 + ["WEBP"] * 16)
    record = registration_audit(facts, facts, labels, limit=0.75, normalise="none", force=False)
    served = record["served"]
    assert served["features"]["format"] > 0.85 and served["auc"] > 0.85 and served["p_value"] == 0.01
    assert not record["passed"] and served["formats"]["WEBP"] == [0, 16]
    message = refusal_message(record)
    assert f"AUC {served['auc']:.3f}" in message and "format" in message and "limit 0.75" in message
    assert "normalise=jpeg" in message and "force=true" in message


def test_a_moderate_format_leak_is_measured_at_its_size() -> None:
    # 75 % of photos JPEG, 65 % of AI images PNG: the format orders a random real/AI pair right 70 % of the time.
    labels = [0] * 40 + [1] * 40
    facts = _facts(["JPEG"] * 30 + ["PNG"] * 10 + ["JPEG"] * 14 + ["PNG"] * 26)
    report = audit(facts, labels, limit=0.65)
    assert report["features"]["format"] == pytest.approx(0.70, abs=0.03)
    assert report["ci95"][0] < 0.70 < report["ci95"][1] and report["p_value"] <= 0.01  # over a stricter limit
    assert audit(facts, labels, limit=0.75)["p_value"] is None  # under the default limit: no test needed


def test_size_and_metadata_leaks_are_caught_without_the_format() -> None:
    labels = [0] * 30 + [1] * 30
    rng = np.random.default_rng(1)
    sizes = list(rng.integers(200_000, 900_000, 30)) + list(rng.integers(20_000, 300_000, 30))  # overlapping
    by_size = audit(_facts(["PNG"] * 60, sizes=[int(s) for s in sizes]), labels, limit=0.75)
    assert by_size["strongest"] in ("file_size", "bytes_per_pixel", "all") and by_size["auc"] > 0.8
    assert by_size["p_value"] == 0.01
    camera_exif = [True] * 27 + [False] * 3 + [False] * 24 + [True] * 6
    by_metadata = audit(_facts(["JPEG"] * 60, metadata=camera_exif), labels, limit=0.75)
    assert by_metadata["features"]["metadata"] == pytest.approx(0.85, abs=0.02) and by_metadata["p_value"] == 0.01


def test_nothing_to_learn_scores_one_half_and_passes() -> None:
    labels = [0, 1] * 20
    constant = audit(_facts(["PNG"] * 40), labels, limit=0.75)
    assert constant["auc"] == 0.5 and constant["p_value"] is None
    rng = np.random.default_rng(2)
    for n in (40, 80, 200):
        facts = _random_facts(n, rng)
        record = registration_audit(facts, facts, [0, 1] * (n // 2), limit=0.75, normalise="none", force=False)
        assert record["passed"] and record["served"]["auc"] < 0.75


def test_chance_over_the_limit_on_a_tiny_benchmark_is_not_refused() -> None:
    # On 12 images, random file facts exceed 0.75 about one time in two; the permutation test must see chance.
    rng = np.random.default_rng(3)
    over: list[dict[str, Any]] = []
    for _ in range(20):
        report = audit(_random_facts(12, rng), [0, 1] * 6, limit=0.75)
        if report["auc"] > 0.75:
            over.append(report)
        if len(over) == 3:
            break
    assert len(over) == 3, "too few chance excursions over the limit among 20 random benchmarks"
    assert all(r["p_value"] is not None and r["p_value"] > 0.01 for r in over)


def test_a_class_of_one_image_is_not_measured() -> None:
    record = registration_audit(_facts(["PNG"] * 11 + ["JPEG"]), _facts(["PNG"] * 12), [0] * 11 + [1],
                                limit=0.75, normalise="none", force=False)
    assert record["served"]["auc"] is None and record["passed"]


def _shared_sample(per_class: int = 40, seed: int = 0) -> tuple[list[tuple[str, bytes]], bytes]:
    """The sample of benchmarks/leaderboard_audit.py: ``per_class`` rows of each label drawn with ``seed``."""
    with (SHARED / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(seed)
    files = []
    for label in ("real", "ai"):
        pool = [r for r in rows if r["label"] == label]
        for i in rng.choice(len(pool), per_class, replace=False):
            path = SHARED / pool[i]["path"]
            files.append((f"{len(files):03d}-{path.name}", int(label == "ai"), path.read_bytes()))
    images, labels_csv, _ = labelled(files)
    return images, labels_csv


@pytest.mark.slow
def test_the_shared_data_benchmark_is_refused_until_normalised(sqlite_client: TestClient) -> None:
    images, labels_csv = _shared_sample()
    refused = post_benchmark(sqlite_client, images, labels_csv, "shared")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "audit_failed"
    assert "format" in refused.json()["error"]["message"]
    assert sqlite_client.get("/api/v1/leaderboard/benchmarks").json() == []
    resp = post_benchmark(sqlite_client, images, labels_csv, "shared", normalise="jpeg")
    assert resp.status_code == 201, resp.text
    record = resp.json()["audit"]
    assert record["passed"] and record["served"]["auc"] <= 0.75 and record["uploaded"]["auc"] > 0.9
    assert record["uploaded"]["generator_metadata_files"] > 0 and record["served"]["generator_metadata_files"] == 0
    assert record["served"]["formats"] == {"JPEG": [40, 40]}
    ids = sqlite_client.get("/api/v1/leaderboard/benchmarks/shared").json()["image_ids"]
    for image_id in ids[:10]:
        data = sqlite_client.get(f"/api/v1/leaderboard/benchmarks/shared/images/{image_id}").content
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.size) == ("JPEG", (256, 256))


def test_a_leaky_benchmark_is_refused_unless_forced_or_normalised(client: TestClient) -> None:
    # Photos as PNGs with camera EXIF, AI images as lossless WebPs with an AI statement in XMP: the container
    # gives the labels away, the pixels (noise of one kind) do not, so re-encoding alike must fix it.
    images, labels_csv, _ = labelled(
        [(f"real-{i}.png", 0, image_bytes(noise_image((64, 64), seed=i), "PNG", exif=camera_exif()))
         for i in range(12)]
        + [(f"ai-{i}.webp", 1, image_bytes(noise_image((64, 64), seed=100 + i), "WEBP", lossless=True,
                                           xmp=AI_XMP.encode())) for i in range(12)])
    refused = post_benchmark(client, images, labels_csv, "leaky")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "audit_failed"
    message = refused.json()["error"]["message"]
    assert "AUC 1.000" in message and "format" in message and "limit 0.75" in message
    assert client.get("/api/v1/leaderboard/benchmarks").json() == []
    assert not (client.app.state.settings.data_dir / "benchmarks" / "leaky").exists()  # type: ignore[attr-defined]

    forced = post_benchmark(client, images, labels_csv, "leaky", force="true")
    assert forced.status_code == 201, forced.text
    record = forced.json()["audit"]
    assert not record["passed"] and record["forced"] and record["served"]["auc"] == 1.0
    assert record["uploaded"]["generator_metadata_files"] == 12 and record["served"]["generator_metadata_files"] == 0
    assert record["uploaded"]["metadata_files"] == {"real": 12, "ai": 12} == {
        k: v + 12 for k, v in record["served"]["metadata_files"].items()}

    normalised = post_benchmark(client, images, labels_csv, "fixed", normalise="jpeg")
    assert normalised.status_code == 201, normalised.text
    record = normalised.json()["audit"]
    assert record["passed"] and record["normalise"] == "jpeg" and record["served"]["formats"] == {"JPEG": [12, 12]}

    page = client.post("/admin", data={"token": ADMIN}).text  # the admin sees every benchmark's audit
    assert 'data-testid="audits"' in page and "leaky" in page and "fixed" in page
    assert "over the limit, registered with force" in page and "1.000" in page
    assert "audit" not in client.get("/api/v1/leaderboard/benchmarks/leaky").json()  # never public
