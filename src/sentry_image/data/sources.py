"""Labelled rows from a data spec: a manifest CSV, a ``real/`` + ``ai/`` folder, or published subset names.

One reader for every command that takes images (``train``, ``eval --data``), so that a spec means the same thing
everywhere:

* a manifest CSV (``path``, ``label``, ...), read as it is;
* a folder with ``real/`` and/or ``ai/`` sub-folders, scanned on the fly (labels from the folder names);
* ``subsets:NAME[,NAME...]``, or a bare comma-separated list of names of the subsets table when no such path
  exists: every image under ``ROOT/extracted/<split>/<name>/`` (where ``data extract --root ROOT`` puts them),
  labelled, with generator, family and source, by the table.

Scanning a published subset decodes every image (format, size, JPEG quality, sha256), which takes hours for a
million files, so the scan is kept as a manifest at ``ROOT/manifests/<split>/<name>.csv`` beside a small stamp of
the folder (file count, newest directory mtime); it is reused while the stamp matches. Adding or removing files
changes a directory's mtime, so a re-extraction triggers a rescan.

``real`` adds real photographs (the hub holds generated images only): a manifest, a labelled folder, or a plain
folder whose every image is taken as real. Folders other than published subsets are scanned afresh on each call;
for a large one, write its manifest once (``sentry-image data scan``) and give that instead.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..types import Label
from .manifest import ManifestError, ManifestRow, read_manifest
from .metadata import label_text, write_manifest
from .scan import LabelSpecError, Match, parse_label_spec, scan_folder
from .subsets import SUBSETS, Subset, UnknownSubsetError, get_subset

log = logging.getLogger(__name__)

SUBSET_PREFIX = "subsets:"
CACHE_FOLDER = "manifests"
_STAMP_VERSION = 1


class SourceError(ValueError):
    """A data spec that cannot be read: the message names the spec or file and what is wrong with it."""


def read_source(spec: str | Path, *, root: str | Path = ".", real: str | Path | None = None) -> list[ManifestRow]:
    """Labelled rows of ``spec`` (manifest CSV, labelled folder or subset names), plus the ``real`` rows.

    Args:
        spec: a manifest CSV; a folder with ``real/`` and ``ai/``; ``subsets:NAME,...`` or bare subset names.
        root: the folder given to ``data fetch --to`` / ``data extract --root`` (subsets are read below it and
            their scans cached under ``ROOT/manifests``).
        real: manifest or folder of real photographs to add (a folder without ``real/``/``ai/`` is all real).

    Raises:
        SourceError: a missing file or folder, an unreadable manifest, an unknown or unextracted subset.
    """
    names = subset_names(spec)
    rows = read_subsets(names, root) if names is not None else _path_rows(Path(spec))
    if real is not None and str(real).strip():
        rows.extend(read_real(real))
    return rows


def subset_names(spec: str | Path) -> list[str] | None:
    """The subset names ``spec`` asks for, or None when it is a path (an existing one, or one that looks like it)."""
    text = str(spec).strip()
    if text.startswith(SUBSET_PREFIX):
        names = [n.strip() for n in text[len(SUBSET_PREFIX):].split(",") if n.strip()]
        if not names:
            raise SourceError(f"{text!r}: no subset name after {SUBSET_PREFIX!r} (see sentry-image data subsets)")
        return names
    if not text:
        raise SourceError("empty data spec: give a manifest CSV, a folder with real/ and ai/, or subset names")
    if Path(text).exists():
        return None
    if "/" in text or os.sep in text or Path(text).suffix.lower() == ".csv":
        raise SourceError(f"{text}: no such manifest file or folder")
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = {s.name.lower() for s in SUBSETS}
    if names and all(n.lower() in known for n in names):
        return names
    unknown = [n for n in names if n.lower() not in known]
    hints = "; ".join(f"{n!r}: did you mean {', '.join(close)}?" for n in unknown if (close := close_subsets(n)))
    raise SourceError(f"{text!r}: no such manifest file or folder, and not subset names"
                      f"{f' ({hints})' if hints else ''}")


def close_subsets(name: str) -> list[str]:
    """Names of the subsets table closest to ``name`` (for an error message)."""
    by_lower = {s.name.lower(): s.name for s in SUBSETS}
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)]


def find_subset(name: str) -> Subset:
    """The subset called ``name`` (case-insensitive); an unknown name lists the closest known ones."""
    try:
        return get_subset(name)
    except UnknownSubsetError:
        pass
    close = close_subsets(name)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(s.name for s in SUBSETS)}"
    raise SourceError(f"unknown subset {name!r}: {hint} (sentry-image data subsets lists them)")


def read_subsets(names: list[str], root: str | Path = ".") -> list[ManifestRow]:
    """Rows of the extracted images of the named subsets under ``root`` (scans cached, see the module notes)."""
    root = Path(root)
    chosen = [find_subset(n) for n in names]  # every name checked before any scan starts
    rows: list[ManifestRow] = []
    for sub in dict.fromkeys(chosen):
        folder = root / "extracted" / sub.split / sub.name
        if not folder.is_dir():
            fetch = "" if (root / sub.archive_dir).exists() else \
                f" (fetch it first: sentry-image data fetch --subset {sub.name} --to {root})"
            raise SourceError(f"subset {sub.name}: {folder} not found; extract it with: sentry-image data extract "
                              f"--subset {sub.name} --root {root}{fetch}")
        rows.extend(_subset_rows(sub, folder, root / CACHE_FOLDER / sub.split / f"{sub.name}.csv"))
    return rows


def read_real(spec: str | Path) -> list[ManifestRow]:
    """Rows of real photographs: a manifest, a labelled folder, or a plain folder (every image real)."""
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"real images {str(spec)!r}: no such manifest file or folder")
    if path.is_dir() and not _is_labelled(path):
        return _plain_rows(path, Label.REAL)
    return _path_rows(path)


def folder_fingerprint(folder: Path) -> dict[str, int]:
    """File count and newest directory mtime of ``folder``: cheap (one stat per directory, none per file)."""
    files, newest = 0, 0
    for dirpath, _dirs, names in os.walk(folder):
        files += len(names)
        newest = max(newest, os.stat(dirpath).st_mtime_ns)
    return {"files": files, "dir_mtime_ns": newest}


def _is_labelled(folder: Path) -> bool:
    return (folder / "real").is_dir() or (folder / "ai").is_dir()


def _path_rows(path: Path) -> list[ManifestRow]:
    if path.is_dir():
        if not _is_labelled(path):
            raise SourceError(f"{path}: a data folder needs real/ and ai/ sub-folders (or give a manifest CSV)")
        try:
            result = scan_folder(path, labels=parse_label_spec("real=real,ai=ai"))
        except LabelSpecError as exc:
            raise SourceError(str(exc)) from None
        _report(path, result.errors)
        base = path.resolve()
        return [_row(base, r["path"], r) for r in result.rows]
    try:
        return read_manifest(path)
    except ManifestError as exc:
        raise SourceError(str(exc)) from None


def _row(base: Path, rel: str, record: Mapping[str, Any], path: Path | None = None) -> ManifestRow:
    """A row for a scanned file under the resolved ``base``; ``rel`` starts with a label or subset folder, so that
    :attr:`ManifestRow.folder` (the split's group key) is the source folder below it."""
    fields = {k: "" if v is None else str(v) for k, v in record.items()}
    fields["label"], fields["path"] = label_text(Label(record["label"])), rel
    return ManifestRow(path=path or base / rel, rel_path=rel, label=Label(record["label"]),
                       source=fields.get("source", ""), generator=fields.get("generator", ""),
                       family=fields.get("family", ""), fields=fields)


def _report(folder: Path, errors: list[dict[str, str]]) -> None:
    if errors:
        log.warning("%s: %d files do not decode and were left out (first: %s: %s)", folder, len(errors),
                    errors[0]["path"], errors[0]["error"])


def _plain_rows(folder: Path, label: Label) -> list[ManifestRow]:
    """Every image under ``folder`` with ``label``; source: the first sub-folder (the folder itself at the top)."""
    camera = "camera" if label == Label.REAL else ""

    def match(rel: str) -> Match:
        return Match(label, rel.split("/")[0] if "/" in rel else folder.name, camera, camera)

    try:
        result = scan_folder(folder, matcher=match)
    except LabelSpecError as exc:
        raise SourceError(str(exc)) from None
    _report(folder, result.errors)
    if not result.rows:
        raise SourceError(f"{folder}: no images found")
    return [_row(folder.parent, f"{folder.name}/{r['path']}", r, path=(folder / r["path"]).resolve())
            for r in result.rows]


def _subset_rows(sub: Subset, folder: Path, cache: Path) -> list[ManifestRow]:
    """Rows of one extracted subset, from the cached scan when the folder has not changed since."""
    split_dir = folder.parent.resolve()
    # cached paths are relative to the cache's folder (a manifest convention), resolved whether it exists yet or not
    prefix = Path(os.path.relpath(split_dir, cache.parent.resolve())).as_posix()
    stamp_path = cache.with_suffix(".scan.json")
    expected = {"version": _STAMP_VERSION, "folder": str(folder.resolve()), **folder_fingerprint(folder)}
    if cache.is_file() and stamp_path.is_file():
        try:
            stamp = json.loads(stamp_path.read_text())
        except (OSError, ValueError):
            stamp = {}
        if {k: stamp.get(k) for k in expected} == expected and stamp.get("prefix") == prefix:
            try:
                cached = read_manifest(cache)
            except ManifestError as exc:
                log.warning("%s: unreadable cached scan, rescanning (%s)", cache, exc)
            else:
                log.info("%s: %d images from the cached scan %s", sub.name, len(cached), cache)
                return [replace(r, path=split_dir / r.rel_path.removeprefix(prefix + "/"),
                                rel_path=r.rel_path.removeprefix(prefix + "/")) for r in cached]
    log.info("scanning %s (%d files); the scan is cached in %s", folder, expected["files"], cache)
    def progress(done: int) -> None:
        if done % 10_000 == 0:
            log.info("%s: %d / %d files scanned", sub.name, done, expected["files"])

    result = scan_folder(folder, subset=sub, progress=progress)
    _report(folder, result.errors)
    if not result.rows:
        raise SourceError(f"subset {sub.name}: no images under {folder}")
    rows = [_row(split_dir, f"{sub.name}/{r['path']}", r) for r in result.rows]
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_manifest([{**r.fields, "path": f"{prefix}/{r.rel_path}"} for r in rows], cache)
    tmp = stamp_path.with_name(f"{stamp_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**expected, "prefix": prefix, "images": len(rows),
                               "errors": len(result.errors)}, indent=2) + "\n")
    os.replace(tmp, stamp_path)  # written after the manifest: a stamp never vouches for a half-written scan
    return rows


__all__ = ["SUBSET_PREFIX", "SourceError", "close_subsets", "find_subset", "folder_fingerprint", "read_real",
           "read_source", "read_subsets", "subset_names"]
