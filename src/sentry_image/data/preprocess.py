"""How an RGB image becomes a model's input: resize, crops, normalisation, in numpy and Pillow only.

The configuration travels with the weights (``config.json`` of a checkpoint, the metadata of an ONNX file), so no
call site writes its own resize or normalisation: detection, evaluation, calibration and training all call
:func:`preprocess` with the model's own :class:`PreprocessConfig`. It needs no torch, so the inference core runs
without it; training wraps the arrays with ``torch.from_numpy``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the choices of the fields added after the first release; the first value of each is its default, which is the
#: behaviour every earlier config.json was written with (so those configs load and preprocess identically)
CHOICES: dict[str, tuple[str, ...]] = {"crop_mode": ("centre", "none"), "pad_mode": ("reflect", "zero"),
                                       "crop_rounding": ("floor", "half_even"), "resize_mode": ("short", "square")}


@dataclass
class PreprocessConfig:
    """How an RGB image becomes the model's input array. Stored in the checkpoint's ``config.json``.

    Attributes:
        crop_size: side of the square crops fed to the network.
        resize_short: if set, resize so the short side equals this before cropping (bilinear, antialiased);
            ``None`` keeps native resolution (forensic detectors must not resample away the traces).
        num_crops: 1 = a centre crop; N > 1 = crops on a k x k grid, k = round(sqrt(N)) (5 gives 4), spread evenly
            over the image (a side no longer than the crop gets one position), logits averaged.
        pad_small: images smaller than ``crop_size`` are padded (see ``pad_mode``) rather than upsampled.
        mean, std: per-channel normalisation of [0, 1] pixels.
        crop_mode: ``centre`` crops as ``num_crops`` says; ``none`` feeds the whole (optionally resized) image, as
            published detectors evaluated without cropping do; its array then has the image's own size, and
            ``crop_size`` is only the size of the example batch an ONNX export is traced and checked with.
        pad_mode: ``reflect`` (keeps local pixel statistics) or ``zero`` (black pixels, what torchvision's
            ``CenterCrop`` pads with: needed to reproduce models evaluated that way).
        crop_rounding: a single crop's origin is ``floor((side - crop) / 2)`` (``floor``) or that half rounded to
            the nearest, ties to even (``half_even``, torchvision's ``CenterCrop``); they differ by one pixel when
            ``side - crop`` is odd.
        resize_mode: ``short`` resizes the short side to ``resize_short`` keeping the aspect ratio; ``square``
            resizes both sides to ``resize_short`` (torchvision's ``Resize((n, n))``).
    """

    crop_size: int = 224
    resize_short: int | None = None
    num_crops: int = 1
    pad_small: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_mode: str = "centre"
    pad_mode: str = "reflect"
    crop_rounding: str = "floor"
    resize_mode: str = "short"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"preprocessing {name}: {getattr(self, name)!r} is not one of {list(allowed)}")
        if self.crop_mode == "none" and self.num_crops != 1:
            raise ValueError(f"preprocessing: crop_mode 'none' feeds the whole image once, but "
                             f"num_crops={self.num_crops}")

    def to_dict(self) -> dict[str, Any]:
        """The ``preprocessing`` entry of ``config.json``. The later fields are written only when they differ
        from their defaults, so a config written before they existed is rewritten byte for byte."""
        d = asdict(self)
        for f in fields(self):
            if f.name in CHOICES and d[f.name] == f.default:
                del d[f.name]
        return d

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


def _centre(length: int, size: int, rounding: str) -> int:
    # Python's round() ties to even, as torchvision's CenterCrop computes its origin
    return max(0, (length - size) // 2 if rounding == "floor" else round((length - size) / 2.0))


def _crop_origins(length: int, size: int, n: int, rounding: str = "floor") -> list[int]:
    if n <= 1 or length <= size:
        return [_centre(length, size, rounding)]
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def crop_grid(h: int, w: int, size: int, n: int, rounding: str = "floor") -> list[tuple[int, int]]:
    """Top-left corners of ``n`` (rounded to a square grid) crops of ``size`` spread evenly over an image
    (``rounding``: how a single centre crop's origin is rounded, see :attr:`PreprocessConfig.crop_rounding`)."""
    if n <= 1:
        return [(_centre(h, size, rounding), _centre(w, size, rounding))]
    k = max(1, round(n**0.5))
    return [(y, x) for y in _crop_origins(h, size, k, rounding) for x in _crop_origins(w, size, k, rounding)]


def _resized_size(width: int, height: int, cfg: PreprocessConfig) -> tuple[int, int]:
    """``(w, h)`` after the configured resize (the input size when there is none)."""
    if cfg.resize_short is None:
        return width, height
    if cfg.resize_mode == "square":
        return cfg.resize_short, cfg.resize_short
    scale = cfg.resize_short / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def preprocess(image: Image.Image, cfg: PreprocessConfig) -> NDArray[np.float32]:
    """Turn one RGB image into a ``[crops, 3, crop_size, crop_size]`` float32 array, per ``cfg`` (``crops``: see
    ``num_crops``); with ``crop_mode="none"``, ``[1, 3, H, W]`` of the whole (resized) image.

    The arithmetic is float32 throughout, element by element as torch does it, so checkpoints trained when this
    ran in torch see the same inputs bit for bit.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    if cfg.resize_short is not None:
        image = image.resize(_resized_size(*image.size, cfg), Image.Resampling.BILINEAR)
    pixels = np.asarray(image)
    size = cfg.crop_size
    h, w = pixels.shape[:2]
    if cfg.crop_mode == "none":
        return _normalise(pixels[None], cfg)
    if h < size or w < size:
        if cfg.pad_small:
            ph, pw = max(0, size - h), max(0, size - w)
            pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
            # reflection keeps local pixel statistics (a constant would add a fake edge); zero is what a model
            # evaluated behind torchvision's CenterCrop saw
            pixels = np.pad(pixels, pad, mode="reflect") if cfg.pad_mode == "reflect" else np.pad(pixels, pad)
        else:
            scale = size / min(h, w)
            pixels = np.asarray(image.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                                             Image.Resampling.BILINEAR))
        h, w = pixels.shape[:2]
    # Crop the 8-bit pixels first and scale only the crops: the same float32 operations element by element as
    # scaling the whole image (so the same values bit for bit), on a fraction of the pixels.
    crops = np.stack([pixels[y:y + size, x:x + size]
                      for y, x in crop_grid(h, w, size, cfg.num_crops, cfg.crop_rounding)])
    return _normalise(crops, cfg)


def _normalise(crops: NDArray[np.uint8], cfg: PreprocessConfig) -> NDArray[np.float32]:
    """``[n, H, W, 3]`` 8-bit pixels -> ``[n, 3, H, W]`` normalised float32."""
    out = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
    out /= np.float32(255.0)
    out -= np.asarray(cfg.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    out /= np.asarray(cfg.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return out


def crop_boxes(width: int, height: int, cfg: PreprocessConfig) -> list[tuple[int, int, int, int]]:
    """Where each crop of :func:`preprocess` lies in the input image: ``(x, y, w, h)`` in the input's pixels, in
    crop order, clipped to the image (a padded small image's crop covers all of it; a resized image's crop covers
    the corresponding larger area)."""
    if cfg.crop_mode == "none":
        return [(0, 0, width, height)]
    w, h = _resized_size(width, height, cfg)
    sx = sy = 1.0 if cfg.resize_short is None else cfg.resize_short / min(width, height)
    if cfg.resize_short is not None and cfg.resize_mode == "square":
        sx, sy = cfg.resize_short / width, cfg.resize_short / height
    size, top, left = cfg.crop_size, 0, 0
    if h < size or w < size:
        if cfg.pad_small:
            top, left = max(0, size - h) // 2, max(0, size - w) // 2
            h, w = h + max(0, size - h), w + max(0, size - w)
        else:
            up = size / min(h, w)
            sx, sy = sx * up, sy * up
            w, h = max(size, round(w * up)), max(size, round(h * up))
    boxes = []
    for y, x in crop_grid(h, w, size, cfg.num_crops, cfg.crop_rounding):
        x0, y0 = max(0.0, (x - left) / sx), max(0.0, (y - top) / sy)
        x1, y1 = min(float(width), (x - left + size) / sx), min(float(height), (y - top + size) / sy)
        boxes.append((round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0))))
    return boxes


def describe(pre: dict[str, Any]) -> str:
    """A config.json ``preprocessing`` entry in a few words for tables and model cards: ``resize 256 -> crop 224``,
    ``native, crop 224 x4``, ``resize 256x256, whole image``, ``native, whole image``, ``native, crop 224, zero
    pad`` (the one place every field is spelled out, so no summary hides a protocol)."""
    cfg = PreprocessConfig.from_dict(pre)
    if cfg.resize_short is None:
        size = "native"
    elif cfg.resize_mode == "square":
        size = f"resize {cfg.resize_short}x{cfg.resize_short}"
    else:
        size = f"resize {cfg.resize_short}"
    if cfg.crop_mode == "none":
        text = f"{size}, whole image"
    else:
        text = f"{size} -> crop {cfg.crop_size}" if cfg.resize_short else f"{size}, crop {cfg.crop_size}"
        text += f" x{cfg.num_crops}" if cfg.num_crops > 1 else ""
        text += ", zero pad" if cfg.pad_mode == "zero" and cfg.pad_small else ""
    return text


__all__ = ["CHOICES", "IMAGENET_MEAN", "IMAGENET_STD", "PreprocessConfig", "crop_boxes", "crop_grid", "describe",
           "preprocess"]
