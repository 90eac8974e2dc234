"""The ``lbfgs`` linear probe through ``train()``: deterministic, resumable from cached features, robust to bad rows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sentry_image.models.checkpoint import load_torch
from sentry_image.train import probe
from sentry_image.train.config import TrainConfig, load_config
from sentry_image.train.run import train
from tests.helpers.paths import CONFIGS

PROBE = ["model.name=test_efficientnet_lite_tiny", "model.freeze_backbone=true", "optim.optimizer=lbfgs",
         "optim.max_iter=30", "augment.views=1"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(manifest: Path, out: Path, *extra: str) -> TrainConfig:
    return load_config(None, [f"data.manifest={manifest}", f"out={out}", *PROBE, *extra])


def _history(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "config.json").read_text())["training"]["history"][0]


def test_probe_is_deterministic_and_records_its_epoch(tiny_manifest: Path, tmp_path: Path) -> None:
    a = train(_cfg(tiny_manifest, tmp_path / "a"))
    b = train(_cfg(tiny_manifest, tmp_path / "b"))
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert float(wa["head.weight"].abs().sum()) > 0 and float(wa["feat_std"].min()) > 0
    history = _history(a)
    # 3 views per image (as decoded, mirrored, one degradation) of the 60 % training share of 32 images
    assert history["views"] == 3 * history["images"] and history["skipped"] == 0
    assert history["iterations"] > 0 and history["images_per_s"] > 0 and not history["features_cached"]
    _model, calibration, config = load_torch(a)
    assert "calibration split" in calibration.fitted_on
    assert config["training"]["config"]["optim"]["optimizer"] == "lbfgs"


def test_resumed_run_reuses_the_cached_features(tiny_manifest: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first = train(_cfg(tiny_manifest, tmp_path / "run"))
    weights = load_file(str(first / "model.safetensors"))
    assert (first / probe.CACHE).is_file()

    def no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("features were extracted again")

    monkeypatch.setattr(probe, "extract", no_extraction)
    again = train(_cfg(tiny_manifest, tmp_path / "run"))
    assert _history(again)["features_cached"]
    assert all(torch.equal(weights[k], v) for k, v in load_file(str(again / "model.safetensors")).items())
    with pytest.raises(AssertionError, match="extracted again"):  # other augmentations: the cache does not apply
        train(_cfg(tiny_manifest, tmp_path / "run", "augment.views=2"))


def test_broken_image_is_skipped_and_counted(tiny_manifest: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_manifest.parent, data)
    next(iter(sorted(data.rglob("*.png")))).write_bytes(b"not an image")
    out = train(_cfg(data / "manifest.csv", tmp_path / "run", "data.fractions=[1.0, 0.0, 0.0]",
                     "calibration.enabled=false"))
    history = _history(out)
    assert history["skipped"] == 1 and history["images"] == 31 and history["views"] == 93


def test_lbfgs_needs_a_frozen_backbone(tiny_manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"model\.freeze_backbone=true"):
        train(_cfg(tiny_manifest, tmp_path / "x", "model.freeze_backbone=false"))
    assert not (tmp_path / "x" / "model.safetensors").exists()


def test_the_semantic_probe_config_is_the_first_defaults_recipe() -> None:
    cfg = load_config(CONFIGS / "train" / "semantic_probe.yaml")
    assert (cfg.model.name, cfg.model.pretrained, cfg.model.freeze_backbone) == ("efficientnet_lite2_probe",
                                                                                 "package", True)
    assert (cfg.optim.optimizer, cfg.optim.weight_decay, cfg.augment.views) == ("lbfgs", 0.2, 4)
    assert cfg.checkpoint_name == "sentry-semantic-probe"


@pytest.mark.slow
def test_two_gloo_processes_fit_the_same_probe(tiny_manifest: Path, tmp_path: Path) -> None:
    outs = []
    for nproc in (1, 2):
        out = tmp_path / f"n{nproc}"
        overrides = [f"data.manifest={tiny_manifest}", f"out={out}", *PROBE, "calibration.enabled=false"]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "sentry_image.cli", "train", *overrides]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        outs.append(out)
    one = torch.load(outs[0] / probe.CACHE, weights_only=False)
    two = torch.load(outs[1] / probe.CACHE, weights_only=False)
    assert torch.allclose(one["features"], two["features"], atol=1e-5)  # same rows, same views, same order
    a, b = load_file(str(outs[0] / "model.safetensors")), load_file(str(outs[1] / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
