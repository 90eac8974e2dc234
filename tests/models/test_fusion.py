"""Fusion checkpoint folders (:mod:`sentry_image.models.fusion`) on disk: loading branch checkpoints on either backend,
recalibrating and exporting them, and the errors of a malformed one (the arithmetic: test_fusion_scorer.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from sentry_image import load_detector
from sentry_image.evaluate.recalibrate import recalibrate
from sentry_image.models import Calibration, create_detector, save_checkpoint
from sentry_image.models.checkpoint import CheckpointError, load_model, write_config
from sentry_image.models.export import export_onnx
from tests.helpers.builders import labelled_folder, write_image


def _fusion(folder: Path) -> Path:
    torch.manual_seed(0)
    for name, arch in (("semantic", "test_efficientnet_lite_tiny"), ("lowlevel", "test_lowlevel_tiny")):
        save_checkpoint(create_detector(arch), folder / name, name=f"f-{name}", version="1")
        export_onnx(folder / name, folder / name / "model.onnx")
    write_config(folder, {
        "name": "fused", "version": "2", "architecture": "fusion",
        "branches": [{"name": "semantic", "folder": "semantic", "weight": 1.5},
                     {"name": "lowlevel", "folder": "lowlevel", "weight": 0.7}],
        "stacker": {"bias": -0.2, "regions": "lowlevel"}, "preprocessing": {},
        "calibration": Calibration(temperature=0.8, threshold=0.4, uncertain_band=(0.35, 0.45)).to_dict()})
    return folder


def test_a_fusion_folder_runs_the_same_on_onnxruntime_and_torch_and_maps_its_tiles(tmp_path: Path) -> None:
    ckpt = _fusion(tmp_path / "fused")
    images = [write_image(tmp_path / f"{k}.png", size=s, seed=k) for k, s in enumerate([(64, 48), (130, 90)])]
    onnx_det = load_detector(ckpt, explain=True)
    torch_det = load_detector(ckpt, backend="torch")
    assert onnx_det.name == "fused@2" and onnx_det.backend == "onnx" and torch_det.backend == "torch"
    got = list(onnx_det.detect_many(images))
    ref = list(torch_det.detect_many(images))
    for o, t in zip(got, ref, strict=True):
        assert o.ai_probability is not None and t.ai_probability is not None
        assert abs(o.ai_probability - t.ai_probability) < 1e-4
        assert t.regions is None  # only when asked for
    regions = got[1].regions
    assert regions is not None and len(regions) == 4  # the low-level branch's 2x2 grid of 32 px tiles
    assert {(r.width, r.height) for r in regions} == {(32, 32)}
    assert max(r.x + r.width for r in regions) == 130 and max(r.y + r.height for r in regions) == 90
    # the branches' own logits, stacked by hand, give the fused probability
    model = load_model(ckpt)
    sem, low = (load_model(ckpt / b) for b in ("semantic", "lowlevel"))
    image = Image.open(images[1]).convert("RGB")
    z = -0.2 + 1.5 * sem.scorer.score([sem.scorer.prepare(image)]).logits + \
        0.7 * low.scorer.score([low.scorer.prepare(image)]).logits
    assert got[1].ai_probability == pytest.approx(float(model.calibration.probability(z)[0]), abs=1e-6)


def test_a_malformed_fusion_folder_is_refused_with_a_reason(tmp_path: Path) -> None:
    ckpt = _fusion(tmp_path / "fused")
    config = json.loads((ckpt / "config.json").read_text())
    for branches, message in (([], "non-empty"), ([{"name": "x", "folder": "../x", "weight": 1}], "inside"),
                              ([{"name": "x", "weight": 1}], "name, folder and weight")):
        write_config(ckpt, {**config, "branches": branches})
        with pytest.raises(CheckpointError, match=message):
            load_model(ckpt)
    write_config(ckpt, config)
    shutil.rmtree(ckpt / "lowlevel")
    with pytest.raises(CheckpointError, match="lowlevel"):
        load_model(ckpt)


def test_exporting_a_fusion_folder_names_its_branch_graphs(tmp_path: Path) -> None:
    ckpt = _fusion(tmp_path / "fused")
    with pytest.raises(ValueError, match=r"fusion of branches .*semantic/model\.onnx"):
        export_onnx(ckpt, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_recalibrating_a_fusion_folder_copies_its_branches_unchanged(tmp_path: Path) -> None:
    ckpt = _fusion(tmp_path / "fused")
    data = labelled_folder(tmp_path / "data", real=6, ai=6)
    cal = recalibrate(ckpt, data, tmp_path / "cal")
    for branch in ("semantic", "lowlevel"):
        for name in ("config.json", "model.onnx", "model.safetensors"):
            assert (tmp_path / "cal" / branch / name).read_bytes() == (ckpt / branch / name).read_bytes()
    model = load_model(tmp_path / "cal")
    assert model.calibration == cal and model.id.startswith("fused@2+cal.")
