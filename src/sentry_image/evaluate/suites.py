"""Evaluation suites and benchmarks as data: named, parametrised degradations and what to evaluate them on.

A :class:`Condition` is one degradation of :mod:`sentry_image.data.degrade` with its parameters (``jpeg75`` =
``op: jpeg, quality: 75``); a :class:`Suite` is an ordered list of them. Built-in suites are ``clean`` and
``robustness``; any other suite is a YAML file (``configs/suites/*.yaml``)::

    name: harsh
    conditions:
      - {name: clean, op: identity}
      - {name: jpeg30, op: jpeg, quality: 30}

An unknown op, an unknown or missing parameter or an out-of-range value is a :class:`ConfigError` naming the key,
raised while the suite loads, so a typo never costs a scoring pass. What a suite is applied to is a benchmark
(:mod:`.benchmark`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from PIL import Image

from ..config import ConfigError, build, build_file
from ..data import degrade


@dataclass
class Identity:
    """No change (the clean images)."""


@dataclass
class Jpeg:
    """JPEG re-encoding. Attributes: quality: 1-100."""

    quality: int


@dataclass
class Resize:
    """Bilinear rescale. Attributes: factor: scale of both sides (0.5 halves them)."""

    factor: float


@dataclass
class Blur:
    """Gaussian blur. Attributes: sigma: standard deviation in pixels."""

    sigma: float


@dataclass
class CropCentre:
    """Centre crop. Attributes: fraction: kept share of each side (0-1]; min_side: never crop below this side."""

    fraction: float = 0.5
    min_side: int = 64


@dataclass
class Noise:
    """Additive Gaussian noise. Attributes: sigma: 0-255 units; seed: of the noise (same for every image)."""

    sigma: float
    seed: int = 0


@dataclass
class FormatMatched:
    """Both classes re-encoded alike. Attributes: short_side: resized short side; quality: JPEG quality."""

    short_side: int = 512
    quality: int = 90


def _crop_centre(image: Image.Image, p: CropCentre) -> Image.Image:
    w, h = image.size
    return degrade.crop(image, (max(p.min_side, round(w * p.fraction)), max(p.min_side, round(h * p.fraction))))


# op name -> (parameter dataclass, function applying it); the YAML ``op`` values
OPS: dict[str, tuple[type, Any]] = {
    "identity": (Identity, lambda im, p: im),
    "jpeg": (Jpeg, lambda im, p: degrade.jpeg(im, p.quality)),
    "resize": (Resize, lambda im, p: degrade.resize(im, p.factor)),
    "blur": (Blur, lambda im, p: degrade.blur(im, p.sigma)),
    "crop_centre": (CropCentre, _crop_centre),
    # a fresh generator per image: the same noise field for every image of a given size, as before
    "noise": (Noise, lambda im, p: degrade.noise(im, p.sigma, rng=random.Random(p.seed))),
    "format_matched": (FormatMatched, lambda im, p: degrade.format_matched(im, p.short_side, p.quality)),
}


@dataclass(frozen=True)
class Condition:
    """One named degradation with its parameters, applied alike to real and AI images."""

    name: str
    op: str
    params: Any

    def __call__(self, image: Image.Image) -> Image.Image:
        return OPS[self.op][1](image, self.params)

    def to_dict(self) -> dict[str, Any]:
        """``{"op": ..., **parameters}``: what the report records, enough to re-apply it exactly."""
        return {"op": self.op, **{f.name: getattr(self.params, f.name) for f in fields(self.params)}}


def make_condition(spec: dict[str, Any], key: str = "condition") -> Condition:
    """A :class:`Condition` from ``{name, op, **params}``; bad ops, keys and values raise :class:`ConfigError`."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{key}: expected a mapping like {{name: jpeg30, op: jpeg, quality: 30}}, got {spec!r}")
    rest = dict(spec)
    name, op = rest.pop("name", None), rest.pop("op", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{key}.name: every condition needs a name")
    if op not in OPS:
        raise ConfigError(f"{key}.op: unknown op {op!r} in condition {name!r}; known: {', '.join(OPS)}")
    cls = OPS[op][0]
    params: Any = build(cls, rest, f"{key}.")
    condition = Condition(name, op, params)
    try:  # out-of-range values (quality 0, negative sigma) fail here, before any image is scored
        condition(Image.new("RGB", (16, 12)))
    except ValueError as exc:
        raise ConfigError(f"{key}: condition {name!r}: {exc}") from None
    if op == "crop_centre" and not 0 < params.fraction <= 1:
        raise ConfigError(f"{key}.fraction: expected a share in (0, 1], got {params.fraction}")
    return condition


@dataclass(frozen=True)
class Suite:
    """An ordered list of conditions; ``source``: ``built-in`` or the YAML file it came from."""

    name: str
    conditions: tuple[Condition, ...]
    source: str = "built-in"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.conditions]

    def params(self) -> dict[str, dict[str, Any]]:
        return {c.name: c.to_dict() for c in self.conditions}


def _suite(name: str, specs: list[dict[str, Any]], source: str = "built-in") -> Suite:
    conditions = tuple(make_condition(s, f"conditions[{i}]") for i, s in enumerate(specs))
    names = [c.name for c in conditions]
    if not names:
        raise ConfigError(f"suite {name!r}: conditions: list at least one condition")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"suite {name!r}: condition names must be unique; repeated: {', '.join(duplicates)}")
    return Suite(name, conditions, source)


ROBUSTNESS: list[dict[str, Any]] = [
    {"name": "clean", "op": "identity"},
    {"name": "jpeg95", "op": "jpeg", "quality": 95},
    {"name": "jpeg75", "op": "jpeg", "quality": 75},
    {"name": "jpeg50", "op": "jpeg", "quality": 50},
    {"name": "resize0.5", "op": "resize", "factor": 0.5},
    {"name": "resize2", "op": "resize", "factor": 2.0},
    {"name": "blur1", "op": "blur", "sigma": 1.0},
    {"name": "crop_centre", "op": "crop_centre", "fraction": 0.5, "min_side": 64},
    {"name": "noise5", "op": "noise", "sigma": 5.0, "seed": 0},
    {"name": "format_matched", "op": "format_matched", "short_side": 512, "quality": 90},
]
BUILTIN: dict[str, Suite] = {"clean": _suite("clean", ROBUSTNESS[:1]), "robustness": _suite("robustness", ROBUSTNESS)}


@dataclass
class SuiteFile:
    """A suite YAML file.

    Attributes:
        name: shown in reports (default: the file's stem).
        description: what the suite probes, for readers of the file.
        conditions: ``{name, op, **params}`` mappings; ops: identity, jpeg, resize, blur, crop_centre, noise,
            format_matched (parameters: see the dataclass of each op in this module).
    """

    name: str = ""
    description: str = ""
    conditions: list[dict[str, Any]] = field(default_factory=list)


def load_suite(ref: str | Path | Suite) -> Suite:
    """A built-in suite by name (``clean``, ``robustness``) or a suite YAML file by path."""
    if isinstance(ref, Suite):
        return ref
    if str(ref) in BUILTIN:
        return BUILTIN[str(ref)]
    path = Path(ref)
    if not path.is_file():
        raise ConfigError(f"unknown suite {str(ref)!r}: not a built-in ({', '.join(BUILTIN)}) nor a YAML file")
    spec = build_file(SuiteFile, path)
    try:
        return _suite(spec.name or path.stem, spec.conditions, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


__all__ = ["BUILTIN", "OPS", "ROBUSTNESS", "Condition", "Suite", "SuiteFile", "load_suite", "make_condition"]
