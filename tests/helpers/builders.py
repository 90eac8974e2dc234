"""Test helpers that build real files: tiny checkpoints and generated images (no shared data needed).

Importing this module needs no torch (the image helpers serve core-only tests); :func:`tiny_checkpoint` imports it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from sentry_image.models.calibration import Calibration


def tiny_checkpoint(folder: Path, *, threshold: float = 0.5, band: tuple[float, float] = (0.4, 0.6),
                    seed: int = 0) -> Path:
    """A real checkpoint folder of the ``test_tiny_cnn`` detector with deterministic random weights."""
    import torch

    from sentry_image.models import create_detector, save_checkpoint

    torch.manual_seed(seed)
    model = create_detector("test_tiny_cnn", width=4, crop_size=32)
    calib = Calibration(temperature=1.0, threshold=threshold, uncertain_band=band, method="test",
                        fitted_on="nothing: test fixture")
    return save_checkpoint(model, folder, calibration=calib, name="tiny", version="t1")


def calibrated_checkpoint(name: str, folder: Path) -> Path:
    """A checkpoint folder of registry detector ``name`` (seeded weights) with a calibration that is not the
    identity (temperature, bias, threshold and band all set), so exported graphs must carry it to agree."""
    import torch

    from sentry_image.models import create_detector, save_checkpoint

    torch.manual_seed(0)
    calibration = Calibration(temperature=0.7, bias=0.3, threshold=0.45, uncertain_band=(0.4, 0.5), method="test")
    return save_checkpoint(create_detector(name), folder, calibration=calibration, name=f"ckpt-{name}", version="3")


def images_of_every_shape(folder: Path) -> list[Path]:
    """Five PNGs with sizes below, at and above a crop, portrait and landscape: padding, resizing and cropping
    all run."""
    sizes = [(40, 40), (64, 48), (97, 131), (300, 200), (33, 500)]
    return [write_image(folder / f"i{k}.png", size=s, seed=k) for k, s in enumerate(sizes)]


def noise_image(size: tuple[int, int] = (64, 48), seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr).convert(mode)


def image_bytes(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_image(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0, fmt: str | None = None,
                **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image(size, seed).save(path, format=fmt, **kw)
    return path


def labelled_folder(root: Path, real: int, ai: int) -> Path:
    """``real/cam/`` and ``ai/gen/`` sub-folders of generated images (one source group each)."""
    for i in range(real):
        write_image(root / "real" / "cam" / f"r{i}.png", size=(40, 36), seed=i)
    for i in range(ai):
        write_image(root / "ai" / "gen" / f"a{i}.png", size=(40, 36), seed=100 + i)
    return root
