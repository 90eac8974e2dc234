"""A manifest with one subset too small to read: 40 real photos, 36 diffusion images and 4 GAN images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

COUNTS = {"camera": 40, "diffusion": 36, "gan": 4}


def write_small_subset_manifest(root: Path, *, broken: int = 0) -> Path:
    """Generated images (AI ones smoothed more, so a detector can tell them apart) and ``broken`` files that are
    not images, listed as real photos."""
    rows = []
    for family, count in COUNTS.items():
        label = "real" if family == "camera" else "ai"
        for i in range(count):
            rng = np.random.default_rng(1000 * len(rows) + i)
            image = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
            # blur of overlapping strengths: the classes differ, but not so cleanly that every interval collapses
            image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 2.0)) + (0.8 if label == "ai" else 0)))
            rel = f"{label}/{family}{i % 4}/{i}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(root / rel)
            rows.append({"path": rel, "label": label, "family": family, "source": f"{family}{i % 4}"})
    for i in range(broken):
        rel = f"real/broken/{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"not an image")
        rows.append({"path": rel, "label": "real", "family": "camera", "source": "broken"})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest
