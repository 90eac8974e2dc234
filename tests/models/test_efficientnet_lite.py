"""The EfficientNet-Lite family (tiny variant) and the shipped default checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sentry_image.models import create_detector, save_checkpoint
from sentry_image.models.checkpoint import load_torch
from sentry_image.models.efficientnet_lite import LiteDetector
from sentry_image.models.runtime import logits_for_images
from tests.helpers.paths import SHIPPED_DEFAULT as SHIPPED


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
    assert logits_for_images(model, _images()).shape == (2,)


def test_tiny_round_trip_keeps_standardisation(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_detector("test_efficientnet_lite_tiny").eval()
    assert isinstance(model, LiteDetector)
    model.feat_mean.normal_()  # type: ignore[operator]
    model.feat_std.uniform_(0.5, 2.0)  # type: ignore[operator]
    before = logits_for_images(model, _images())
    loaded, _, _ = load_torch(save_checkpoint(model, tmp_path / "c"))
    np.testing.assert_allclose(logits_for_images(loaded, _images()), before, atol=1e-6)


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant"):
        LiteDetector("lite9")


def test_shipped_checkpoint_loads_on_torch_and_scores() -> None:
    if not (SHIPPED / "config.json").is_file():
        pytest.skip("no shipped checkpoint in this checkout")
    model, calibration, config = load_torch(SHIPPED / "semantic")  # the default's semantic branch
    assert isinstance(model, LiteDetector) and config["architecture"] == "efficientnet_lite2_probe"
    # graph and torch weights together (the wheel budget itself is tests/test_core.py's)
    assert sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file()) < 40 * 1024 * 1024
    probs = calibration.probability(logits_for_images(model, _images()))  # no timing bound: machines are shared
    assert probs.shape == (2,) and ((probs >= 0) & (probs <= 1)).all()
    low, high = calibration.uncertain_band
    assert low <= calibration.threshold <= high
