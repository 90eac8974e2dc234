"""Reports carry bootstrap intervals and flag subsets too small to read: in JSON, Markdown, HTML and heatmaps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sentry_image.evaluate.leaderboard import leaderboard_rows
from sentry_image.evaluate.protocol import EvalReport, evaluate_checkpoint, fill_intervals
from sentry_image.evaluate.report import write_report
from sentry_image.evaluate.suites import Suite, make_condition
from sentry_image.evaluate.tables import grid_table, grid_values, metric_table
from sentry_image.evaluate.uncertainty import IntervalConfig
from tests.evaluate.small_data import write_small_subset_manifest
from tests.helpers.builders import tiny_checkpoint

TWO = Suite("two", (make_condition({"name": "clean", "op": "identity"}),
                    make_condition({"name": "jpeg60", "op": "jpeg", "quality": 60})))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("small")
    return write_small_subset_manifest(root / "data"), tiny_checkpoint(root / "ckpt")


@pytest.fixture(scope="module")
def report(small: tuple[Path, Path]) -> EvalReport:
    manifest, ckpt = small
    return evaluate_checkpoint(ckpt, manifest, suite=TWO)


def test_every_cell_has_intervals_around_its_value_and_the_settings_are_recorded(report: EvalReport) -> None:
    assert report.uncertainty == {"method": "percentile bootstrap, real and AI images resampled separately",
                                  "replicates": 1000, "level": 0.95, "seed": 0, "min_per_class": 30}
    for condition in TWO.names:
        for name, cell in report.results[condition].items():
            assert cell["ci"]["auc"][0] <= cell["auc"] <= cell["ci"]["auc"][1], (condition, name)
            acc = cell["accuracy"]["overall"]
            assert cell["ci"]["accuracy"][0] <= acc <= cell["ci"]["accuracy"][1], (condition, name)
    gan, everything = report.results["clean"]["gan"]["ci"]["auc"], report.results["clean"]["all"]["ci"]["auc"]
    assert gan[1] - gan[0] > everything[1] - everything[0]  # 4 AI images: a wider interval than 40


def test_four_image_subset_is_flagged_in_every_condition(report: EvalReport) -> None:
    for condition in TWO.names:
        cells = report.results[condition]
        assert (cells["gan"]["n_ai"], cells["gan"]["small"]) == (4, True)
        assert cells["all"]["small"] is False and cells["diffusion"]["small"] is False


def test_small_subset_stays_in_the_tables_marked_and_leaves_the_heatmaps(report: EvalReport) -> None:
    rows = {row[0]: row for row in metric_table(report)[1:]}
    assert rows["gan"][-1] == "n too small: 4 AI" and rows["diffusion"][-1] == ""
    assert rows["gan"][5].startswith(f"{report.results['clean']['gan']['auc']:.3f} [")  # measured, with interval
    grid = {row[0]: row for row in grid_table(report, "accuracy")[1:]}
    assert grid["gan"][-1] == "n too small: 4 AI" and grid["gan"][1] != "n/a"
    for metric in ("accuracy", "auc"):
        subsets, values, small = grid_values(report, metric)
        gan = subsets.index("gan")
        assert np.isnan(values[gan]).all() and small[gan].all()
        assert not np.isnan(values[subsets.index("diffusion")]).any() and not small[subsets.index("all")].any()


def test_rendered_report_shows_intervals_and_the_note(report: EvalReport, tmp_path: Path) -> None:
    write_report(report, tmp_path)
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    auc = report.results["clean"]["all"]["auc"]
    low, high = report.results["clean"]["all"]["ci"]["auc"]
    for text in (md, page):
        assert f"{auc:.3f} [{low:.3f}, {high:.3f}]" in text and "n too small: 4 AI" in text
        assert "1000 replicates, seed 0" in text and "fewer than 30 real or AI images: gan" in text
    assert "hatched: fewer than 30 real or AI images" in page
    stored = json.loads((tmp_path / "report.json").read_text())
    assert stored["results"]["clean"]["gan"]["small"] is True and stored["uncertainty"]["replicates"] == 1000


def test_intervals_are_reproducible_and_the_threshold_of_small_is_a_parameter(small: tuple[Path, Path],
                                                                             report: EvalReport) -> None:
    manifest, ckpt = small
    again = evaluate_checkpoint(ckpt, manifest, suite="clean")
    assert again.results["clean"]["gan"]["ci"] == report.results["clean"]["gan"]["ci"]
    loose = evaluate_checkpoint(ckpt, manifest, suite="clean", intervals=IntervalConfig(replicates=0, min_per_class=4))
    assert loose.results["clean"]["gan"]["small"] is False and loose.results["clean"]["gan"]["ci"] == {}
    assert loose.uncertainty["min_per_class"] == 4 and loose.uncertainty["replicates"] == 0


def test_reports_without_intervals_get_the_same_ones_from_their_predictions(report: EvalReport) -> None:
    old = EvalReport.from_dict(json.loads(json.dumps(report.to_dict())))
    for cells in old.results.values():
        for cell in cells.values():
            del cell["ci"], cell["small"]
    old.uncertainty, old.created = {}, ""
    fill_intervals(old)
    for condition, cells in report.results.items():  # stored probabilities have 6 decimals: nearly the same draws
        for name, cell in cells.items():
            redone = old.results[condition][name]
            assert redone["small"] == cell["small"] and set(redone["ci"]) == set(cell["ci"])
            for key, interval in cell["ci"].items():
                assert redone["ci"][key] == pytest.approx(interval, abs=2e-3), (condition, name, key)
    row = leaderboard_rows([old])[0]
    assert row["auc_ci"] == old.results["clean"]["all"]["ci"]["auc"] and row["report_written"] is None
    assert old.uncertainty["replicates"] == 1000 and old.uncertainty["added"] == "from the stored predictions"
