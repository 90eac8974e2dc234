"""The cross-validated comparison (:mod:`sentry_image.train.crossval`): fold schemes hold out what they say, every
image is scored out of fold on every copy, and the report is generated from those scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sentry_image.cli import app
from sentry_image.config import ConfigError
from sentry_image.data.manifest import read_manifest
from sentry_image.train.crossval import load_crossval_config, scheme_folds
from tests.train.test_fusion import TINY


def test_fold_schemes_hold_out_whole_sources_generators_and_families(tiny_manifest: Path) -> None:
    rows = read_manifest(tiny_manifest)
    for scheme, unit in (("grouped", lambda r: r.folder), ("generator", lambda r: r.generator if r.label else
                                                          r.folder), ("family", lambda r: r.family if r.label else
                                                                      r.folder)):
        fold = scheme_folds(rows, scheme, 2, 0)
        seen: dict[str, set[int]] = {}
        for r, f in zip(rows, fold, strict=True):
            seen.setdefault(unit(r), set()).add(int(f))
        assert all(len(v) == 1 for v in seen.values()), scheme
        for f in np.unique(fold):  # every fold holds both classes
            assert {int(r.label) for r, k in zip(rows, fold, strict=True) if k == f} == {0, 1}, scheme


def test_compare_writes_out_of_fold_scores_and_a_generated_report(tiny_manifest: Path, tmp_path: Path,
                                                                   one_torch_thread: None) -> None:
    fusion = tmp_path / "fusion.yaml"
    fusion.write_text(f"kind: fusion\ndata: {{manifest: {tiny_manifest}}}\n")
    config = tmp_path / "cv.yaml"
    overrides = json.dumps(TINY)
    config.write_text(f"kind: crossval\nout: {tmp_path / 'out'}\nfusion: fusion.yaml\noverrides: {overrides}\n"
                      "schemes: [grouped, family]\nfolds: 2\nbootstrap: 20\n"
                      "extra: [{name: npr, model: test_npr_tiny, args: {crop_size: 32, num_crops: 4}}]\n")
    result = CliRunner().invoke(app, ["compare", str(config)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    grouped = report["schemes"]["grouped"]
    assert set(grouped["auc"]) == {"semantic", "lowlevel", "npr", "fusion", "fusion fitted on all copies"}
    assert "npr" not in report["schemes"]["family"]["auc"]  # extras on grouped folds only
    for copies in grouped["auc"].values():
        assert list(copies) == ["original", "size_matched", "native_crop", "social"]
        assert all(a["low"] <= a["auc"] <= a["high"] and a["n"] == 32 for a in copies.values())
    assert 0.0 <= grouped["fusion_decisions"]["fitted on originals"]["original"]["coverage"] <= 1.0
    assert set(grouped["tile_aggregation"]) >= {"mean of all tiles", "mean of the 4 corner tiles"}
    scores = np.load(out / "scores.npz")
    assert scores["grouped/lowlevel/native_crop"].shape == (32, 4)  # tile logits of every image, out of fold
    assert "| fusion |" in (out / "README.md").read_text()
    (out / "README.md").unlink()
    again = CliRunner().invoke(app, ["compare", str(config), "--skip-trained"])  # the report alone, from the scores
    assert again.exit_code == 0, again.output
    assert json.loads((out / "report.json").read_text())["schemes"]["grouped"]["auc"] == grouped["auc"]
    assert (out / "README.md").is_file()


def test_a_bad_crossval_config_is_named(tmp_path: Path) -> None:
    config = tmp_path / "cv.yaml"
    config.write_text("kind: crossval\nschemes: [grouped, random]\n")
    with pytest.raises(ConfigError, match="random"):
        load_crossval_config(config)
    config.write_text("kind: crossval\ncopies: [social, original]\n")
    with pytest.raises(ConfigError, match="original"):
        load_crossval_config(config)
