"""Read labelled-image manifests (CSV) into typed rows, with an explicit label map and precise errors.

A manifest has at least the columns ``path`` and ``label``; the development data adds ``generator``, ``family``,
``source``, ``format``, ``width``, ``height``, ``bytes``, ``sha256`` and more, which are kept. Labels are mapped
explicitly (``real`` -> :attr:`Label.REAL`, ``ai`` -> :attr:`Label.FAKE`); nothing is inferred from folder names
or sort order. Relative paths resolve against the manifest's own folder.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..types import Label

DEFAULT_LABEL_MAP: Mapping[str, Label] = {"real": Label.REAL, "ai": Label.FAKE}
REQUIRED_COLUMNS = ("path", "label")


class ManifestError(ValueError):
    """A manifest that cannot be read: names the file and, for a bad row, its line number."""


@dataclass(frozen=True)
class ManifestRow:
    """One labelled image.

    Attributes:
        path: absolute (resolved) path of the image file.
        rel_path: the path exactly as written in the manifest.
        label: ground truth (``Label.REAL`` or ``Label.FAKE``).
        source: where the image came from; rows sharing it share content and processing (the split group).
        generator: generator id (``camera`` for photographs).
        family: ``camera``, ``diffusion``, ``gan``, ``autoregressive``, ...
        fields: every column of the row as read, for the record (hashing, reports).
        line: line number in the CSV file (1 = header).
    """

    path: Path
    rel_path: str
    label: Label
    source: str = ""
    generator: str = ""
    family: str = ""
    fields: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    line: int = 0

    @property
    def folder(self) -> str:
        """The first folder under the label folder (``real/<folder>/x.jpg`` -> ``<folder>``), else ``source``."""
        parts = Path(self.rel_path).parts
        return parts[1] if len(parts) >= 3 else (self.source or parts[0])


def read_manifest(path: str | Path, *, label_map: Mapping[str, Label] | None = None,
                  root: str | Path | None = None) -> list[ManifestRow]:
    """Read ``path`` (CSV with a header) into rows.

    Args:
        path: the manifest file.
        label_map: label string -> :class:`Label`; defaults to ``{"real": REAL, "ai": FAKE}``. Matching is exact
            after stripping whitespace and lower-casing.
        root: folder that relative image paths are resolved against (default: the manifest's folder).

    Raises:
        ManifestError: missing file or columns, an empty path, or a label outside ``label_map`` (with line number).
    """
    path = Path(path)
    labels = {k.strip().lower(): Label(v) for k, v in (label_map or DEFAULT_LABEL_MAP).items()}
    base = Path(root) if root is not None else path.parent
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ManifestError(f"{path}: missing required column(s) {missing}; header is {header}")
            rows = [_parse_row(path, reader.line_num, raw, labels, base) for raw in reader]
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest ({exc})") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{path}: not a readable CSV file ({exc})") from exc
    return rows


def _parse_row(path: Path, line: int, raw: dict[str | None, str | None], labels: Mapping[str, Label],
               base: Path) -> ManifestRow:
    if None in raw:  # csv puts surplus cells under the key None
        raise ManifestError(f"{path}:{line}: more cells than header columns")
    cells = {str(k): (v or "").strip() for k, v in raw.items()}
    rel = cells.get("path", "")
    if not rel:
        raise ManifestError(f"{path}:{line}: empty 'path'")
    label_text = cells.get("label", "").lower()
    if label_text not in labels:
        raise ManifestError(f"{path}:{line}: unknown label {cells.get('label', '')!r} for {rel!r}; "
                            f"expected one of {sorted(labels)}")
    image_path = Path(rel) if Path(rel).is_absolute() else base / rel
    return ManifestRow(path=image_path, rel_path=rel, label=labels[label_text], source=cells.get("source", ""),
                       generator=cells.get("generator", ""), family=cells.get("family", ""), fields=cells, line=line)


def rows_hash(rows: Iterable[ManifestRow]) -> str:
    """SHA-256 over the rows used (path, label, and the file hash when the manifest records one), order-free.

    Identifies the training data in a checkpoint: the same rows give the same hash whatever their order.
    """
    lines = sorted(f"{r.rel_path}\t{int(r.label)}\t{r.fields.get('sha256', '')}" for r in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


__all__ = ["DEFAULT_LABEL_MAP", "ManifestError", "ManifestRow", "read_manifest", "rows_hash"]
