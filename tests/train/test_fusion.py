"""Fusion training (:mod:`sentry_image.train.fusion`): branches cross-fitted over source folds, the stacker and
calibration fitted on out-of-fold scores, both branches refitted on everything, one loadable folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from sentry_image import load_detector
from sentry_image.cli import app
from sentry_image.config import ConfigError
from sentry_image.data.manifest import read_manifest
from sentry_image.data.splits import group_folds
from sentry_image.evaluate.protocol import evaluate_checkpoint
from sentry_image.train import fusion
from sentry_image.train.fusion_config import is_fusion, load_fusion_config

TINY = ["semantic.model.name=test_efficientnet_lite_tiny", "semantic.model.pretrained=null",
        "semantic.augment.views=1", "lowlevel.model=test_lowlevel_tiny", "lowlevel.epochs=2", "lowlevel.views=2",
        "lowlevel.tiles_per_view=4", "lowlevel.tiles_per_epoch=4", "folds=2"]


def _config(tmp_path: Path, manifest: Path) -> Path:
    path = tmp_path / "fusion.yaml"
    path.write_text(f"kind: fusion\nout: {tmp_path / 'out'}\ndata: {{manifest: {manifest}}}\n")
    return path


def test_branches_are_cross_fitted_then_refitted_on_everything(tiny_manifest: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                one_torch_thread: None) -> None:
    seen: list[int] = []
    real = fusion.train_lowlevel

    def spy(pool: np.ndarray, labels: np.ndarray, cfg: Any, **kw: Any) -> Any:
        seen.append(len(labels))
        return real(pool, labels, cfg, **kw)

    monkeypatch.setattr(fusion, "train_lowlevel", spy)
    cfg = load_fusion_config(_config(tmp_path, tiny_manifest), TINY)
    out = fusion.train_fusion(cfg)
    rows = read_manifest(tiny_manifest)
    sizes = np.bincount(group_folds(rows, 2))
    assert seen == [len(rows) - sizes[0], len(rows) - sizes[1], len(rows)]  # each fold without its own, then all
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "fusion" and config["folds"]["sizes"] == sizes.tolist()
    assert [b["name"] for b in config["branches"]] == ["semantic", "lowlevel"]
    assert all((out / b / "model.onnx").is_file() and (out / b / "model.safetensors").is_file()
               for b in ("semantic", "lowlevel"))
    assert "out-of-fold" in config["calibration"]["fitted_on"]
    oof = config["metrics"]["out_of_fold"]
    assert oof["n"] == len(rows) and 0.0 <= oof["coverage"] <= 1.0
    assert config["calibration"]["extra"]["fit"]["selective_accuracy_target"] == 0.95
    verdicts = list(load_detector(out, explain=True).detect_many([r.path for r in rows[:3]]))
    assert all(v.ok and v.regions for v in verdicts)
    with pytest.raises(ValueError, match=r"shares sources with the checkpoint's training split.*every source"):
        evaluate_checkpoint(out, tiny_manifest, split="test")  # it trained on every image: nothing is held out



def test_the_map_of_a_composite_shows_which_half_looks_generated(tiny_manifest: Path, tmp_path: Path,
                                                                  one_torch_thread: None) -> None:
    # the left half a grainy "photo", the right half a smooth "generated" image (the tiny manifest's two classes);
    # the low-level branch's 32 px tiles on a 2 x 2 grid: the right tiles must look more AI than the left ones
    longer = ["lowlevel.epochs=25", "lowlevel.views=4", "lowlevel.tiles_per_view=8", "lowlevel.tiles_per_epoch=8"]
    cfg = load_fusion_config(_config(tmp_path, tiny_manifest), [*TINY, *longer])
    out = fusion.train_fusion(cfg)
    assert json.loads((out / "config.json").read_text())["stacker"]["regions"] == "lowlevel"
    rng = np.random.default_rng(7)
    grain = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).filter(
        ImageFilter.GaussianBlur(2)))
    composite = Image.fromarray(np.concatenate([grain, smooth], axis=1))
    regions = load_detector(out, explain=True).detect(composite).regions
    assert regions is not None and len(regions) == 4
    left = [r.ai_probability for r in regions if r.x + r.width <= 64]
    right = [r.ai_probability for r in regions if r.x >= 64]
    assert len(left) == len(right) == 2 and min(right) > max(left)
    alone = load_detector(out / "lowlevel", explain=True).detect(composite).regions  # the branch's own tile scores
    assert alone is not None
    left_alone = [r.ai_probability for r in alone if r.x + r.width <= 64]
    right_alone = [r.ai_probability for r in alone if r.x >= 64]
    assert min(right_alone) > max(left_alone) + 0.2


def test_fusion_configs_are_checked_before_any_work(tiny_manifest: Path, tmp_path: Path) -> None:
    path = _config(tmp_path, tiny_manifest)
    assert is_fusion(path) and not is_fusion(None)
    with pytest.raises(ConfigError, match="folds"):
        load_fusion_config(path, ["folds=1"])
    with pytest.raises(ConfigError, match="lbfgs"):
        load_fusion_config(path, ["semantic.optim.optimizer=adamw"])
    with pytest.raises(ConfigError, match=r"lowlevel\.epochs"):
        load_fusion_config(path, ["lowlevel.epochs=many"])
    result = CliRunner().invoke(app, ["train", str(path), "folds=1"])
    assert result.exit_code == 2 and "folds" in result.output


def test_cli_trains_a_fusion_config(tiny_manifest: Path, tmp_path: Path, one_torch_thread: None) -> None:
    path = _config(tmp_path, tiny_manifest)
    result = CliRunner().invoke(app, ["train", str(path), *TINY])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "config.json").is_file() and "checkpoint:" in result.output


def test_the_stacker_never_weighs_a_branch_against_its_own_evidence() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = y * 2.0 + rng.normal(0, 1, 400)
    contrary = -1.0 * y + rng.normal(0, 1, 400)  # pooled scores that happen to run the other way
    weights, _ = fusion.stacker(np.stack([good, contrary], 1), y)
    assert weights[0] > 0 and weights[1] == 0.0
    both, _ = fusion.stacker(np.stack([good, y * 1.5 + rng.normal(0, 1, 400)], 1), y)  # two independent clues
    assert (both > 0).all()


def test_a_fusion_without_the_low_level_branch_ships_one_branch_and_maps_its_one_crop(
        tiny_manifest: Path, tmp_path: Path, one_torch_thread: None) -> None:
    cfg = load_fusion_config(_config(tmp_path, tiny_manifest), [*TINY, "lowlevel.enabled=false"])
    out = fusion.train_fusion(cfg)
    config = json.loads((out / "config.json").read_text())
    assert [b["name"] for b in config["branches"]] == ["semantic"] and config["stacker"]["regions"] == "semantic"
    assert not (out / "lowlevel").exists() and set(config["preprocessing"]) == {"semantic"}
    curve = config["metrics"]["out_of_fold"]["selective"]
    assert [c["target"] for c in curve] == [0.8, 0.85, 0.9, 0.95]
    assert all(c["selective_accuracy"] >= c["target"] or c["band"] == [0.0, 1.0] for c in curve)
    rows = read_manifest(tiny_manifest)
    verdict = load_detector(out, explain=True).detect(rows[0].path)
    assert verdict.ok and verdict.regions is not None and len(verdict.regions) == 1  # what the one crop covered
    assert verdict.regions[0].ai_probability == pytest.approx(verdict.ai_probability)
