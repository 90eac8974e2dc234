"""The detector comparison end to end on tiny detectors: trained, evaluated on one split, timed, summarised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sentry_image.config import ConfigError
from sentry_image.evaluate import report as report_module
from sentry_image.train.compare import load_compare_config, run_comparison
from tests.helpers.paths import CONFIGS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write(path: Path, data: dict) -> Path:  # type: ignore[type-arg]
    path.write_text(yaml.safe_dump(data))
    return path


def _comparison(manifest: Path, tmp_path: Path) -> Path:
    data = {"manifest": str(manifest), "split_seed": 0, "fractions": [0.6, 0.2, 0.2]}
    probe = _write(tmp_path / "probe.yaml", {
        "out": str(tmp_path / "runs" / "probe"), "data": data,
        "model": {"name": "test_efficientnet_lite_tiny", "freeze_backbone": True},
        "optim": {"optimizer": "lbfgs", "max_iter": 20}, "augment": {"views": 1}})
    cnn = _write(tmp_path / "cnn.yaml", {
        "out": str(tmp_path / "runs" / "cnn"), "data": data, "model": {"name": "test_tiny_cnn"},
        "optim": {"epochs": 1, "batch_size": 8, "lr": 0.01}})
    return _write(tmp_path / "compare.yaml", {
        "out": str(tmp_path / "results"), "data": str(manifest), "split": "test", "suite": "robustness",
        "repeats": 2, "detectors": [{"name": "probe", "config": str(probe)},
                                    {"name": "cnn", "config": str(cnn), "overrides": ["model.args={width: 4}"]}],
        "references": [{"name": "probe_again", "model": str(tmp_path / "runs" / "probe")}]})


def test_comparison_writes_reports_leaderboard_and_summary(tiny_manifest: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "plot_figures", lambda report, out: [])  # plots have their own tests
    cfg = load_compare_config(_comparison(tiny_manifest, tmp_path))
    summary = run_comparison(cfg, command="sentry-image compare compare.yaml")
    out = tmp_path / "results"
    for name in ("probe", "cnn", "probe_again"):
        report = json.loads((out / name / "report.json").read_text())
        assert report["data"]["split"] == "test" and "format_matched" in report["conditions"]
        assert {"detect_images_per_s", "forward_images_per_s", "network_images_per_s"} <= set(report["throughput"])
        assert report["throughput"]["backend"] == "onnx"  # every run wrote model.onnx: timed as detection runs it
    assert len(json.loads((out / "leaderboard.json").read_text())["rows"]) == 3
    rows = {r["name"]: r for r in json.loads((out / "summary.json").read_text())["detectors"]}
    assert summary["best"] in {"probe", "cnn"}  # a reference is reported, never chosen
    assert rows["cnn"]["epochs"] == 1 and rows["cnn"]["seconds_per_epoch"] > 0 and rows["cnn"]["parameters"] > 0
    assert rows["probe"]["optimizer"] == "lbfgs" and not rows["probe_again"]["trained_here"]
    assert rows["probe"]["auc"] == rows["probe_again"]["auc"]  # the same checkpoint on the same rows
    readme = (out / "README.md").read_text()
    assert "sentry-image compare compare.yaml" in readme and "| probe |" in readme

    again = run_comparison(cfg, skip_trained=True)  # reuses both checkpoints: no training time recorded
    assert all(r["train_wall_seconds"] is None for r in again["detectors"] if r["trained_here"])


def test_comparison_config_is_checked_before_any_training(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.yaml", {"out": "x", "data": "m.csv", "detectors": [{"name": "a"}]})
    with pytest.raises(ConfigError, match="exactly one of config or model"):
        load_compare_config(bad)
    typo = _write(tmp_path / "typo.yaml", {"out": "x", "data": "m.csv", "suites": "robustness"})
    with pytest.raises(ConfigError, match="suites"):
        load_compare_config(typo)
    nameless = _write(tmp_path / "nameless.yaml", {"out": "x", "data": "m.csv", "detectors": [{"config": "c.yaml"}]})
    with pytest.raises(ConfigError, match=r"missing config key 'detectors\[0\]\.name'"):
        load_compare_config(nameless)
    no_out = _write(tmp_path / "no_out.yaml", {"data": "m.csv"})
    with pytest.raises(ConfigError, match=r"no_out\.yaml: missing config key 'out'"):
        load_compare_config(no_out)
    wrong_type = _write(tmp_path / "wrong_type.yaml", {"out": "x", "data": "m.csv", "repeats": "many"})
    with pytest.raises(ConfigError, match="repeats: expected int"):
        load_compare_config(wrong_type)


def test_the_comparison_runs_from_the_cli_only() -> None:
    from sentry_image.cli.compare import compare
    from sentry_image.train import compare as module

    assert not hasattr(module, "main") and callable(compare)  # `sentry-image compare`, no argparse entry point


def test_shipped_comparison_config_loads() -> None:
    cfg = load_compare_config(CONFIGS / "comparisons" / "default.yaml")
    names = [d.name for d in cfg.detectors]
    assert names[0] == "semantic_probe" and len(names) >= 3 and cfg.split == "test" and cfg.suite == "robustness"


def test_a_comparison_of_references_only_ranks_published_and_own_detectors(tiny_manifest: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Published detectors beside ours: an author's released file (imported on the fly) and a checkpoint folder,
    evaluated on the same rows with nothing trained and nothing selected."""
    import torch

    from tests.helpers.builders import tiny_checkpoint
    from tests.helpers.reference_nets import randomise
    from tests.models.test_importers_npr import RefNPR

    monkeypatch.setattr(report_module, "plot_figures", lambda report, out: [])
    monkeypatch.setenv("SENTRY_CACHE", str(tmp_path / "cache"))
    released = tmp_path / "NPR.pth"
    torch.save(randomise(RefNPR(), seed=3).state_dict(), released)  # as the authors' test.py loads it
    cfg_path = _write(tmp_path / "published.yaml", {
        "out": str(tmp_path / "published"), "data": str(tiny_manifest), "split": "all", "suite": "clean",
        "repeats": 1, "detectors": [],
        "references": [{"name": "npr", "model": f"import:npr:{released}"},
                       {"name": "ours", "model": str(tiny_checkpoint(tmp_path / "ours"))}]})
    summary = run_comparison(load_compare_config(cfg_path), command="sentry-image compare published.yaml")
    out = tmp_path / "published"
    assert summary["best"] is None and {r["name"] for r in summary["detectors"]} == {"npr", "ours"}
    board = json.loads((out / "leaderboard.json").read_text())["rows"]
    assert len(board) == 2 and all(r["auc_ci"] is not None for r in board)
    npr = json.loads((out / "npr" / "report.json").read_text())
    # the authors' operating point and protocol, kept
    assert npr["calibration"]["threshold"] == 0.5 and npr["preprocessing"]["crop_mode"] == "none"
    readme = (out / "README.md").read_text()
    assert "Nothing is trained" in readme and "Best" not in readme and (tmp_path / "cache" / "imported").is_dir()
