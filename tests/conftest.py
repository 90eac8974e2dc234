"""Shared fixtures: tiny generated images in temporary folders (no shared data needed).

Plain helpers live in ``imagegen.py``: a test imports them from there, never from a conftest (sub-folders
have conftests of their own, and ``import conftest`` would pick whichever comes first on ``sys.path``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagegen import gradient


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_image("a.png", image=None, fmt=None, **save)`` writes a tiny image into ``tmp_path``."""

    def make(name: str, image: Image.Image | None = None, fmt: str | None = None, **save: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (image if image is not None else gradient()).save(path, format=fmt, **save)
        return path

    return make


@pytest.fixture
def write_bytes(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Factory: ``write_bytes("name", data)`` writes raw bytes into ``tmp_path``."""

    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder every user can enter (``tmp_path`` lives under a root-only 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="sentry-image-"))
    folder.chmod(0o755)
    yield folder
    for sub in [folder, *folder.rglob("*")]:  # restore modes a test removed, or rmtree cannot delete
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)
