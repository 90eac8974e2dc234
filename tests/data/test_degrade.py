"""Degradations: pure (input untouched), deterministic given a seed, doing what they say."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from sentry_image.data import degrade


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
