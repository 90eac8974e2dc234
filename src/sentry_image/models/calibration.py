"""Calibration: how a detector's raw logits become probabilities and a verdict, stored in its checkpoint.

numpy only, so the inference core applies a checkpoint's calibration without torch. Fitting it on labelled data is
:mod:`sentry_image.evaluate.calibrate`'s job (on a calibration split, never the test split).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


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

    def probability(self, logits: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probability of "AI-generated" for each logit (same shape as ``logits``)."""
        z = np.asarray(logits, dtype=np.float64)
        if self.isotonic is not None:
            return self.isotonic(z)
        z = z / self.temperature + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

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


__all__ = ["Calibration", "IsotonicKnots"]
