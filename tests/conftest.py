"""Shared fixtures: tiny generated images in temporary folders and a tiny checkpoint (no shared data needed).

Plain helpers live in :mod:`tests.helpers`: a test imports them from there (``from tests.helpers.builders import
tiny_checkpoint``), never from a conftest. This module must import without torch (a core-only run loads it), so
torch-side helpers are imported inside the fixtures that need them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.helpers.imagegen import gradient

CORE_MARK = "pytest.mark.core"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m core`` (the run on the core install, without torch) do not even import a test file, or a folder,
    that marks nothing ``core``: importing it could need a package the core install does not have. Files that do
    mark tests ``core`` must import without torch; the marker then selects their tests."""
    if config.getoption("markexpr") != "core":
        return None
    if collection_path.is_dir():
        return not any(CORE_MARK in p.read_text() for p in collection_path.rglob("test_*.py"))
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return CORE_MARK not in collection_path.read_text()
    return None


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


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``test_tiny_cnn`` checkpoint folder (torch weights only, deterministic), shared read-only."""
    from tests.helpers.builders import tiny_checkpoint  # torch: only where a test asks for a checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")
