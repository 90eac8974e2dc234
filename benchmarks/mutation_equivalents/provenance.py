"""provenance/__init__.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import INFO_DEFAULT

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__run__mutmut_20": ('{type(exc).__name__}: {exc}", )]', INFO_DEFAULT),
}
