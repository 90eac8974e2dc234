"""Helpers of the scale tests: generated image folders and the rows of a score-batch output."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as pads

from tests.helpers.builders import write_image


def image_folder(folder: Path, n: int, *, size: tuple[int, int] = (48, 40), broken: int = 0) -> list[Path]:
    """``n`` distinct noise JPEGs (half in a sub-folder) plus ``broken`` files that are not images."""
    paths = []
    for i in range(n):
        sub = folder / ("nested" if i % 2 else "")
        paths.append(write_image(sub / f"img{i:04d}.jpg", size=size, seed=i, quality=90))
    for i in range(broken):
        bad = folder / f"broken{i}.png"
        bad.write_bytes(b"not an image at all")
        paths.append(bad)
    return paths


def read_rows(out: Path) -> list[dict[str, object]]:
    """Every row of a score-batch output folder."""
    return list(pads.dataset(out, format="parquet").to_table().to_pylist())
