"""The detector contract: an ``nn.Module`` mapping a preprocessed batch to one logit per image.

A model carries its own preprocessing (:class:`PreprocessConfig`); call sites never write their own resize or
normalisation. Calibration (temperature, threshold, uncertain band) lives beside it in the checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class PreprocessConfig:
    """How an RGB image becomes the model's input tensor. Stored in the checkpoint's ``config.json``.

    Attributes:
        crop_size: side of the square crops fed to the network.
        resize_short: if set, resize so the short side equals this before cropping (bilinear, antialiased);
            ``None`` keeps native resolution (forensic detectors must not resample away the traces).
        num_crops: 1 = a centre crop; N > 1 = N crops spread over the image, logits averaged.
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


def preprocess(image: Image.Image, cfg: PreprocessConfig) -> torch.Tensor:
    """Turn one RGB image into a ``[num_crops, 3, crop_size, crop_size]`` float tensor, per ``cfg``."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if cfg.resize_short is not None:
        w, h = image.size
        scale = cfg.resize_short / min(w, h)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    arr = np.asarray(image, dtype=np.float32) / 255.0
    size = cfg.crop_size
    h, w = arr.shape[:2]
    if h < size or w < size:
        if cfg.pad_small:
            ph, pw = max(0, size - h), max(0, size - w)
            # reflection keeps local pixel statistics; padding with a constant would add a fake edge
            arr = np.pad(arr, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
        else:
            scale = size / min(h, w)
            image = Image.fromarray((arr * 255).round().astype(np.uint8)).resize(
                (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
            arr = np.asarray(image, dtype=np.float32) / 255.0
        h, w = arr.shape[:2]
    crops = [arr[y:y + size, x:x + size] for y, x in crop_grid(h, w, size, cfg.num_crops)]
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, 3, 1, 1)
    return (batch - mean) / std


class DetectorModel(nn.Module):
    """Base class of every registered detector network.

    Subclasses implement :meth:`forward` (``[B, 3, H, W]`` normalised pixels -> ``[B]`` logits, positive = AI)
    and declare the preprocessing they were trained with. ``arch`` and ``init_args`` make the model rebuildable
    from its checkpoint's ``config.json``.
    """

    arch: ClassVar[str] = ""

    def __init__(self, preprocess: PreprocessConfig | None = None) -> None:
        super().__init__()
        self.preprocess_cfg = preprocess or PreprocessConfig()
        self.init_args: dict[str, Any] = {}
        self.registry_name: str = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.inference_mode()
    def logits_for_images(self, images: list[Image.Image]) -> torch.Tensor:
        """Preprocess ``images`` with the model's own config and return one logit per image (crops averaged)."""
        return self.logits_for_crops([preprocess(img, self.preprocess_cfg) for img in images])

    @torch.inference_mode()
    def logits_for_crops(self, crops: list[torch.Tensor]) -> torch.Tensor:
        """One forward pass over already preprocessed images (``[num_crops, 3, H, W]`` each): one logit per image,
        the mean over its crops."""
        counts = [t.shape[0] for t in crops]
        out = self(torch.cat(crops)).float().reshape(-1)
        return torch.stack([chunk.mean() for chunk in torch.split(out, counts)])


def _knots(name: str, values: Any) -> tuple[float, ...]:
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise ValueError(f"calibration isotonic knots: {name} must be a list of numbers, got {type(values).__name__}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"calibration isotonic knots: {name} must be a list of numbers ({exc})") from None
    if not all(np.isfinite(out)):
        raise ValueError(f"calibration isotonic knots: {name} has a value that is not finite")
    return out


@dataclass(frozen=True)
class IsotonicKnots:
    """A monotone step-and-ramp map from raw logit to probability: ``np.interp(logit, x, y)``.

    Between knots the probability is interpolated linearly; outside ``[x[0], x[-1]]`` it is clipped to the end
    values (scikit-learn's ``IsotonicRegression(out_of_bounds="clip")`` predicts exactly this). Checkpoints come
    from users, so the knots are validated here rather than trusted.

    Attributes:
        x: logits, strictly increasing.
        y: probabilities in ``[0, 1]``, non-decreasing, one per ``x``.
    """

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        x, y = _knots("x", self.x), _knots("y", self.y)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        if len(x) != len(y):
            raise ValueError(f"calibration isotonic knots: x has {len(x)} values but y has {len(y)}")
        if not x:
            raise ValueError("calibration isotonic knots: x and y are empty")
        dx, dy = np.diff(x), np.diff(y)
        if (dx <= 0).any():
            i = int(np.argmax(dx <= 0)) + 1
            raise ValueError(f"calibration isotonic knots: x must be strictly increasing, but x[{i}]={x[i]} "
                             f"follows x[{i - 1}]={x[i - 1]}")
        if (dy < 0).any():
            i = int(np.argmax(dy < 0)) + 1
            raise ValueError(f"calibration isotonic knots: y must be non-decreasing (a monotone map), but "
                             f"y[{i}]={y[i]} follows y[{i - 1}]={y[i - 1]}")
        if y[0] < 0.0 or y[-1] > 1.0:
            raise ValueError(f"calibration isotonic knots: y must lie in [0, 1], got [{y[0]}, {y[-1]}]")

    def __call__(self, logits: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.interp(logits, self.x, self.y), dtype=np.float64)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}


@dataclass
class Calibration:
    """Maps raw logits to calibrated probabilities and a verdict; fitted on a calibration split only.

    :meth:`probability` is the one place logits become probabilities: detection, evaluation, the ONNX runner and
    the service all call it, so a checkpoint's calibration means the same everywhere.

    Attributes:
        temperature, bias: ``p = sigmoid(logit / temperature + bias)`` (temperature scaling with a shift).
        threshold: probability at or above which the model alone says ``ai-generated``.
        uncertain_band: ``(low, high)``: probabilities inside it give ``uncertain``; ``low <= threshold <= high``.
        method: how it was fitted, for the record.
        fitted_on: description of the calibration split (never the test split).
        extra: free-form record of the fit (e.g. the threshold rule and its target).
        isotonic: when set, ``p = np.interp(logit, x, y)`` replaces the temperature map (numpy only at detection
            time). ``None`` in every config.json written before isotonic calibration existed.
    """

    temperature: float = 1.0
    bias: float = 0.0
    threshold: float = 0.5
    uncertain_band: tuple[float, float] = (0.35, 0.65)
    method: str = "identity"
    fitted_on: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    isotonic: IsotonicKnots | None = None

    def probability(self, logits: torch.Tensor | np.ndarray) -> np.ndarray:
        """Calibrated probability of "AI-generated" for each logit (same shape as ``logits``)."""
        z = np.asarray(logits, dtype=np.float64)
        if self.isotonic is not None:
            return self.isotonic(z)
        z = z / self.temperature + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        """The ``calibration`` entry of ``config.json`` (``isotonic`` written only when set)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "isotonic"}
        d["uncertain_band"] = list(self.uncertain_band)
        d["extra"] = dict(self.extra)
        if self.isotonic is not None:
            d["isotonic"] = self.isotonic.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        """Read a ``calibration`` entry; malformed isotonic knots raise ``ValueError`` naming the problem."""
        d = dict(d)
        if "uncertain_band" in d:
            d["uncertain_band"] = tuple(d["uncertain_band"])
        knots = d.pop("isotonic", None)
        if knots is not None:
            if not isinstance(knots, dict) or set(knots) != {"x", "y"}:
                raise ValueError("calibration isotonic knots: expected an object with exactly the keys 'x' and 'y'")
            d["isotonic"] = IsotonicKnots(knots["x"], knots["y"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
