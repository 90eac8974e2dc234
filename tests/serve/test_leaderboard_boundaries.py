"""The leaderboard's rules at their edges: a subset or slice of exactly ``min_slice`` images is reported and one
of ``min_slice - 1`` is not; a prediction exactly at the threshold counts as AI; a benchmark of exactly
``min_slice_size`` images registers and one image fewer is refused."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from sentry_image.serve.app import create_app
from sentry_image.serve.scoring import score
from sentry_image.serve.settings import Settings
from tests.helpers.builders import image_bytes, noise_image
from tests.helpers.serve_helpers import benchmark_files, create_team, id_truth, post_benchmark, predictions_csv

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


# -- scoring.score --------------------------------------------------------------------------------------------------
def test_a_group_of_exactly_min_slice_is_reported_and_one_fewer_is_not() -> None:
    labels = [0, 1, 0, 1, 0, 1, 0]
    probs = [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4]
    subsets = ["four"] * 4 + ["three"] * 3
    slices = ["s3"] * 3 + ["s4"] * 4  # crosswise to the subsets
    out = score(labels, probs, subsets, slices, threshold=0.5, min_slice=4, digits=6)
    assert set(out["subsets"]) == {"four"} and out["subsets"]["four"]["n"] == 4
    assert set(out["slices"]) == {"s4"} and out["slices"]["s4"]["n"] == 4
    assert out["groups_hidden_as_too_small"] == 2
    every = score(labels, probs, subsets, slices, threshold=0.5, min_slice=3, digits=6)
    assert set(every["subsets"]) == {"four", "three"} and set(every["slices"]) == {"s3", "s4"}
    assert every["groups_hidden_as_too_small"] == 0


def test_images_without_a_slice_form_no_group() -> None:
    out = score([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], ["all"] * 4, [None, None, "s", "s"], threshold=0.5,
                min_slice=2, digits=6)
    assert set(out["slices"]) == {"s"} and out["groups_hidden_as_too_small"] == 0


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.7310585786300049, 1.0])
def test_a_prediction_exactly_at_the_threshold_counts_as_ai(threshold: float) -> None:
    probs = [threshold, threshold, below(threshold), below(threshold)]
    right = score([1, 1, 0, 0], probs, ["a"] * 4, [None] * 4, threshold=threshold, min_slice=1, digits=6)
    assert right["overall"]["accuracy_at_threshold"] == 1.0 and right["subsets"]["a"]["accuracy_at_threshold"] == 1.0
    wrong = score([0, 0, 1, 1], probs, ["a"] * 4, [None] * 4, threshold=threshold, min_slice=1, digits=6)
    assert wrong["overall"]["accuracy_at_threshold"] == 0.0


def test_accuracy_at_one_half_counts_one_half_as_ai() -> None:
    probs = [0.5, 0.5, below(0.5), below(0.5)]
    out = score([1, 1, 0, 0], probs, ["a"] * 4, [None] * 4, threshold=0.9, min_slice=1, digits=6)
    assert out["overall"]["accuracy"] == 1.0 and out["overall"]["accuracy_at_threshold"] == 0.5


# -- through the service ----------------------------------------------------------------------------------------------
MIN_SLICE = 6


@pytest.fixture
def board(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(min_slice_size=MIN_SLICE, survey_pool=None))) as c:
        yield c


def test_a_benchmark_of_exactly_min_slice_size_images_registers_one_fewer_does_not(board: TestClient) -> None:
    images, labels_csv, _ = benchmark_files(MIN_SLICE)
    few = post_benchmark(board, images[:-1], _labels_of(labels_csv, MIN_SLICE - 1), slug="few")
    assert few.status_code == 422 and few.json()["error"]["code"] == "too_few_images"
    exact = post_benchmark(board, images, labels_csv, slug="exact")
    assert exact.status_code == 201, exact.text


def _labels_of(labels_csv: bytes, n: int) -> bytes:
    """The header and the first ``n`` rows of a labels CSV."""
    return b"".join(labels_csv.splitlines(keepends=True)[: n + 1])


def test_a_submission_reports_the_subset_at_the_minimum_and_counts_the_threshold_as_ai(board: TestClient) -> None:
    # 11 images: subset "six" (MIN_SLICE) and "five" (one fewer); slices crosswise, also six and five.
    names = [f"img-{i:02d}.png" for i in range(2 * MIN_SLICE - 1)]
    images = [(name, image_bytes(noise_image((40, 40), seed=300 + i))) for i, name in enumerate(names)]
    truth = {name: (i % 2, "six" if i < MIN_SLICE else "five", "s6" if i % 2 == 0 else "s5")
             for i, name in enumerate(names)}
    labels_csv = ("file,label,subset,slice\n" + "".join(
        f"{name},{'ai' if label else 'real'},{subset},{slice_}\n"
        for name, (label, subset, slice_) in truth.items())).encode()
    resp = post_benchmark(board, images, labels_csv, slug="edges")
    assert resp.status_code == 201, resp.text
    token = create_team(board, "alpha")
    threshold = 0.7
    mapping = id_truth(board, "edges", truth, images)
    probs = {i: threshold if label else below(threshold) for i, (label, _, _) in mapping.items()}
    sub = board.post("/api/v1/leaderboard/benchmarks/edges/submissions", headers={"X-Team-Token": token},
                     files={"file": ("p.csv", predictions_csv(probs))}, data={"threshold": str(threshold)})
    assert sub.status_code == 201, sub.text
    metrics = sub.json()["metrics"]
    assert set(metrics["subsets"]) == {"six"} and metrics["subsets"]["six"]["n"] == MIN_SLICE
    assert set(metrics["slices"]) == {"s6"} and metrics["slices"]["s6"]["n"] == MIN_SLICE
    assert metrics["groups_hidden_as_too_small"] == 2
    assert metrics["overall"]["accuracy_at_threshold"] == 1.0
    assert metrics["subsets"]["six"]["accuracy_at_threshold"] == 1.0
    shown = board.get("/api/v1/leaderboard/benchmarks/edges/rows").json()[0]["metrics"]
    assert set(shown["subsets"]) == {"six"} and shown["overall"]["accuracy_at_threshold"] == 1.0
