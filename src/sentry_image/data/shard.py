"""Write a manifest's images into webdataset-style tar shards for large runs.

A run over a million small files spends its time opening them; a few hundred sequential tar files stream at
disk speed and shard naturally across workers and machines. The layout is webdataset's: samples are consecutive
members sharing a key (``000000042.png``, ``000000042.cls``, ``000000042.json``), so the shards are readable
by ``webdataset`` as well as by :class:`sentry_image.data.datasets.ShardDataset`.

The image bytes are stored as they are (never re-encoded: the compression history is part of what a detector
sees). Shards are written to a temporary name and renamed, so an interrupted run leaves only whole shards, and
their members carry fixed owner and time, so the same rows and seed give byte-identical shards.
``index.json`` lists each shard with its sample count and sha256 and the rows' hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .manifest import ManifestRow, rows_hash
from .parts import file_sha256
from .splits import folder_key

INDEX = "index.json"


class ShardError(Exception):
    """A row whose file cannot be read into a shard (the message names it and its manifest line)."""


@dataclass
class ShardResult:
    """The shards written, in order, and the number of samples."""

    out: Path
    shards: list[Path] = field(default_factory=list)
    samples: int = 0


def _order(rows: Sequence[ManifestRow], seed: int | None) -> list[ManifestRow]:
    if seed is None:
        return list(rows)
    # By hash, not random.shuffle: the order depends only on the seed and the paths, not on the row order.
    return sorted(rows, key=lambda r: hashlib.sha256(f"{seed}:{r.rel_path}".encode()).digest())


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def sample_meta(row: ManifestRow) -> dict[str, Any]:
    """The ``.json`` member of a sample: where it came from and its label."""
    keep = ("source", "generator", "family", "subset", "format", "width", "height", "jpeg_quality", "sha256")
    meta: dict[str, Any] = {"path": row.rel_path, "label": int(row.label)}
    meta.update({k: row.fields[k] for k in keep if row.fields.get(k)})
    return meta


def write_shards(rows: Sequence[ManifestRow], out: str | Path, *, max_samples: int = 1000,
                 max_bytes: int = 1 << 30, seed: int | None = 0, prefix: str = "shard",
                 progress: Callable[[int], None] | None = None) -> ShardResult:
    """Write ``rows`` into ``out/<prefix>-NNNNNN.tar``, each at most ``max_samples`` samples and ~``max_bytes``.

    ``seed`` shuffles the rows deterministically so shards mix labels and sources; ``None`` keeps their order.
    """
    if max_samples < 1 or max_bytes < 1:
        raise ValueError("max_samples and max_bytes must be positive")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ordered = _order(rows, seed)
    result = ShardResult(out=out)
    index: list[dict[str, Any]] = []
    tar: tarfile.TarFile | None = None
    fh: IO[bytes] | None = None
    count = size = 0

    def close() -> None:
        nonlocal tar, fh
        if tar is None or fh is None:
            return
        tar.close()
        fh.close()
        final = out / f"{prefix}-{len(result.shards):06d}.tar"
        os.replace(final.with_suffix(".tar.tmp"), final)
        index.append({"name": final.name, "samples": count, "sha256": file_sha256(final)})
        result.shards.append(final)
        tar = fh = None

    for i, row in enumerate(ordered):
        try:
            data = row.path.read_bytes()
        except OSError as exc:
            close()
            raise ShardError(f"{row.rel_path} (manifest line {row.line}): cannot read ({exc.strerror or exc})") \
                from None
        if tar is not None and (count >= max_samples or size + len(data) > max_bytes):
            close()
        if tar is None:
            fh = open(out / f"{prefix}-{len(result.shards):06d}.tar.tmp", "wb")  # noqa: SIM115 - closed in close()
            tar = tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
            count = size = 0
        key = f"{i:09d}"
        ext = Path(row.rel_path).suffix.lower().lstrip(".") or "img"
        _add(tar, f"{key}.{ext}", data)
        _add(tar, f"{key}.cls", str(int(row.label)).encode())
        _add(tar, f"{key}.json", json.dumps(sample_meta(row), sort_keys=True).encode())
        count += 1
        size += len(data)
        result.samples += 1
        if progress is not None:
            progress(result.samples)
    close()
    # the split groups let a reader refuse a calibration set drawn from the same sources, without reading tars
    groups = sorted({folder_key(r) for r in rows})
    (out / INDEX).write_text(json.dumps({"samples": result.samples, "rows_hash": rows_hash(rows), "seed": seed,
                                         "groups": groups, "shards": index}, indent=2) + "\n")
    return result


def list_shards(location: str | Path) -> list[Path]:
    """Shard files of a folder (per its ``index.json`` when present, else ``*.tar`` sorted), one shard, or a glob."""
    loc = Path(location)
    if loc.is_file():
        return [loc]
    if not loc.exists() and any(c in str(location) for c in "*?["):
        anchor = Path(loc.anchor or ".")
        matches = sorted(p for p in anchor.glob(str(loc.relative_to(anchor)) if loc.anchor else str(loc))
                         if p.is_file())
        if not matches:
            raise ShardError(f"{location}: no shard matches this pattern")
        return matches
    if not loc.is_dir():
        raise ShardError(f"{loc}: no such shard folder or file")
    index = loc / INDEX
    if index.exists():
        return [loc / s["name"] for s in json.loads(index.read_text())["shards"]]
    shards = sorted(loc.glob("*.tar"))
    if not shards:
        raise ShardError(f"{loc}: no shards (*.tar) found")
    return shards


def shard_index(shards: Sequence[Path]) -> dict[str, Any]:
    """What the ``index.json`` beside ``shards`` says of them: samples per shard and in all, shard sha256s (as
    written; not recomputed), the rows' split groups and hash.

    Shards without an index (or not listed in it) are counted by reading their tar headers.
    """
    counts: dict[Path, int] = {}
    digests: dict[Path, str] = {}
    groups: set[str] = set()
    hashes: list[str] = []
    for folder in dict.fromkeys(p.parent for p in shards):
        index = folder / INDEX
        if index.is_file():
            data = json.loads(index.read_text())
            counts.update({folder / s["name"]: int(s["samples"]) for s in data.get("shards", [])})
            digests.update({folder / s["name"]: str(s.get("sha256", "")) for s in data.get("shards", [])})
            groups.update(data.get("groups", []))
            hashes.append(str(data.get("rows_hash", "")))
    for shard in shards:
        if shard not in counts:
            with tarfile.open(shard, mode="r:") as tar:
                counts[shard] = len({m.name.partition(".")[0] for m in tar.getmembers() if m.isfile()})
    return {"samples": sum(counts[s] for s in shards), "per_shard": [counts[s] for s in shards],
            "sha256": [digests.get(s, "") for s in shards], "groups": sorted(groups), "rows_hash": hashes}


def read_shard(path: Path, *, strict: bool = True) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Samples of one shard in order: (image bytes, metadata). Members of a sample are grouped by key.

    A sample without a single image and a label raises ValueError; with ``strict=False`` it is yielded with empty
    bytes, label 0 and an ``error`` entry instead, so that a training stream can count it as skipped.
    """
    key: str | None = None
    parts: dict[str, bytes] = {}
    with tarfile.open(path, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            k, _, ext = member.name.partition(".")
            if k != key and parts:
                yield _sample(path, key, parts, strict)
                parts = {}
            key = k
            f = tar.extractfile(member)
            parts[ext] = f.read() if f is not None else b""
    if parts:
        yield _sample(path, key, parts, strict)


def _sample(path: Path, key: str | None, parts: dict[str, bytes], strict: bool = True) -> tuple[bytes, dict[str, Any]]:
    try:
        meta: dict[str, Any] = json.loads(parts.pop("json")) if "json" in parts else {}
        if "cls" in parts:
            meta["label"] = int(parts.pop("cls"))
    except ValueError as exc:
        meta, problem = {}, f"{path}: sample {key} has unreadable metadata ({exc})"
    else:
        images = [v for k, v in parts.items() if k not in ("txt",)]
        if len(images) == 1 and "label" in meta:
            return images[0], meta
        problem = f"{path}: sample {key} has no single image and label (members: {sorted(parts)})"
    if strict:
        raise ValueError(problem)
    return b"", {"path": f"{path.name}:{key}", "label": 0, "error": problem}
