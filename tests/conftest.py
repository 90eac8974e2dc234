"""Shared fixtures: tiny generated images in temporary folders (no shared data needed) and OS helpers."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

NOBODY = 65534


def gradient(size: tuple[int, int] = (24, 16), mode: str = "RGB") -> Image.Image:
    """A deterministic image whose every pixel differs from its mirror images (so flips/rotations show)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x * 7 + y * 13) % 256], axis=-1)
    return Image.fromarray(arr.astype(np.uint8)).convert(mode)


def encode(image: Image.Image, fmt: str, **save: Any) -> bytes:
    """The bytes of ``image`` saved as ``fmt`` (Pillow or pillow-heif encoders)."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


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


def run_unprivileged(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with the OS's permission checks in force and return its (picklable) result.

    Root bypasses file modes, so as root ``fn`` runs in a forked child that drops to the ``nobody`` user; the
    result comes back through a pipe. Otherwise it simply runs here.
    """
    if os.geteuid() != 0:
        return fn()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            payload = pickle.dumps(("ok", fn()))
            status = 0
        except BaseException as exc:
            payload = pickle.dumps(("error", repr(exc)))
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as src:
        payload = src.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(payload)
    if kind != "ok":
        raise AssertionError(f"unprivileged child failed: {value}")
    return value
