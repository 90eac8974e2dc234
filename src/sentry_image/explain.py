"""Pictures of where the detector looked: per-region probabilities (:class:`~sentry_image.types.Region`) as a map
over the image, drawn for people (``sentry-image detect --explain`` and the demo page).

The picture is the image in dimmed greyscale, so that colour means the detector and nothing else; each region the
detector scored is tinted on a diverging scale (blue: looks real, neutral grey at the threshold, red: looks
AI-generated); pixels no region covered stay plain grey, because the detector said nothing about them. A legend
strip below gives the scale. Only numpy and Pillow: this runs on the core install.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from .types import Region

#: The long side of the map's grid and of the drawn picture: enough to read the boxes, small enough that a 50 MP
#: photo costs a few megabytes of arrays.
MAX_SIDE = 1024
#: Pictures are drawn at least this wide and long (small inputs are enlarged, pixels kept sharp), so that the
#: outlines and the legend stay readable.
MIN_SIDE = 256
#: The legend strip is at least this wide: a tall, narrow picture is centred on a wider canvas.
LEGEND_WIDTH = 300
LEGEND = "AI probability per region"

# Moreland's "cool to warm" diverging scale, sampled at nine even steps (as matplotlib ships it): its two arms have
# matching lightness ramps, so equal distances from the threshold look equally strong on either side, and blue
# against red stays distinct for the common red-green colour-vision deficiencies. The middle is a light grey
# rather than white, so a region at the threshold still reads as "scored" against the darker uncovered grey.
_STOPS = np.linspace(0.0, 1.0, 9)
_COLOURS = np.array([(59, 76, 192), (98, 130, 234), (141, 176, 254), (185, 208, 249), (221, 221, 221),
                     (245, 196, 172), (244, 152, 122), (221, 95, 75), (180, 4, 38)], dtype=np.float32)
_DIM = (30.0, 0.5)  # grey = 30 + 0.5 * luminance: the photo recedes, its shapes stay legible
_SHADE = (0.45, 0.55)  # tint = colour * (0.45 + 0.55 * luminance): the tint keeps the image's structure
_FONT_SIZE = 13


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled down (never up) so that its long side is at most ``max_side``."""
    width, height = size
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rasterise(grid: tuple[int, int], size: tuple[int, int],
               regions: Sequence[Region]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Mean probability of the boxes covering each cell of a ``grid`` (width, height) laid over ``size``."""
    gw, gh = grid
    sx, sy = gw / max(size[0], 1), gh / max(size[1], 1)
    total = np.zeros((gh, gw), dtype=np.float64)
    count = np.zeros((gh, gw), dtype=np.int32)
    for r in regions:
        if r.width <= 0 or r.height <= 0 or not math.isfinite(r.ai_probability):
            continue
        # A cell belongs to a box when the box overlaps it: floor the start, ceil the end, so that a box smaller
        # than a cell of a reduced grid still shows as one cell instead of vanishing.
        x0, y0 = max(0, math.floor(r.x * sx)), max(0, math.floor(r.y * sy))
        x1, y1 = min(gw, math.ceil((r.x + r.width) * sx)), min(gh, math.ceil((r.y + r.height) * sy))
        if x1 <= x0 or y1 <= y0:
            continue  # wholly outside the image
        total[y0:y1, x0:x1] += min(1.0, max(0.0, r.ai_probability))
        count[y0:y1, x0:x1] += 1
    covered = count > 0
    prob = np.full((gh, gw), np.nan, dtype=np.float32)
    prob[covered] = total[covered] / count[covered]
    return prob, covered


def region_map(size: tuple[int, int], regions: Sequence[Region], *,
               max_side: int = MAX_SIDE) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Per-pixel mean probability of the regions covering each pixel of an image of ``size`` (width, height).

    Boxes are in the image's displayed pixels. The map is computed on a grid whose long side is at most
    ``max_side`` (the image's own size when smaller): ``prob.shape[1] / size[0]`` is its scale.

    Returns:
        ``prob``: float32 ``[H, W]``, the mean of the overlapping regions' probabilities (NaN where no region
        covers the pixel: the detector said nothing there, which is not a probability of 0), and ``covered``:
        bool ``[H, W]``, True where at least one region lies.
    """
    return _rasterise(_fit(size, max_side), size, regions)


def _scale_position(prob: NDArray[np.float32], threshold: float) -> NDArray[np.float32]:
    """Probabilities -> positions on the colour scale, piecewise linear so that ``threshold`` sits at the neutral
    middle: a region only turns red when it is on the AI side of the decision actually made."""
    below = 0.5 * prob / max(threshold, 1e-9)
    above = 0.5 + 0.5 * (prob - threshold) / max(1.0 - threshold, 1e-9)
    return np.clip(np.where(prob < threshold, below, above), 0.0, 1.0).astype(np.float32)


def _colours(positions: NDArray[np.float32]) -> NDArray[np.float32]:
    """Positions in [0, 1] -> RGB in [0, 255], ``[..., 3]``."""
    return np.stack([np.interp(positions, _STOPS, _COLOURS[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except (TypeError, OSError, ImportError):  # a Pillow built without FreeType has only the bitmap font
        return ImageFont.load_default()


def _legend(width: int, threshold: float) -> Image.Image:
    """The strip below the map: the title, the colour bar (drawn with the same mapping as the map) and its ticks."""
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = math.ceil(probe.textbbox((0, 0), "0123456789Ag", font=font)[3]) + 2
    margin, bar_h = 8, 12
    strip = Image.new("RGB", (width, margin + line + 4 + bar_h + 4 + line + margin), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    draw.text((margin, margin), LEGEND, fill=(26, 26, 26), font=font)
    bar_w = max(2, min(width - 2 * margin, 512))
    top = margin + line + 4
    ramp = _colours(_scale_position(np.linspace(0.0, 1.0, bar_w, dtype=np.float32), threshold))
    strip.paste(Image.fromarray(np.repeat(ramp[None].round().astype(np.uint8), bar_h, axis=0)), (margin, top))
    draw.rectangle((margin - 1, top - 1, margin + bar_w, top + bar_h), outline=(74, 74, 74))
    ticks = [(threshold, f"threshold {threshold:.2f}", "ma"), (0.0, "0", "la"), (1.0, "1", "ra")]
    taken: list[tuple[float, float, float, float]] = []
    for value, text, anchor in ticks:  # the threshold first: an end label that would overlap it is left out
        x = margin + round(value * (bar_w - 1))
        box = draw.textbbox((x, top + bar_h + 4), text, font=font, anchor=anchor)
        # a threshold near 0 or 1: keep its label inside the strip's margins
        shift = max(0, margin // 2 - box[0]) - max(0, box[2] - (width - margin // 2))
        box = (box[0] + shift, box[1], box[2] + shift, box[3])
        if any(box[0] < b[2] + 4 and b[0] < box[2] + 4 for b in taken):
            continue
        taken.append(box)
        draw.line((x, top + bar_h, x, top + bar_h + 3), fill=(26, 26, 26))
        draw.text((x + shift, top + bar_h + 4), text, fill=(26, 26, 26), font=font, anchor=anchor)
    return strip


def render_overlay(image: Image.Image, regions: Sequence[Region], *, threshold: float | None = None,
                   max_side: int = MAX_SIDE, size: tuple[int, int] | None = None) -> Image.Image:
    """Draw ``regions`` over ``image``: dimmed greyscale, covered areas tinted blue (real) to red (AI) with the
    neutral point at ``threshold`` (default 0.5), thin box outlines, and a legend strip below.

    Args:
        image: the image whose displayed pixels the boxes are measured in.
        regions: the verdict's regions (boxes may overlap: a pixel shows their mean).
        threshold: the verdict's threshold, drawn as the neutral point of the scale.
        max_side: the picture's long side is scaled down to at most this (never below :data:`MIN_SIDE`).
        size: the size the boxes are measured in, when ``image`` was decoded smaller than displayed (a reduced
            JPEG decode); default ``image.size``.
    """
    threshold = 0.5 if threshold is None else min(1.0, max(0.0, float(threshold)))
    source = size or image.size
    out_size = _fit(image.size, max(max_side, MIN_SIDE))
    if max(out_size) < MIN_SIDE:  # enlarge by a whole factor: the pixels stay sharp and honest
        factor = math.ceil(MIN_SIDE / max(out_size))
        out_size = (out_size[0] * factor, out_size[1] * factor)
    small = image.convert("RGB")
    if small.size != out_size:
        enlarge = out_size[0] > small.width
        small = small.resize(out_size, Image.Resampling.NEAREST if enlarge else Image.Resampling.LANCZOS,
                             reducing_gap=None if enlarge else 3.0)
    luminance = np.asarray(small.convert("L"), dtype=np.float32)
    pixels = np.repeat((_DIM[0] + _DIM[1] * luminance)[..., None], 3, axis=-1)
    prob, covered = _rasterise(out_size, source, regions)
    if covered.any():
        tint = _colours(_scale_position(prob[covered], threshold))
        pixels[covered] = tint * (_SHADE[0] + _SHADE[1] * luminance[covered] / 255.0)[:, None]
    picture = Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8)).convert("RGBA")
    # Outlines half-transparent and one pixel wide (two on large pictures): they show where each box ends where
    # boxes overlap, without hiding the pixels under them.
    lines = Image.new("RGBA", out_size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(lines)
    sx, sy = out_size[0] / max(source[0], 1), out_size[1] / max(source[1], 1)
    width = 1 if max(out_size) < 768 else 2
    for r in regions:
        if r.width > 0 and r.height > 0:
            box = (round(r.x * sx), round(r.y * sy), round((r.x + r.width) * sx) - 1, round((r.y + r.height) * sy) - 1)
            if box[2] >= box[0] and box[3] >= box[1]:
                draw.rectangle(box, outline=(255, 255, 255, 140), width=width)
    picture = Image.alpha_composite(picture, lines).convert("RGB")
    legend = _legend(max(out_size[0], LEGEND_WIDTH), threshold)
    canvas = Image.new("RGB", (legend.width, out_size[1] + legend.height), (255, 255, 255))
    canvas.paste(picture, ((legend.width - out_size[0]) // 2, 0))
    canvas.paste(legend, (0, out_size[1]))
    return canvas


def save_overlay(image: Image.Image, regions: Sequence[Region], path: str | Path, threshold: float | None = None,
                 *, max_side: int = MAX_SIDE, size: tuple[int, int] | None = None) -> Path:
    """Write :func:`render_overlay`'s picture to ``path`` as PNG and return the path."""
    path = Path(path)
    render_overlay(image, regions, threshold=threshold, max_side=max_side, size=size).save(path, format="PNG")
    return path


def overlay_png(image: Image.Image, regions: Sequence[Region], threshold: float | None = None, *,
                max_side: int = MAX_SIDE, size: tuple[int, int] | None = None) -> bytes:
    """:func:`render_overlay`'s picture as PNG bytes (for a ``data:`` URL or an HTTP response)."""
    buf = io.BytesIO()
    render_overlay(image, regions, threshold=threshold, max_side=max_side, size=size).save(buf, format="PNG")
    return buf.getvalue()


__all__ = ["LEGEND", "LEGEND_WIDTH", "MAX_SIDE", "MIN_SIDE", "overlay_png", "region_map", "render_overlay",
           "save_overlay"]
