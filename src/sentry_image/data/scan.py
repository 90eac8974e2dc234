"""Turn any folder of images into a manifest, with an explicit label map (never folder sort order).

Labels come from patterns the user gives (``--label real=coco,ai=sd15/*``) or from the subsets table
(``--subset IF-CC95K``: every image generated, generator and family from the table). A pattern is a glob matched
against the leading folders of each file's path relative to the scanned folder; a file matched by patterns of
two labels is an error, a file matched by none is left out and counted. The ``source`` of a row, the key that
``split`` groups by, is the first folder below the matched pattern (or the matched folder itself); generated files
inside a published subset's folder also get its generator and family from the subsets table.

Each file is decoded with the project's safe decoder, which gives the format, size and JPEG quality estimate;
the sha256 is of the file's bytes. Files that fail to decode are reported, not listed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..types import Label
from .metadata import normalise_path
from .subsets import Subset

log = logging.getLogger(__name__)

LABEL_WORDS: Mapping[str, Label] = {"real": Label.REAL, "ai": Label.FAKE, "fake": Label.FAKE,
                                    "generated": Label.FAKE, "0": Label.REAL, "1": Label.FAKE}


class LabelSpecError(ValueError):
    """A ``--label`` specification that cannot be parsed, or a file claimed by two labels."""


def parse_label_spec(specs: str | Iterable[str]) -> list[tuple[str, Label]]:
    """``"real=coco,ai=sd15"`` (or several such strings) -> ``[("coco", REAL), ("sd15", FAKE)]``, in order."""
    items = [specs] if isinstance(specs, str) else list(specs)
    out: list[tuple[str, Label]] = []
    for item in items:
        for piece in filter(None, (p.strip() for p in item.split(","))):
            word, sep, pattern = piece.partition("=")
            if not sep or not pattern.strip():
                raise LabelSpecError(f"bad label mapping {piece!r}: expected LABEL=FOLDER, e.g. real=photos")
            label = LABEL_WORDS.get(word.strip().lower())
            if label is None:
                raise LabelSpecError(f"bad label {word!r} in {piece!r}: use real or ai")
            out.append((pattern.strip().strip("/"), label))
    if not out:
        raise LabelSpecError("no label mapping given: e.g. --label real=photos,ai=generated")
    return out


@dataclass(frozen=True)
class Match:
    """How one file is labelled: label, the row's source, and its generator/family when known."""

    label: Label
    source: str
    generator: str = ""
    family: str = ""
    subset: str = ""


def match_path(rel: str, mapping: list[tuple[str, Label]]) -> Match | None:
    """Label of the file at ``rel`` (posix, relative to the scanned folder) under ``mapping``."""
    parts = rel.split("/")
    found: list[tuple[str, Label, int]] = []
    for pattern, label in mapping:
        k = len(pattern.split("/"))
        if len(parts) > k and fnmatch.fnmatchcase("/".join(parts[:k]), pattern):
            found.append((pattern, label, k))
    labels = {lab for _, lab, _ in found}
    if len(labels) > 1:
        raise LabelSpecError(f"{rel}: claimed by both labels ({', '.join(p for p, _, _ in found)})")
    if not found:
        return None
    _, label, k = max(found, key=lambda f: f[2])  # the most specific pattern names the source
    source = parts[k] if len(parts) > k + 1 else parts[k - 1]
    return Match(label, source)


def with_known_subset(rel: str, m: Match) -> Match:
    """Generator, family and source from the subsets table when a generated file lies in a published subset's folder.

    The label stays the user's; only descriptive columns are filled (source: the generator folder inside the
    subset, e.g. ``IF-ddim-25-15K``, a finer split group than the subset).
    """
    from .subsets import SUBSETS

    if m.label != Label.FAKE:
        return m
    parts = rel.split("/")
    names = {s.name: s for s in SUBSETS}
    for i, part in enumerate(parts[:-1]):
        if part in names:
            inner = [p for p in parts[i + 1:-1] if p != part]
            sub = names[part]
            return Match(m.label, inner[0] if inner else sub.name, sub.generator, sub.family, sub.name)
    return m


def subset_matcher(subset: Subset) -> Callable[[str], Match]:
    """Labels from the subsets table: all images of a published subset share its truth, generator and family."""
    def match(rel: str) -> Match:
        inner = normalise_path(rel, subset.name, subset.split).split("/")
        source = inner[0] if len(inner) > 1 else subset.name
        return Match(subset.label, source, subset.generator, subset.family, subset.name)
    return match


def file_record(path: Path) -> dict[str, Any]:
    """Decode ``path`` safely; its format, size, JPEG quality estimate, byte count and sha256.

    Raises:
        ImageError: the file does not decode (code and message say why).
    """
    from ..imaging import load_image

    image = load_image(path)
    info = image.info
    return {"format": info.format, "width": info.width, "height": info.height, "jpeg_quality": info.jpeg_quality,
            "bytes": info.bytes, "sha256": hashlib.sha256(image.data).hexdigest()}


@dataclass
class ScanResult:
    """Rows of the manifest (``path`` relative to the scanned folder), decode failures and unlabelled files."""

    root: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)


def _files(root: Path) -> Iterator[tuple[str, Path | None, str]]:
    from ..imaging import ImageError
    from ..imaging.inputs import iter_inputs

    for item in iter_inputs([root], recursive=True):
        if isinstance(item, ImageError):
            yield item.path, None, f"{item.code}: {item.message}"
        else:
            yield item.relative_to(root).as_posix(), item, ""


def scan_folder(root: str | Path, *, labels: list[tuple[str, Label]] | None = None, subset: Subset | None = None,
                matcher: Callable[[str], Match | None] | None = None, workers: int = 2,
                progress: Callable[[int], None] | None = None) -> ScanResult:
    """Scan ``root`` recursively into manifest rows, labelled by ``labels`` patterns, by ``subset``, or by a
    ``matcher`` of relative paths (None: the file is left out as unlabelled); give exactly one of the three.

    Rows are in sorted path order, whatever the number of workers. Raises :class:`LabelSpecError`.
    """
    root = Path(root)
    if sum(x is not None for x in (labels, subset, matcher)) != 1:
        raise LabelSpecError("give either label patterns or a subset")
    if not root.is_dir():
        raise LabelSpecError(f"{root}: not a folder")
    def by_labels(rel: str) -> Match | None:
        m = match_path(rel, labels or [])
        return None if m is None else with_known_subset(rel, m)

    if matcher is None:
        matcher = subset_matcher(subset) if subset is not None else by_labels
    result = ScanResult(root=root)
    todo: list[tuple[str, Path, Match]] = []
    for rel, path, problem in _files(root):
        if path is None:
            result.errors.append({"path": rel, "error": problem})
            continue
        m = matcher(rel)
        if m is None:
            result.unlabelled.append(rel)
        else:
            todo.append((rel, path, m))

    def work(item: tuple[str, Path, Match]) -> tuple[str, Match, dict[str, Any] | str]:
        from ..imaging import ImageError

        rel, path, m = item
        try:
            return rel, m, file_record(path)
        except ImageError as exc:
            return rel, m, f"{exc.code}: {exc.message}"

    with ThreadPoolExecutor(max(1, workers)) as pool:  # decoding releases the GIL; map keeps the order
        for i, (rel, m, rec) in enumerate(pool.map(work, todo), 1):
            if isinstance(rec, str):
                result.errors.append({"path": rel, "error": rec})
            else:
                result.rows.append({"path": rel, "label": m.label, "source": m.source, "generator": m.generator,
                                    "family": m.family, "subset": m.subset, **rec})
            if progress is not None:
                progress(i)
    if result.unlabelled:
        log.warning("%d files matched no label pattern and were left out (first: %s)", len(result.unlabelled),
                    result.unlabelled[0])
    return result


def save_manifest(result: ScanResult, out: str | Path) -> Path:
    """Write ``result`` as a manifest at ``out``, paths made relative to the manifest's folder (as readers expect)."""
    import os

    from .metadata import write_manifest

    out = Path(out)
    base = out.parent.resolve()
    rows = [{**r, "path": Path(os.path.relpath((result.root / r["path"]).resolve(), base)).as_posix()}
            for r in result.rows]
    return write_manifest(rows, out)
