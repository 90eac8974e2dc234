"""Degradations: pure (input untouched), deterministic given a seed, doing what they say."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from sentry_image.data import degrade

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def _image(w: int = 96, h: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_functions_return_new_rgb_images_and_leave_input_alone() -> None:
    img = _image()
    before = np.asarray(img).copy()
    outs = [degrade.jpeg(img, 50), degrade.resize(img, 0.5), degrade.blur(img, 1.0), degrade.crop(img, 32),
            degrade.noise(img, 5.0, rng=random.Random(1)), degrade.format_matched(img)]
    assert all(o.mode == "RGB" and o is not img for o in outs)
    assert np.array_equal(np.asarray(img), before)


def test_sizes() -> None:
    img = _image()
    assert degrade.resize(img, 0.5).size == (48, 32)
    assert degrade.resize(img, short_side=128).size == (192, 128)
    assert degrade.crop(img, 32).size == (32, 32) and degrade.crop(img, (200, 10)).size == (96, 10)
    assert min(degrade.format_matched(img).size) == 512


def test_jpeg_loses_information_and_quality_orders_error() -> None:
    img = _image()
    ref = np.asarray(img, dtype=np.float64)
    err = [np.abs(np.asarray(degrade.jpeg(img, q), dtype=np.float64) - ref).mean() for q in (30, 95)]
    assert err[0] > err[1] > 0
    with pytest.raises(ValueError):
        degrade.jpeg(img, 0)


def test_blur_smooths_and_noise_is_seeded() -> None:
    img = _image()
    assert np.asarray(degrade.blur(img, 2.0), dtype=np.float64).std() < np.asarray(img, dtype=np.float64).std()
    a = degrade.noise(img, 3.0, rng=random.Random(7))
    b = degrade.noise(img, 3.0, rng=random.Random(7))
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_augment_is_deterministic_given_rng() -> None:
    img = _image(300, 200)
    a = degrade.augment(img, random.Random(5))
    b = degrade.augment(img, random.Random(5))
    assert a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


def test_augment_takes_the_training_config_directly() -> None:
    from sentry_image.train.config import load_config

    img = _image(300, 200)
    cfg = load_config(None, ["augment.p_jpeg=1.0", "augment.jpeg_quality=[20, 20]", "augment.p_resize=0",
                             "augment.p_blur=0", "augment.p_noise=0"]).augment
    assert isinstance(cfg, degrade.AugmentConfig)
    out = degrade.augment(img, random.Random(0), cfg)
    assert np.array_equal(np.asarray(out), np.asarray(degrade.jpeg(img, 20)))  # exactly the one JPEG asked for


def test_disabled_augment_returns_the_pixels_unchanged_and_defaults_are_trains() -> None:
    img = _image(120, 80).convert("L")
    out = degrade.augment(img, random.Random(3), degrade.AugmentConfig(enabled=False))
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), np.asarray(img.convert("RGB")))
    cfg = degrade.AugmentConfig()
    assert (cfg.enabled, cfg.p_jpeg, cfg.jpeg_quality, cfg.p_resize, cfg.scale) == (True, 0.5, [60, 100], 0.3,
                                                                                    [0.5, 1.0])
    assert (cfg.p_blur, cfg.blur_sigma, cfg.p_noise, cfg.hflip, cfg.views) == (0.1, [0.3, 1.5], 0.0, True, 4)
    assert degrade.AugmentConfig().jpeg_quality is not cfg.jpeg_quality  # list defaults are not shared
