"""The EfficientNet-Lite family (tiny variant) and the shipped default checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sentry_image.models import create_detector, load_checkpoint, save_checkpoint
from sentry_image.models.efficientnet_lite import LiteDetector

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "sentry_image" / "weights" / "default"


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 300 * 200 * 3).reshape(200, 300, 3)
    return [Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)),
            Image.fromarray(smooth.astype(np.uint8))]


def test_tiny_forward_shapes_and_feature_count() -> None:
    torch.manual_seed(0)
    model = create_detector("test_efficientnet_lite_tiny").eval()
    assert isinstance(model, LiteDetector)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert model.features(x).shape == (2, model.num_features)
        assert model(x).shape == (2,)
    assert model.logits_for_images(_images()).shape == (2,)


def test_tiny_round_trip_keeps_standardisation(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_detector("test_efficientnet_lite_tiny").eval()
    assert isinstance(model, LiteDetector)
    model.feat_mean.normal_()  # type: ignore[operator]
    model.feat_std.uniform_(0.5, 2.0)  # type: ignore[operator]
    before = model.logits_for_images(_images())
    loaded, _, _ = load_checkpoint(save_checkpoint(model, tmp_path / "c"))
    assert torch.allclose(loaded.logits_for_images(_images()), before, atol=1e-6)


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant"):
        LiteDetector("lite9")


def test_shipped_checkpoint_loads_and_scores_quickly() -> None:
    if not (SHIPPED / "config.json").is_file():
        pytest.skip("no shipped checkpoint in this checkout")
    model, calibration, config = load_checkpoint(SHIPPED)
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 40 * 1024 * 1024
    # trained by train(): the checkpoint records its calibration-split metrics; test metrics are in results/comparison
    assert config["metrics"]["calibration_split"]["auc"] > 0.5 and "training_data_sha256" in config
    start = time.perf_counter()
    probs = calibration.probability(model.logits_for_images(_images()))
    # generous: a guard against a pathological slowdown, not a benchmark (CI machines are shared and noisy)
    assert time.perf_counter() - start < 30.0
    assert probs.shape == (2,) and ((probs >= 0) & (probs <= 1)).all()
    low, high = calibration.uncertain_band
    assert low <= calibration.threshold <= high
