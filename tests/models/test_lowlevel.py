"""The low-level branch (:mod:`sentry_image.models.lowlevel`): residual inputs, native tiles, mean of tile logits."""

from __future__ import annotations

import numpy as np
import torch

from sentry_image.data.preprocess import preprocess
from sentry_image.models.families import create_detector
from sentry_image.models.lowlevel import residuals
from tests.helpers.builders import noise_image


def test_residuals_ignore_content_that_is_constant_over_each_2x2_cell_and_flat_regions() -> None:
    cells = torch.rand(1, 3, 8, 8).repeat_interleave(2, 2).repeat_interleave(2, 3)  # 2x nearest up-sampling
    r = residuals(cells)
    assert r.shape == (1, 6, 16, 16)
    assert torch.all(r[:, :3] == 0)  # the NPR residual of an up-sampled image is exactly zero
    flat = residuals(torch.full((1, 3, 9, 9), 0.3))
    assert flat.shape == (1, 6, 8, 8) and torch.allclose(flat, torch.zeros_like(flat), atol=1e-6)  # odd sides cropped
    shifted = residuals(cells + 0.1)  # a brightness shift changes no residual
    assert torch.allclose(shifted, r, atol=1e-5)


def test_the_branch_reads_native_tiles_on_a_grid_and_is_fully_convolutional() -> None:
    net = create_detector("test_lowlevel_tiny").eval()
    cfg = net.preprocess_cfg
    assert cfg.resize_short is None and cfg.num_crops == 4 and cfg.mean == (0.0, 0.0, 0.0)
    image = noise_image((90, 70), seed=3)
    x = preprocess(image, cfg)
    assert x.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(x[0], np.asarray(image)[:32, :32].transpose(2, 0, 1) / np.float32(255.0))
    with torch.no_grad():
        tiles = net(torch.from_numpy(x))
        whole = net(torch.from_numpy(np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0))
    assert tiles.shape == (4,) and whole.shape == (1,)  # any input size: global pooling


def test_the_default_branch_is_small() -> None:
    net = create_detector("lowlevel_residual")
    assert sum(p.numel() for p in net.parameters()) < 30_000
    assert net.preprocess_cfg.crop_size == 64 and net.preprocess_cfg.num_crops == 16
