"""Register detector families by decorator and create them by name (the timm ``register_model`` pattern).

This module imports no family: :mod:`.families` imports them all (each registers itself here) and is what callers
use to list or create detectors, so the arrows run one way: families -> registry.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the families need torch; listing and naming them must not
    from .base import DetectorModel

F = TypeVar("F", bound=Callable[..., "DetectorModel"])


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    factory: Callable[..., DetectorModel]
    description: str
    family: str


_REGISTRY: dict[str, RegistryEntry] = {}


def register_detector(name: str | None = None, *, family: str = "", description: str = "") -> Callable[[F], F]:
    """Decorator: register a factory ``(**kwargs) -> DetectorModel`` under ``name`` (default: function name)."""

    def wrap(fn: F) -> F:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"detector {key!r} is already registered")
        doc_lines = (fn.__doc__ or "").strip().splitlines()
        doc = description or (doc_lines[0] if doc_lines else "")
        _REGISTRY[key] = RegistryEntry(key, fn, doc, family or fn.__module__.rsplit(".", 1)[-1])
        return fn

    return wrap


def list_detectors(pattern: str = "*") -> list[str]:
    """Registered detector names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_entry(name: str) -> RegistryEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"unknown detector {name!r}; registered: {known}") from None


def create_detector(name: str, **kwargs: Any) -> DetectorModel:
    """Build a registered detector network by name. Keyword arguments go to its factory."""
    entry = get_entry(name)
    model = entry.factory(**kwargs)
    model.init_args = dict(kwargs)
    model.registry_name = name
    return model
