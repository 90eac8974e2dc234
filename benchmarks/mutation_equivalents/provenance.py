"""provenance/__init__.py: survivors judged equivalent."""

from __future__ import annotations

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__run__mutmut_20": ('{type(exc).__name__}: {exc}", )]', "Signal's strength defaults to Strength.INFO: leaving "
                          "the argument out builds the same signal"),
}
