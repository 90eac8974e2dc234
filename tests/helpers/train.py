"""A small labelled manifest of generated images for training and evaluation tests (no shared data needed)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def write_manifest(root: Path, groups: int = 4, per_group: int = 4, size: tuple[int, int] = (48, 40)) -> Path:
    """``groups`` source folders per label, ``per_group`` images each; AI images are smooth, real ones grainy.

    The difference is learnable in a few steps, so a short training run must beat chance on it.
    """
    rows = []
    for label in ("real", "ai"):
        for g in range(groups):
            for i in range(per_group):
                rng = np.random.default_rng(g * 100 + i + (0 if label == "real" else 10_000))
                arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                image = Image.fromarray(arr)
                if label == "ai":
                    image = image.filter(ImageFilter.GaussianBlur(2))
                rel = f"{label}/{label}{g}/img{i}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                image.save(root / rel)
                rows.append({"path": rel, "label": label, "generator": "camera" if label == "real" else f"gen{g % 2}",
                             "family": "camera" if label == "real" else ("diffusion" if g % 2 else "gan"),
                             "source": f"{label}{g}"})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest
