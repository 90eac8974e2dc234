"""Read the published MetaData CSVs, and write manifests.

MetaData CSVs are space-delimited ``path label`` rows without a header. The schema is detected from the first
line rather than assumed, so a CSV with a header (comma- or space-delimited, with ``path`` and ``label`` columns)
reads too, and anything else is refused with an error naming the file and line. Paths in the CSVs may or may not
start with ``ImageData/<split>/`` or the subset folder: :func:`normalise_path` maps them all to the path below
the subset folder, which is how ``verify`` matches them with extracted files.

Manifests are written with the columns the project's manifest reader (``data/manifest.py``) expects: ``path``
and ``label`` (``real``/``ai``) first, then provenance and file facts.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..types import Label

LABEL_TEXT = {Label.REAL: "real", Label.FAKE: "ai"}
MANIFEST_COLUMNS = ("path", "label", "source", "generator", "family", "subset", "format", "width", "height",
                    "jpeg_quality", "bytes", "sha256")


class MetadataError(ValueError):
    """A MetaData CSV that cannot be read; the message names the file and, for a bad row, its line."""


@dataclass(frozen=True)
class MetaRow:
    """One CSV row: the path as written, its label token, and its line number (1-based)."""

    path: str
    label: str
    line: int


@dataclass
class MetaCsv:
    """A parsed MetaData CSV: rows, and the rows refused (``errors``, each ``file:line: why``)."""

    path: Path
    schema: str
    rows: list[MetaRow]
    errors: list[str]


def _split_line(line: str, delimiter: str | None) -> list[str]:
    if delimiter == ",":
        return next(csv.reader(io.StringIO(line)))
    # paths may contain spaces; the label is the last token
    return line.rsplit(None, 1)


def read_metadata_csv(path: str | Path, *, strict: bool = True) -> MetaCsv:
    """Read a MetaData CSV (header-less ``path label`` rows, or a CSV with ``path``/``label`` columns).

    Args:
        strict: raise on the first bad row; otherwise collect it in ``errors`` and go on (for ``verify``).

    Raises:
        MetadataError: unreadable file, unknown schema, or (when strict) a bad row.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise MetadataError(f"{path}: empty CSV")
    head = lines[first].strip()
    delimiter = "," if "," in head and not any(c.isspace() for c in head) else None
    cells = [c.strip().lower() for c in (head.split(",") if delimiter else head.split())]
    if "path" in cells and "label" in cells:
        schema, start, ipath, ilabel = "header", first + 1, cells.index("path"), cells.index("label")
    elif len(first_cells := _split_line(head, delimiter)) == 2 and first_cells[1].strip().isdigit():
        schema, start, ipath, ilabel = "path-label", first, 0, 1
    else:
        raise MetadataError(f"{path}:{first + 1}: unknown schema: expected 'path label' rows or a header with "
                            f"path and label columns, got {head[:80]!r}")
    rows: list[MetaRow] = []
    errors: list[str] = []
    for i in range(start, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        parts = [c.strip() for c in (_split_line(line, delimiter) if schema == "path-label"
                                      else (line.split(",") if delimiter else line.split()))]
        if len(parts) <= max(ipath, ilabel) or not parts[ipath] or not parts[ilabel]:
            message = f"{path}:{i + 1}: expected 'path label', got {line[:80]!r}"
            if strict:
                raise MetadataError(message)
            errors.append(message)
            continue
        rows.append(MetaRow(parts[ipath], parts[ilabel], i + 1))
    return MetaCsv(path=path, schema=schema, rows=rows, errors=errors)


def normalise_path(path: str, subset: str, split: str | None = None) -> str:
    """The path below the subset folder: strips ``./``, ``ImageData/<split>/`` and ``<subset>/`` prefixes."""
    p = path.replace("\\", "/").lstrip("/")
    while p.startswith("./"):
        p = p[2:]
    for prefix in ([f"ImageData/{split}/"] if split else []) + ["ImageData/train/", "ImageData/val/"]:
        if p.startswith(prefix):
            p = p[len(prefix):]
            break
    if p.startswith(subset + "/"):
        p = p[len(subset) + 1:]
    return p


def label_text(label: Label) -> str:
    """``real`` or ``ai``: the label words of the project's manifests."""
    return LABEL_TEXT[Label(label)]


def write_manifest(rows: Iterable[Mapping[str, Any]], path: str | Path,
                   columns: tuple[str, ...] = MANIFEST_COLUMNS) -> Path:
    """Write rows (dicts; ``label`` as :class:`Label` or text) to a CSV manifest, atomically.

    Extra keys found in the rows are appended as columns after ``columns`` in first-seen order.
    """
    path = Path(path)
    rows = list(rows)
    extra: list[str] = []
    for r in rows:
        extra.extend(k for k in r if k not in columns and k not in extra)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*columns, *extra], extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            out = {k: ("" if v is None else v) for k, v in r.items()}
            if isinstance(r.get("label"), Label):
                out["label"] = label_text(r["label"])
            writer.writerow(out)
    os.replace(tmp, path)
    return path
