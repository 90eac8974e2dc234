"""How an RGB image becomes a model's input: resize, crops, normalisation, in numpy and Pillow only.

The configuration travels with the weights (``config.json`` of a checkpoint, the metadata of an ONNX file), so no
call site writes its own resize or normalisation: detection, evaluation, calibration and training all call
:func:`preprocess` with the model's own :class:`PreprocessConfig`. It needs no torch, so the inference core runs
without it; training wraps the arrays with ``torch.from_numpy``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class PreprocessConfig:
    """How an RGB image becomes the model's input array. Stored in the checkpoint's ``config.json``.

    Attributes:
        crop_size: side of the square crops fed to the network.
        resize_short: if set, resize so the short side equals this before cropping (bilinear, antialiased);
            ``None`` keeps native resolution (forensic detectors must not resample away the traces).
        num_crops: 1 = a centre crop; N > 1 = crops on a k x k grid, k = round(sqrt(N)) (5 gives 4), spread evenly
            over the image (a side no longer than the crop gets one position), logits averaged.
        pad_small: images smaller than ``crop_size`` are padded by reflection rather than upsampled.
        mean, std: per-channel normalisation of [0, 1] pixels.
    """

    crop_size: int = 224
    resize_short: int | None = None
    num_crops: int = 1
    pad_small: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"unknown preprocessing keys: {sorted(unknown)}")
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


def _crop_origins(length: int, size: int, n: int) -> list[int]:
    if n <= 1 or length <= size:
        return [max(0, (length - size) // 2)]
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def crop_grid(h: int, w: int, size: int, n: int) -> list[tuple[int, int]]:
    """Top-left corners of ``n`` (rounded to a square grid) crops of ``size`` spread evenly over an image."""
    if n <= 1:
        return [(max(0, (h - size) // 2), max(0, (w - size) // 2))]
    k = max(1, round(n**0.5))
    return [(y, x) for y in _crop_origins(h, size, k) for x in _crop_origins(w, size, k)]


def preprocess(image: Image.Image, cfg: PreprocessConfig) -> NDArray[np.float32]:
    """Turn one RGB image into a ``[crops, 3, crop_size, crop_size]`` float32 array, per ``cfg`` (``crops``: see
    ``num_crops``).

    The arithmetic is float32 throughout, element by element as torch does it, so checkpoints trained when this
    ran in torch see the same inputs bit for bit.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    if cfg.resize_short is not None:
        w, h = image.size
        scale = cfg.resize_short / min(w, h)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    pixels = np.asarray(image)
    size = cfg.crop_size
    h, w = pixels.shape[:2]
    if h < size or w < size:
        if cfg.pad_small:
            ph, pw = max(0, size - h), max(0, size - w)
            # reflection keeps local pixel statistics; padding with a constant would add a fake edge
            pixels = np.pad(pixels, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
        else:
            scale = size / min(h, w)
            pixels = np.asarray(image.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                                             Image.Resampling.BILINEAR))
        h, w = pixels.shape[:2]
    # Crop the 8-bit pixels first and scale only the crops: the same float32 operations element by element as
    # scaling the whole image (so the same values bit for bit), on a fraction of the pixels.
    crops = np.stack([pixels[y:y + size, x:x + size] for y, x in crop_grid(h, w, size, cfg.num_crops)])
    out = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
    out /= np.float32(255.0)
    out -= np.asarray(cfg.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    out /= np.asarray(cfg.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return out


def crop_boxes(width: int, height: int, cfg: PreprocessConfig) -> list[tuple[int, int, int, int]]:
    """Where each crop of :func:`preprocess` lies in the input image: ``(x, y, w, h)`` in the input's pixels, in
    crop order, clipped to the image (a padded small image's crop covers all of it; a resized image's crop covers
    the corresponding larger area)."""
    scale = 1.0 if cfg.resize_short is None else cfg.resize_short / min(width, height)
    w, h = width, height
    if cfg.resize_short is not None:
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
    size, top, left = cfg.crop_size, 0, 0
    if h < size or w < size:
        if cfg.pad_small:
            top, left = max(0, size - h) // 2, max(0, size - w) // 2
            h, w = h + max(0, size - h), w + max(0, size - w)
        else:
            up = size / min(h, w)
            scale *= up
            w, h = max(size, round(w * up)), max(size, round(h * up))
    boxes = []
    for y, x in crop_grid(h, w, size, cfg.num_crops):
        x0, y0 = max(0.0, (x - left) / scale), max(0.0, (y - top) / scale)
        x1, y1 = min(float(width), (x - left + size) / scale), min(float(height), (y - top + size) / scale)
        boxes.append((round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0))))
    return boxes


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "PreprocessConfig", "crop_boxes", "crop_grid", "preprocess"]
