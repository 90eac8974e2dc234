"""Check extracted subsets and manifests: every image decodes, counts and labels agree, no duplicates.

Two targets, one report shape:

- a published subset (``verify_subset``): the extracted files against the subset's MetaData CSV: files the CSV
  lists that are missing, files on disk it does not list, CSV rows that cannot be read (file and line), labels
  the CSV claims that disagree with the subsets table (known-wrong CSVs such as ``Midjourneyv5-5K``'s are
  reported as known and do not fail the check);
- a manifest (``verify_manifest``), such as ``../shared/data/manifest.csv``: files exist and decode, and the
  recorded ``sha256``/``bytes``/``width``/``height``, when present, match the file.

Both decode every image through the project's safe decoder and find byte-identical duplicates by sha256. Lists in
the report are capped (``MAX_EXAMPLES``) but counts are exact; ``ok`` is False when any problem was found.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .metadata import MetadataError, label_text, normalise_path, read_metadata_csv
from .scan import file_record
from .subsets import Subset

MAX_EXAMPLES = 50


@dataclass
class Finding:
    """One kind of problem: how many, a few examples, and whether it fails the check."""

    count: int = 0
    examples: list[Any] = field(default_factory=list)
    fails: bool = True

    def add(self, example: Any) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)


@dataclass
class VerifyReport:
    """Result of a check. ``findings`` maps a problem kind to its :class:`Finding`."""

    target: str
    kind: str
    images: int = 0
    decoded: int = 0
    findings: dict[str, Finding] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def finding(self, name: str, *, fails: bool = True) -> Finding:
        return self.findings.setdefault(name, Finding(fails=fails))

    @property
    def ok(self) -> bool:
        return not any(f.count and f.fails for f in self.findings.values())

    def problems(self) -> list[str]:
        """One line per failing kind of problem, with its first example."""
        out = []
        for name, f in self.findings.items():
            if f.count:
                first = f" (e.g. {f.examples[0]})" if f.examples else ""
                out.append(f"{'' if f.fails else 'known: '}{name}: {f.count}{first}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "kind": self.kind, "ok": self.ok, "images": self.images,
                "decoded": self.decoded, "notes": self.notes,
                "findings": {k: {"count": f.count, "fails": f.fails, "examples": f.examples}
                             for k, f in self.findings.items()}}

    def write(self, path: str | Path) -> Path:
        """The report as JSON (the canonical form)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


Progress = Callable[[int, int], None]  # (done, total)


def _decode_all(paths: list[tuple[str, Path]], report: VerifyReport, workers: int,
                progress: Progress | None) -> dict[str, dict[str, Any]]:
    """Decode every file; returns its record by name and fills ``undecodable`` and ``duplicates``."""
    from ..imaging import ImageError

    def work(item: tuple[str, Path]) -> tuple[str, dict[str, Any] | ImageError]:
        try:
            return item[0], file_record(item[1])
        except ImageError as exc:
            return item[0], exc

    records: dict[str, dict[str, Any]] = {}
    decoded = 0
    failed = report.finding("undecodable")
    by_hash: dict[str, list[str]] = defaultdict(list)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for i, (name, rec) in enumerate(pool.map(work, paths), 1):
            if isinstance(rec, ImageError):
                failed.add({"path": name, "code": rec.code, "message": rec.message})
            else:
                decoded += 1
                records[name] = rec
                by_hash[rec["sha256"]].append(name)
            if progress is not None:
                progress(i, len(paths))
    report.images, report.decoded = len(paths), decoded
    dups = report.finding("duplicates")
    for names in by_hash.values():
        if len(names) > 1:
            dups.add(sorted(names))
    return records


def verify_subset(subset: Subset, images: str | Path, csv_path: str | Path, *, workers: int = 2,
                  progress: Progress | None = None) -> VerifyReport:
    """Check the extracted ``images`` folder of ``subset`` against its MetaData CSV."""
    from ..imaging.inputs import iter_inputs

    root = Path(images)
    report = VerifyReport(target=str(root), kind=f"subset {subset.name}")
    if not root.is_dir():
        report.finding("missing_folder").add(str(root))
        return report
    files: dict[str, Path] = {}
    for item in iter_inputs([root], recursive=True):
        if isinstance(item, Path):
            files[normalise_path(item.relative_to(root).as_posix(), subset.name, subset.split)] = item
        else:
            report.finding("unreadable").add({"path": item.path, "code": item.code, "message": item.message})
    try:
        meta = read_metadata_csv(csv_path, strict=False)
    except MetadataError as exc:
        report.finding("csv_unreadable").add(str(exc))
        meta = None
    if meta is not None:
        bad_rows = report.finding("csv_bad_rows")
        for e in meta.errors:
            bad_rows.add(e)
        known = not subset.csv_labels_trusted
        labels = report.finding("label_disagreements", fails=not known)
        if known:
            report.notes.append(f"{subset.name}: CSV labels are known to be wrong ({subset.note})")
        missing, listed = report.finding("missing_files"), set()
        for row in meta.rows:
            name = normalise_path(row.path, subset.name, subset.split)
            listed.add(name)
            claimed = subset.csv_label(row.label)
            if claimed is None:
                bad_rows.add(f"{meta.path}:{row.line}: unknown label {row.label!r}")
            elif claimed != subset.label:
                labels.add(f"{meta.path}:{row.line}: {row.path} says {label_text(claimed)}, the subset is "
                           f"{label_text(subset.label)}")
            if name not in files:
                missing.add(f"{meta.path}:{row.line}: {row.path}")
        extra = report.finding("unlisted_files")
        for name in sorted(set(files) - listed):
            extra.add(name)
        report.notes.append(f"CSV rows: {len(meta.rows)}; files: {len(files)}; nominal count: {subset.count}")
    _decode_all(sorted(files.items()), report, workers, progress)
    return report


def verify_manifest(manifest: str | Path, *, workers: int = 2, progress: Progress | None = None) -> VerifyReport:
    """Check every row of a manifest: the file decodes and matches the facts the manifest records."""
    from .manifest import ManifestError, read_manifest

    report = VerifyReport(target=str(manifest), kind="manifest")
    try:
        rows = read_manifest(manifest)
    except ManifestError as exc:
        report.finding("manifest_unreadable").add(str(exc))
        return report
    records = _decode_all([(r.rel_path, r.path) for r in rows], report, workers, progress)
    mismatch = report.finding("recorded_facts_differ")
    seen = report.finding("repeated_rows")
    names: set[str] = set()
    for r in rows:
        if r.rel_path in names:
            seen.add(f"line {r.line}: {r.rel_path}")
        names.add(r.rel_path)
        rec = records.get(r.rel_path)
        if rec is None:
            continue
        for key in ("sha256", "bytes"):
            want = r.fields.get(key, "")
            if want and str(rec[key]) != want:
                mismatch.add(f"line {r.line}: {r.rel_path}: {key} is {rec[key]}, the manifest says {want}")
        size = (r.fields.get("width", ""), r.fields.get("height", ""))
        # the decoder reports the displayed size (EXIF orientation applied); a manifest may record the stored one
        if all(size) and size not in ((str(rec["width"]), str(rec["height"])), (str(rec["height"]), str(rec["width"]))):
            mismatch.add(f"line {r.line}: {r.rel_path}: size is {rec['width']}x{rec['height']}, the manifest says "
                         f"{size[0]}x{size[1]}")
    return report


def summarise(reports: Iterable[VerifyReport]) -> dict[str, Any]:
    """Several reports as one JSON document."""
    items = [r.to_dict() for r in reports]
    return {"ok": all(i["ok"] for i in items), "reports": items}
