"""Import the checkpoints that published detectors' authors released, and run them as their authors did.

Each family module registers its importer in :data:`.base.IMPORTERS` when imported; this package imports them
all, so :func:`import_checkpoint` and :func:`list_importers` see every family. Importing needs torch (the
``train`` extra); the checkpoint folder it writes runs on the inference core like any other.

A model reference ``import:FAMILY:FILE`` (wherever a model is named) imports ``FILE`` once into the import cache
(:func:`cache_root`) and reuses it while the file's contents are unchanged (:func:`resolve_import`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import cnndetection, freqnet, npr, univfd  # noqa: F401  (each registers its importer)
from .base import IMPORTERS, Importer, ImportFailure, read_state_dict, register_importer, sha256, write_imported
from .folder import CONFIG

PREFIX = "import:"


def list_importers() -> list[Importer]:
    """Every registered family, sorted by name."""
    return [IMPORTERS[k] for k in sorted(IMPORTERS)]


def get_importer(family: str) -> Importer:
    """The importer of ``family``; :class:`ImportFailure` listing the known families otherwise."""
    try:
        return IMPORTERS[family]
    except KeyError:
        raise ImportFailure(f"unknown detector family {family!r}; known: {', '.join(sorted(IMPORTERS))}") from None


def import_checkpoint(family: str, file: str | Path, out: str | Path, *, backbone: str | Path | None = None,
                      protocol: str | None = None) -> Path:
    """Import the released checkpoint ``file`` of ``family`` into the checkpoint folder ``out`` and return it.

    The folder is assembled beside ``out`` and renamed into place, so a failed import leaves nothing behind and
    ``out`` is never half written. ``backbone``: the separate backbone weights some families need (e.g. CLIP).
    ``protocol``: one of the family's test protocols (:attr:`Importer.protocols`; ``None``: the first).

    Raises:
        ImportFailure: an unknown family or protocol, a missing file, or a file that is not the family's.
    """
    importer = get_importer(family)
    file, out = _existing(file), Path(out)
    if backbone is not None:
        backbone = _existing(backbone, "backbone file")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ImportFailure(f"{out}: already exists and is not empty; choose another output folder")
    if out.is_dir():  # an empty folder made for it: the rename below takes its place
        out.rmdir()
    return _staged(out, lambda staging: importer(file, staging, backbone=backbone, protocol=protocol))


def cache_root() -> Path:
    """Where ``import:`` references are imported: ``$SENTRY_CACHE/imported``, else
    ``~/.cache/sentry-image/imported``."""
    root = os.environ.get("SENTRY_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "sentry-image") / "imported"


def import_cached(family: str, file: str | Path) -> Path:
    """``file`` imported as ``family`` into ``<cache_root>/<family>-<sha256[:16]>``, reused when already there."""
    importer = get_importer(family)
    file = _existing(file)
    folder = cache_root() / f"{family}-{sha256(file)[:16]}"
    if (folder / CONFIG).is_file():
        return folder
    try:
        return _staged(folder, lambda staging: importer(file, staging))
    except OSError:
        if (folder / CONFIG).is_file():  # another process imported the same file meanwhile
            return folder
        raise


def resolve_import(reference: str) -> Path:
    """The checkpoint folder of an ``import:FAMILY:FILE`` model reference (imported on first use)."""
    family, _, file = reference.removeprefix(PREFIX).partition(":")
    if not family or not file:
        raise ImportFailure(f"{reference}: expected import:FAMILY:FILE (families: {', '.join(sorted(IMPORTERS))})")
    return import_cached(family, file)


def _existing(file: str | Path, what: str = "file") -> Path:
    path = Path(file).expanduser()
    if not path.is_file():
        raise ImportFailure(f"{path}: no such {what}")
    return path


def _staged(out: Path, write: Callable[[Path], object]) -> Path:
    """Run ``write(staging)`` on a fresh folder beside ``out``, then rename it to ``out`` (atomic on one disk)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        write(staging)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


__all__ = ["IMPORTERS", "PREFIX", "ImportFailure", "Importer", "cache_root", "get_importer", "import_cached",
           "import_checkpoint", "list_importers", "read_state_dict", "register_importer", "resolve_import",
           "write_imported"]
