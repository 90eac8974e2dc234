"""The malloc arena cap that keeps long runs flat: set on glibc, a harmless no-op where libc cannot be loaded."""

from __future__ import annotations

import ctypes
import platform

import pytest

from sentry_image.imaging import memory

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def test_the_cap_is_set_on_glibc() -> None:
    assert platform.libc_ver()[0] == "glibc"  # every machine this project runs its tests on
    assert memory.limit_malloc_arenas() is True


def test_without_glibc_the_cap_is_reported_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert memory.limit_malloc_arenas() is False
