"""What ``score-batch`` scores: the images of a folder, a manifest CSV, or webdataset shards, as work items.

Every image is named by one string, its ``path`` in the output. Files are named by absolute path (without
resolving symbolic links: a link is scored under the name it was given), so a resumed run recognises what it has
done whatever the working directory; a shard sample by the path recorded in it (``<shard>/<key>`` if none).
The names are the resume key: an image whose name is already in the output is not scored again.
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..data.manifest import ManifestError, read_manifest
from ..data.shard import INDEX, ShardError, list_shards
from ..imaging import ImageError
from ..imaging.inputs import iter_inputs

log = logging.getLogger(__name__)

InputKind = Literal["folder", "manifest", "shards"]


class ScaleError(Exception):
    """A problem the user must fix before scoring can run (bad input, bad address, missing extra, ...)."""


@dataclass
class InputSpec:
    """An INPUT resolved to its kind.

    Attributes:
        kind: ``folder`` (image files, walked like ``detect``), ``manifest`` (CSV with a ``path`` column) or
            ``shards`` (webdataset ``.tar`` files as written by ``sentry-image data shard``).
        path: the INPUT as given.
        shards: the shard files, in order (``shards`` only).
        samples: the number of samples when an ``index.json`` says so (``shards`` only), else ``None``.
    """

    kind: InputKind
    path: Path
    shards: list[Path] = field(default_factory=list)
    samples: int | None = None


def open_input(path: str | Path) -> InputSpec:
    """Decide what INPUT is: a ``.csv`` file is a manifest, a ``.tar`` file or a folder of them is shards."""
    path = Path(path)
    if not path.exists():
        raise ScaleError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return InputSpec("manifest", path)
        if path.suffix.lower() == ".tar":
            return InputSpec("shards", path, shards=[path.absolute()])
        raise ScaleError(f"{path}: expected a folder of images, a manifest .csv, or webdataset .tar shards")
    if (path / INDEX).is_file() or any(path.glob("*.tar")):
        try:
            shards = [p.absolute() for p in list_shards(path)]
        except (ShardError, OSError, ValueError, KeyError) as exc:
            raise ScaleError(f"{path}: unreadable shard folder ({exc})") from exc
        samples = None
        if (path / INDEX).is_file():
            samples = int(json.loads((path / INDEX).read_text()).get("samples", 0)) or None
        return InputSpec("shards", path, shards=shards, samples=samples)
    return InputSpec("folder", path)


def file_items(spec: InputSpec, *, recursive: bool = True) -> Iterator[str | ImageError]:
    """The image files of a folder or manifest INPUT as absolute names; problems found while listing as errors."""
    if spec.kind == "manifest":
        try:
            rows = read_manifest(spec.path)
        except ManifestError as exc:
            raise ScaleError(str(exc)) from exc
        for row in rows:
            yield os.path.abspath(row.path)
    elif spec.kind == "folder":
        for item in iter_inputs([spec.path], recursive=recursive):
            if isinstance(item, ImageError):
                item.path = os.path.abspath(item.path) if item.path else str(spec.path)
                yield item
            else:
                yield os.path.abspath(item)
    else:
        raise ValueError("shard inputs are read by the workers: use shard_samples()")


def unique(items: Iterable[str | ImageError]) -> Iterator[str | ImageError]:
    """Drop repeated names (a manifest listing a file twice): the output has one row per name."""
    seen: set[str] = set()
    repeats = 0
    for item in items:
        name = item.path if isinstance(item, ImageError) else item
        key = name or ""
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        yield item
    if repeats:
        log.warning("%d repeated input names were scored once", repeats)


def chunks(names: list[str], size: int, done: set[str]) -> Iterator[list[str]]:
    """The names not in ``done``, grouped by their position in the whole listing, ``size`` positions a group.

    Grouping by position in the full listing, not among what is left, gives a resumed run the same groups (so the
    same part names) as the run it resumes: see :func:`sentry_image.scale.parquet_out.check_run_record`.
    """
    for start in range(0, len(names), size):
        left = [n for n in names[start:start + size] if n not in done]
        if left:
            yield left


def shard_samples(shard: str | Path) -> Iterator[dict[str, Any]]:
    """Rows ``{"path", "data", "error"}`` for each sample of one shard; a broken shard ends in one error row.

    Reading is sequential (tar streams), so a shard is the unit a reader task takes.
    """
    from ..data.shard import read_shard

    shard = Path(shard)
    count = 0
    try:
        for key, (data, meta) in enumerate(read_shard(shard)):
            count += 1
            name = str(meta.get("path") or f"{shard.name}/{key:09d}")
            yield {"path": name, "data": data, "error": ""}
    except (OSError, tarfile.TarError, ValueError) as exc:
        # The samples before the damage were yielded; the rest of the shard cannot be named, so the shard is.
        log.warning("%s: unreadable after %d samples: %s", shard, count, exc)
        yield {"path": f"{shard}#after-{count}", "data": b"", "error": f"unreadable shard: {exc}"}


def shard_chunks(shard: str | Path, size: int, done: set[str]) -> Iterator[dict[str, list[Any]]]:
    """A shard's samples not in ``done`` as batches ``{"paths", "data", "errors"}``, grouped as :func:`chunks`."""
    batch: list[dict[str, Any]] = []

    def emit() -> Iterator[dict[str, list[Any]]]:
        left = [s for s in batch if s["path"] not in done]
        if left:
            yield {"paths": [s["path"] for s in left], "data": [s["data"] for s in left],
                   "errors": [s["error"] for s in left]}

    for sample in shard_samples(shard):
        batch.append(sample)
        if len(batch) >= size:
            yield from emit()
            batch = []
    yield from emit()


__all__ = ["InputSpec", "ScaleError", "chunks", "file_items", "open_input", "shard_chunks", "shard_samples",
           "unique"]
