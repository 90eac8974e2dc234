"""Contract tests that grow with the registry: every registered detector obeys the same rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sentry_image.models import (
    CheckpointError,
    DetectorModel,
    Runner,
    create_detector,
    list_detectors,
    register_detector,
    save_checkpoint,
)
from sentry_image.models.checkpoint import load_model, load_torch
from sentry_image.models.runtime import logits_for_images
from tests.helpers.builders import noise_image

# Full-size architectures are exercised through their tiny test_* variants; build only those here.
TINY = list_detectors("test_*")


def test_registry_has_tiny_variants_and_rejects_unknown_names() -> None:
    assert TINY, "every family should register a tiny test_* variant"
    with pytest.raises(KeyError, match="unknown detector 'nope'"):
        create_detector("nope")


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_detector("test_tiny_cnn")(lambda: None)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("name", TINY)
def test_forward_gives_one_logit_per_image(name: str) -> None:
    torch.manual_seed(0)
    model = create_detector(name)
    assert isinstance(model, DetectorModel) and model.registry_name == name
    cfg = model.preprocess_cfg
    x = torch.randn(3, 3, cfg.crop_size, cfg.crop_size)
    with torch.inference_mode():
        out = model.eval()(x)
    assert out.shape == (3,) and torch.isfinite(out).all()
    logits = logits_for_images(model, [noise_image((50, 70), seed=1), noise_image((20, 20), seed=2)])
    assert logits.shape == (2,) and np.isfinite(logits).all()


@pytest.mark.parametrize("name", TINY)
def test_training_hooks_and_the_runner_contract(name: str) -> None:
    torch.manual_seed(0)
    model = create_detector(name).eval()
    cfg = model.preprocess_cfg
    x = torch.randn(2, 3, cfg.crop_size, cfg.crop_size)
    with torch.inference_mode():
        feats = model.features(x)
        assert feats.ndim == 2 and feats.shape[0] == 2
        torch.testing.assert_close(model.classify(feats), model(x))  # forward = classify(features(x))
    # a model is a Runner: numpy in, one float32 logit per row out, the same numbers as forward
    assert isinstance(model, Runner)
    ran = model.run(x.numpy())
    assert isinstance(ran, np.ndarray) and ran.dtype == np.float32 and ran.shape == (2,)
    np.testing.assert_allclose(ran, model(x).detach().numpy(), atol=1e-6)
    # a frozen-backbone run optimises the head's parameters, which are the model's own
    head = model.head_parameters()
    own = {id(p) for p in model.parameters()}
    assert head and all(id(p) in own for p in head)
    assert {id(p) for p in head} == {id(p) for p in model.head.parameters()}


@pytest.mark.parametrize("name", TINY)
def test_checkpoint_round_trip_reproduces_scores(name: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_detector(name).eval()
    images = [noise_image((64, 64), seed=5)]
    before = logits_for_images(model, images)
    folder = save_checkpoint(model, tmp_path / name, extra={"training": {"data_sha256": "x"}})
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == name and config["labels"] == {"0": "real", "1": "ai-generated"}
    assert config["preprocessing"]["crop_size"] == model.preprocess_cfg.crop_size
    loaded, calibration, _ = load_torch(folder)
    np.testing.assert_allclose(logits_for_images(loaded, images), before, atol=1e-6)
    assert calibration.threshold == 0.5
    # no graph in the folder: auto loads the torch weights, with the same scores
    auto = load_model(folder)
    assert auto.backend == "torch" and auto.id == f"{name}@0"
    np.testing.assert_allclose(logits_for_images(auto.runner, images), before, atol=1e-6)


def test_checkpoint_whose_config_does_not_match_its_weights_fails_clearly(tmp_path: Path) -> None:
    folder = save_checkpoint(create_detector("test_tiny_cnn", width=4), tmp_path / "c")
    config = json.loads((folder / "config.json").read_text())
    config["args"]["width"] = 8
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match"):
        load_torch(folder)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda f: (f / "model.safetensors").unlink(), "no model.safetensors"),
    (lambda f: (f / "config.json").write_text("{"), "unreadable config"),
    (lambda f: (f / "model.safetensors").write_bytes(b"garbage"), "unreadable weights"),
    (lambda f: (f / "config.json").write_text(json.dumps({"architecture": "nope", "preprocessing": {},
                                                          "calibration": {}})), "cannot build"),
])
def test_broken_checkpoints_fail_with_the_folder_named(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = save_checkpoint(create_detector("test_tiny_cnn"), tmp_path / "c")
    mutate(folder)
    with pytest.raises(CheckpointError, match=message) as info:
        load_torch(folder)
    assert str(tmp_path) in str(info.value)
