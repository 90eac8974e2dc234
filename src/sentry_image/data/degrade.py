"""Image degradations as pure functions on PIL images: JPEG re-encoding, resizing, blur, crops and noise.

The same functions serve two purposes: training augmentation (applied identically to real and AI images, so that
format, size and compression history cannot separate the classes) and the robustness grid of the evaluation.
Every function returns a new RGB image and never modifies its input; randomness comes only from an explicit
``random.Random`` so that results are reproducible.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def jpeg(image: Image.Image, quality: int, *, subsampling: int | None = None) -> Image.Image:
    """Re-encode as JPEG at ``quality`` (1-100) and decode again, in memory.

    ``subsampling`` follows Pillow (0 = 4:4:4, 2 = 4:2:0); ``None`` keeps Pillow's default for the quality.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    kwargs: dict[str, int] = {"quality": int(quality)}
    if subsampling is not None:
        kwargs["subsampling"] = subsampling
    _rgb(image).save(buf, format="JPEG", **kwargs)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def resize(image: Image.Image, scale: float | None = None, *, short_side: int | None = None,
           resample: Image.Resampling = Image.Resampling.BILINEAR) -> Image.Image:
    """Resize by ``scale`` or so that the short side equals ``short_side`` (exactly one of them)."""
    if (scale is None) == (short_side is None):
        raise ValueError("give exactly one of scale or short_side")
    w, h = image.size
    factor = scale if scale is not None else short_side / min(w, h)  # type: ignore[operator]
    if factor <= 0:
        raise ValueError(f"resize factor must be positive, got {factor}")
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return _rgb(image).resize(size, resample)


def blur(image: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur with standard deviation ``sigma`` pixels (0 returns an unchanged copy)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return _rgb(image).copy()
    return _rgb(image).filter(ImageFilter.GaussianBlur(radius=sigma))


def crop(image: Image.Image, size: int | tuple[int, int], *, rng: random.Random | None = None) -> Image.Image:
    """Crop a ``size`` (square side or ``(width, height)``) window: centred, or at a random place given ``rng``.

    A window larger than the image is clipped to the image, so the result is never padded.
    """
    cw, ch = (size, size) if isinstance(size, int) else size
    w, h = image.size
    cw, ch = min(cw, w), min(ch, h)
    if rng is None:
        x, y = (w - cw) // 2, (h - ch) // 2
    else:
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return _rgb(image).crop((x, y, x + cw, y + ch))


def noise(image: Image.Image, sigma: float, *, rng: random.Random | None = None) -> Image.Image:
    """Add Gaussian noise of standard deviation ``sigma`` (in 0-255 pixel units), clipped to the valid range."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    seed = (rng or random.Random(0)).getrandbits(32)
    arr = np.asarray(_rgb(image), dtype=np.float32)
    arr = arr + np.random.default_rng(seed).normal(0.0, sigma, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def format_matched(image: Image.Image, short_side: int = 512, quality: int = 90) -> Image.Image:
    """The evaluation's format-matched copy: short side resized to ``short_side``, then JPEG at ``quality``."""
    return jpeg(resize(image, short_side=short_side, resample=Image.Resampling.BICUBIC), quality)


def native_crop(image: Image.Image, size: int = 256, quality: int = 90) -> Image.Image:
    """The size-blind copy: a native-resolution centre crop of ``size`` (never resampled), then JPEG at ``quality``:
    neither size nor format can tell the classes apart, and a real photo is seen at 100 %."""
    return jpeg(crop(image, size), quality)


def social(image: Image.Image, index: int = 0, long_side: int = 1080, quality: int = 80) -> Image.Image:
    """As a social network serves an upload: long side at most ``long_side``, a centred 4:5 crop on every other
    image (odd ``index``), JPEG at ``quality``, no metadata."""
    out = _rgb(image)
    if max(out.size) > long_side:
        out = resize(out, long_side / max(out.size), resample=Image.Resampling.BICUBIC)
    if index % 2:
        w, h = out.size
        size = (round(h * 0.8), h) if w / h > 0.8 else (w, round(w / 0.8))
        out = crop(out, size)
    return jpeg(out, quality)


#: The copies every cross-validated comparison scores: as stored, then three where format and size say nothing.
MATCHED_COPIES = ("original", "size_matched", "native_crop", "social")


def matched_copy(image: Image.Image, name: str, index: int = 0) -> Image.Image:
    """One of :data:`MATCHED_COPIES` of ``image`` (``size_matched``: short side 256, JPEG q90, both classes alike)."""
    if name == "original":
        return _rgb(image)
    if name == "size_matched":
        return format_matched(image, short_side=256, quality=90)
    if name == "native_crop":
        return native_crop(image)
    if name == "social":
        return social(image, index)
    raise ValueError(f"unknown copy {name!r}; expected one of {MATCHED_COPIES}")


@dataclass
class AugmentConfig:
    """Random degradations applied alike to BOTH classes during training: the ``augment`` section of a training
    config, and the one schema of degradation parameters (evaluation suites name the same operations).

    Attributes:
        enabled: apply the chain below (off: random crop and flip only).
        p_jpeg: probability of JPEG re-encoding (last in the chain, as a re-upload would do); jpeg_quality: its
            inclusive quality range, drawn uniformly.
        p_resize: probability of a rescale before the model's own preprocessing; scale: its factor range, drawn
            log-uniformly.
        p_blur: probability of Gaussian blur (CNNSpot's blur+JPEG recipe uses 0.5/0.5); blur_sigma: its range.
        p_noise: probability of additive noise; noise_sigma: its range (0-255 units).
        hflip: random horizontal flip.
        views: degraded views per image whose features the ``lbfgs`` probe caches (plus the image and its mirror).
    """

    enabled: bool = True
    p_jpeg: float = 0.5
    jpeg_quality: list[int] = field(default_factory=lambda: [60, 100])
    p_resize: float = 0.3
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])
    p_blur: float = 0.1
    blur_sigma: list[float] = field(default_factory=lambda: [0.3, 1.5])
    p_noise: float = 0.0
    noise_sigma: list[float] = field(default_factory=lambda: [1.0, 4.0])
    hflip: bool = True
    views: int = 4


def augment(image: Image.Image, rng: random.Random, cfg: AugmentConfig | None = None) -> Image.Image:
    """One random degradation chain (resize, blur, noise, then JPEG last, as a re-upload would do); the image as
    it is when ``cfg.enabled`` is off."""
    cfg = cfg or AugmentConfig()
    if not cfg.enabled:
        return _rgb(image)
    out = _rgb(image)
    if rng.random() < cfg.p_resize:
        lo, hi = np.log(cfg.scale[0]), np.log(cfg.scale[1])
        factor = float(np.exp(rng.uniform(lo, hi)))
        if min(out.size) * factor >= 64:  # never shrink into a thumbnail the model cannot read
            out = resize(out, factor, resample=rng.choice([Image.Resampling.BILINEAR, Image.Resampling.BICUBIC,
                                                           Image.Resampling.LANCZOS]))
    if rng.random() < cfg.p_blur:
        out = blur(out, rng.uniform(cfg.blur_sigma[0], cfg.blur_sigma[1]))
    if rng.random() < cfg.p_noise:
        out = noise(out, rng.uniform(cfg.noise_sigma[0], cfg.noise_sigma[1]), rng=rng)
    if rng.random() < cfg.p_jpeg:
        out = jpeg(out, rng.randint(cfg.jpeg_quality[0], cfg.jpeg_quality[1]))
    return out


__all__ = ["MATCHED_COPIES", "AugmentConfig", "augment", "blur", "crop", "format_matched", "jpeg", "matched_copy",
           "native_crop", "noise", "resize", "social"]
