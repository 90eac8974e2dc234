"""Helpers that generate tiny images and run code without root's privileges (imported by tests and conftest)."""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
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
