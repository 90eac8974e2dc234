"""Maps of where the detector looked: the per-pixel region map and the drawn overlay (numpy and Pillow only)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentry_image.explain import LEGEND_WIDTH, MIN_SIDE, overlay_png, region_map, render_overlay, save_overlay
from sentry_image.types import Region
from tests.helpers.imagegen import gradient

pytestmark = pytest.mark.core  # runs on the core install too (no torch)

DIM_BLACK = 30  # what a black pixel becomes in the dimmed greyscale


def halves(width: int = 400, height: int = 200) -> list[Region]:
    return [Region(0, 0, width // 2, height, 0.05), Region(width // 2, 0, width // 2, height, 0.95)]


def red_minus_blue(picture: Image.Image) -> np.ndarray:
    """Mean R - B of each pixel column."""
    arr = np.asarray(picture.convert("RGB"), dtype=np.float64)
    return (arr[..., 0] - arr[..., 2]).mean(axis=0)


def legend_height() -> int:
    """The legend strip's height: an all-black 400x200 input without regions is dimmed to 30 everywhere, and the
    strip's left margin is white."""
    overlay = render_overlay(Image.new("RGB", (400, 200)), [])
    edge = np.asarray(overlay.convert("L"))[:, 0]
    assert (edge[:200] == DIM_BLACK).all() and (edge[200:] == 255).all()
    return overlay.height - 200


def picture_rows(overlay: Image.Image) -> int:
    """Rows of the drawn image above the legend."""
    return overlay.height - legend_height()


def test_region_map_averages_overlapping_boxes_and_marks_uncovered_pixels() -> None:
    prob, covered = region_map((10, 8), [Region(0, 0, 6, 4, 0.2), Region(4, 0, 4, 4, 0.6)])
    assert prob.shape == covered.shape == (8, 10) and prob.dtype == np.float32 and covered.dtype == np.bool_
    assert prob[1, 1] == pytest.approx(0.2) and prob[1, 7] == pytest.approx(0.6)
    assert prob[1, 5] == pytest.approx(0.4)  # covered by both boxes: their mean
    assert covered[:4, :8].all() and not covered[:, 8:].any() and not covered[4:].any()
    assert np.isnan(prob[~covered]).all()  # no region there: no probability, rather than a confident 0


def test_region_map_of_a_big_image_is_a_reduced_grid_that_loses_no_box() -> None:
    size = (4000, 3000)
    prob, covered = region_map(size, [Region(2000, 0, 2000, 3000, 0.9), Region(10, 10, 2, 2, 0.1)])
    assert prob.shape == (768, 1024)  # long side 1024, aspect kept; the scale is 1024 / 4000
    assert covered[:, 512:].all() and covered[:, :512].sum() == 4  # the small box: 2x2 cells of the grid
    assert covered[2, 2] and prob[2, 2] == pytest.approx(0.1)  # a box smaller than a grid cell still shows
    none, nothing = region_map(size, [Region(5000, 0, 10, 10, 0.5), Region(0, 0, 0, 10, 0.5)])
    assert not nothing.any() and np.isnan(none).all()  # outside the image, or empty: ignored


def test_overlay_is_redder_where_regions_look_ai_and_keeps_the_aspect_ratio() -> None:
    overlay = render_overlay(Image.new("RGB", (400, 200)), halves())
    assert overlay.width == 400 and picture_rows(overlay) == 200 and legend_height() > 20  # not resized, legend below
    columns = red_minus_blue(overlay.crop((0, 0, 400, 200)))
    left, right = columns[:200].mean(), columns[200:].mean()
    assert right > left and right > 0 > left
    textured = render_overlay(gradient((400, 200)), halves())
    tcols = red_minus_blue(textured.crop((0, 0, 400, 200)))
    assert tcols[200:].mean() > tcols[:200].mean()


def test_uncovered_pixels_stay_grey() -> None:
    overlay = render_overlay(gradient((400, 200)), halves()[:1])
    arr = np.asarray(overlay, dtype=np.int16)[:200, 210:]  # right half: no region (clear of the outline)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()


def test_big_image_is_drawn_with_its_long_side_at_1024_and_a_legend_below() -> None:
    overlay = render_overlay(Image.new("RGB", (4000, 3000)), halves(4000, 3000))
    assert overlay.width == 1024 and picture_rows(overlay) == 768  # 4:3 kept
    assert overlay.height > 768  # the legend strip
    legend = np.asarray(overlay, dtype=np.int16)[768:]
    reds = ((legend[..., 0] > 150) & (legend[..., 2] < 80)).sum()
    blues = ((legend[..., 2] > 150) & (legend[..., 0] < 100)).sum()
    assert reds > 0 and blues > 0  # the colour bar's two ends
    assert render_overlay(Image.new("RGB", (4000, 3000)), [], max_side=500).width == 500


def test_small_and_narrow_images_are_enlarged_and_centred_so_the_legend_fits() -> None:
    small = render_overlay(Image.new("RGB", (64, 48)), [Region(0, 0, 32, 48, 0.9)])
    assert picture_rows(small) == 192 and small.width == LEGEND_WIDTH  # 64x48 enlarged 4x to 256x192
    narrow = render_overlay(Image.new("RGB", (30, 120)), [Region(0, 0, 30, 60, 0.9)], threshold=0.02)
    assert narrow.width == LEGEND_WIDTH and picture_rows(narrow) == 360 >= MIN_SIDE  # 30x120 enlarged 3x
    padding = np.asarray(narrow)[: picture_rows(narrow), :100]
    assert (padding == 255).all()  # centred on the wider canvas


def test_threshold_is_the_neutral_point_of_the_scale() -> None:
    image = Image.new("RGB", (300, 300), (255, 255, 255))
    region = [Region(0, 0, 300, 300, 0.6)]
    by_default = red_minus_blue(render_overlay(image, region).crop((10, 10, 290, 290))).mean()
    strict = red_minus_blue(render_overlay(image, region, threshold=0.7).crop((10, 10, 290, 290))).mean()
    assert by_default > 0 > strict  # 0.6 is on the AI side of 0.5 and on the real side of 0.7


def test_boxes_measured_on_the_displayed_size_fit_a_reduced_decode() -> None:
    full = render_overlay(Image.new("RGB", (800, 400)), halves(800, 400), max_side=400)
    reduced = render_overlay(Image.new("RGB", (400, 200)), halves(800, 400), max_side=400, size=(800, 400))
    assert full.size == reduced.size
    assert np.abs(np.asarray(full, dtype=np.int16) - np.asarray(reduced, dtype=np.int16)).max() <= 1


def test_png_bytes_and_saved_file_hold_the_same_picture(tmp_path: Path) -> None:
    image = gradient((120, 80))
    data = overlay_png(image, halves(120, 80), threshold=0.4)
    assert data.startswith(b"\x89PNG")
    path = save_overlay(image, halves(120, 80), tmp_path / "a.explain.png", threshold=0.4)
    assert path == tmp_path / "a.explain.png"
    with Image.open(io.BytesIO(data)) as png, Image.open(path) as saved:
        assert png.size == saved.size and np.array_equal(np.asarray(png), np.asarray(saved))
