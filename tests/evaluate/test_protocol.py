"""The MPBench protocol x robustness grid, reports, and the eval / leaderboard commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from typer.testing import CliRunner

from sentry_image.cli import app
from sentry_image.evaluate import report as report_module
from sentry_image.evaluate.protocol import CONDITIONS, SUITES, evaluate_checkpoint, subset_masks
from sentry_image.evaluate.report import leaderboard_rows, read_report, write_leaderboard, write_report
from sentry_image.evaluate.tables import to_markdown
from sentry_image.models.checkpoint import CheckpointError


def test_subsets_pair_each_ai_subset_with_every_real_image() -> None:
    labels = np.array([0, 0, 1, 1, 1])
    masks = subset_masks(labels, ["camera", "camera", "gan", "diffusion", "gan"])
    assert list(masks) == ["all", "diffusion", "gan"]
    assert masks["gan"].tolist() == [True, True, True, False, True]
    assert masks["all"].all()


def test_every_condition_changes_pixels_alike_for_any_image() -> None:
    from PIL import Image

    image = Image.effect_noise((96, 80), 40).convert("RGB")
    sizes = {name: fn(image).size for name, fn in CONDITIONS.items()}
    assert sizes["resize0.5"] == (48, 40) and sizes["resize2"] == (192, 160) and sizes["crop_centre"] == (64, 64)
    assert set(SUITES["robustness"]) == set(CONDITIONS) and SUITES["clean"] == ("clean",)


def test_report_metrics_agree_with_scikit_learn(eval_data: tuple[Path, Path]) -> None:
    manifest, ckpt = eval_data
    report = evaluate_checkpoint(ckpt, manifest, suite="robustness", split="test")
    assert report.conditions == list(SUITES["robustness"]) and report.data["split"] == "test"
    y = np.asarray(report.predictions["label"])
    for condition in ("clean", "jpeg50", "format_matched"):
        p = np.asarray(report.predictions["p"][condition])
        res = report.results[condition]["all"]
        assert res["auc"] == pytest.approx(roc_auc_score(y, p))
        assert res["ap"] == pytest.approx(average_precision_score(y, p))
        assert res["brier"] == pytest.approx(brier_score_loss(y, p))
        threshold = report.calibration["threshold"]
        assert res["accuracy"]["real"] == pytest.approx(np.mean(p[y == 0] < threshold))
    assert report.throughput["images_per_s"] > 0 and report.throughput["forward_images_per_s"] > 0
    assert report.num_parameters > 0


def test_test_split_sharing_sources_with_training_is_refused(eval_data: tuple[Path, Path]) -> None:
    manifest, ckpt = eval_data
    with pytest.raises(ValueError, match="shares sources"):
        evaluate_checkpoint(ckpt, manifest, suite="clean", split="test", split_seed=7)


def test_report_files_round_trip_and_html_is_self_contained(eval_data: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, ckpt = eval_data
    report = evaluate_checkpoint(ckpt, manifest, suite="clean")
    paths = write_report(report, tmp_path)
    names = {p.name for p in paths}
    assert {"report.json", "report.md", "report.html", "roc.png", "reliability.png", "heatmap_auc.png"} <= names
    assert read_report(tmp_path / "report.json") == report
    page = (tmp_path / "report.html").read_text()
    assert not re.search(r'(src|href)="(http|/)', page)  # nothing fetched from elsewhere
    assert page.count("data:image/png;base64,") == 4
    assert f"{report.results['clean']['all']['auc']:.3f}" in (tmp_path / "report.md").read_text()


def test_without_matplotlib_the_report_keeps_its_tables(eval_data: tuple[Path, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    def no_matplotlib(report: object, out: Path) -> list[Path]:
        raise ImportError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(report_module, "plot_figures", no_matplotlib)  # the core install has no plotting library
    manifest, ckpt = eval_data
    report = evaluate_checkpoint(ckpt, manifest, suite="clean")
    names = {p.name for p in report_module.write_report(report, tmp_path)}
    assert names == {"report.json", "report.md", "report.html"}
    assert "data:image/png" not in (tmp_path / "report.html").read_text()
    assert to_markdown(report) == (tmp_path / "report.md").read_text()
    assert "sentry-image[report]" in caplog.text


def test_eval_and_leaderboard_commands(eval_data: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, ckpt = eval_data
    runner = CliRunner()
    for name, suite in (("a", "clean"), ("b", "robustness")):
        done = runner.invoke(app, ["eval", "--model", str(ckpt), "--data", str(manifest), "--suite", suite,
                                   "--split", "test", "--out", str(tmp_path / name)])
        assert done.exit_code == 0, done.output
    bad = runner.invoke(app, ["eval", "--model", str(ckpt), "--data", str(manifest), "--suite", "nope",
                              "--out", str(tmp_path / "c")])
    assert bad.exit_code == 2 and "nope" in bad.output
    missing = runner.invoke(app, ["eval", "--model", str(tmp_path / "none"), "--data", str(manifest),
                                  "--out", str(tmp_path / "c")])
    assert missing.exit_code == 2
    reports = [str(tmp_path / n / "report.json") for n in ("a", "b")]
    done = runner.invoke(app, ["leaderboard", *reports, "--out", str(tmp_path / "results")])
    assert done.exit_code == 0, done.output
    board = json.loads((tmp_path / "results" / "leaderboard.json").read_text())
    assert len(board["rows"]) == 2 and board["rows"][0]["preprocessing"] == "native, crop 32"
    assert board["rows"] == leaderboard_rows([read_report(p) for p in reports], reports)
    assert {row["report"] for row in board["rows"]} == set(reports)
    assert write_leaderboard(reports, tmp_path / "again")[1].read_text() == (tmp_path / "results" /
                                                                            "leaderboard.md").read_text()


def test_onnx_backend_gives_the_same_report_as_torch(eval_data: tuple[Path, Path]) -> None:
    manifest, ckpt = eval_data
    torch_report = evaluate_checkpoint(ckpt, manifest, suite="clean", backend="torch")
    onnx_report = evaluate_checkpoint(ckpt, manifest, suite="clean", backend="onnx")
    auto_report = evaluate_checkpoint(ckpt, manifest, suite="clean")  # training wrote model.onnx: auto runs it
    assert torch_report.throughput["backend"] == "torch" and "torch_threads" not in torch_report.throughput
    assert onnx_report.throughput["backend"] == auto_report.throughput["backend"] == "onnx"
    assert auto_report.predictions["p"] == onnx_report.predictions["p"]
    assert onnx_report.num_parameters == torch_report.num_parameters
    assert np.asarray(onnx_report.predictions["p"]["clean"]) == pytest.approx(
        np.asarray(torch_report.predictions["p"]["clean"]), abs=1e-4)
    with pytest.raises(CheckpointError, match="unknown backend"):
        evaluate_checkpoint(ckpt, manifest, suite="clean", backend="tensorrt")
