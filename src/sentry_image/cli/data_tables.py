"""``sentry-image data scan|split|shard|gallery``: turn folders into manifests, split them, shard them, show them.

Thin wrappers over :mod:`sentry_image.data` (registered on the ``data`` group by :mod:`.data`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import MofNCompleteColumn

from ._common import EXIT_DATA, EXIT_USAGE, data_bar, err, fail, took

WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Decoding threads.")]


def scan(
    folder: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest CSV to write.")],
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="LABEL=FOLDER[,LABEL=FOLDER]: real or ai "
                                                    "for folders (globs) below FOLDER.")] = None,
    subset: Annotated[str | None, typer.Option(help="Label as the published subset (all ai).")] = None,
    workers: WorkersOpt = 2,
) -> None:
    """Write a manifest (path, label, source, format, size, JPEG quality, bytes, sha256) for any folder."""
    from ..data.scan import LabelSpecError, parse_label_spec, save_manifest, scan_folder
    from ..data.subsets import get_subset

    if (label is None) == (subset is None):
        raise fail("give --label real=FOLDER,ai=FOLDER or --subset NAME (one of them)", EXIT_USAGE)
    try:
        spec = parse_label_spec(label) if label else None
        chosen = get_subset(subset) if subset else None
        start = time.monotonic()
        with data_bar(MofNCompleteColumn()) as bar:
            task = bar.add_task(f"scanning {folder}", total=None)
            result = scan_folder(folder, labels=spec, subset=chosen, workers=workers,
                                 progress=lambda n: bar.update(task, completed=n))
    except (LabelSpecError, ValueError) as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    save_manifest(result, out)
    counts = {"real": sum(1 for r in result.rows if int(r["label"]) == 0)}
    counts["ai"] = len(result.rows) - counts["real"]
    err.print(f"{out}: {len(result.rows)} images ({counts['real']} real, {counts['ai']} ai); "
              f"{len(result.errors)} failed to decode; {len(result.unlabelled)} matched no label ({took(start)})")
    for e in result.errors[:10]:
        err.print(f"  failed: {e['path']}: {e['error']}")
    if not result.rows:
        raise typer.Exit(EXIT_DATA)


def _read(manifest: Path) -> list[Any]:
    from ..data.manifest import ManifestError, read_manifest

    try:
        return read_manifest(manifest)
    except ManifestError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def split_cmd(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest CSV with a 'split' column.")],
    by: Annotated[str, typer.Option(help="Group key: a column, or 'folder' (first folder below the label "
                                         "folder); a group never spans two splits.")] = "source",
    fractions: Annotated[str, typer.Option(help="ROLE=FRACTION,... over train, calibration, test.")]
    = "train=0.6,calibration=0.2,test=0.2",
    seed: Annotated[int, typer.Option(help="Changes which groups land where.")] = 0,
) -> None:
    """Split deterministically by a hash of the group key (by source: no source in two splits)."""
    from ..data.metadata import write_manifest
    from ..data.splits import split_by_group

    rows = _read(manifest)
    if rows and by != "folder" and by not in rows[0].fields:
        raise fail(f"{manifest}: no column {by!r} to group by (columns: {', '.join(rows[0].fields)}; "
                    "or 'folder')", EXIT_USAGE)

    def key(r: Any) -> str:
        return str(r.folder if by == "folder" else r.fields.get(by, ""))

    groups = {key(r) for r in rows}
    if len(rows) >= 20 and len(groups) > len(rows) / 2:
        # a per-image key (e.g. a source URL per file) would put near-identical images on both sides
        err.print(f"warning: {len(groups)} {by} groups for {len(rows)} images: the key looks per-image; "
                  "group by a coarser one (e.g. --by folder) so that related images stay together")
    try:
        fr = {k.strip(): float(v) for k, v in (p.split("=") for p in fractions.split(",") if p.strip())}
        splits = split_by_group(rows, fractions=fr, key=key, seed=seed)
    except ValueError as exc:
        raise fail(f"--fractions {fractions!r}: {exc}", EXIT_USAGE) from None
    base = out.parent.resolve()
    written = []
    for role, part in splits.items():
        for r in part.rows:
            written.append({**r.fields, "path": Path(os.path.relpath(r.path.resolve(), base)).as_posix(),
                            "split": role})
    write_manifest(written, out, columns=("path", "label", "split"))
    for role, part in splits.items():
        counts = part.label_counts()
        err.print(f"{role}: {len(part)} images ({counts.get(0, 0)} real, {counts.get(1, 0)} ai) "
                  f"from {len(part.groups)} {by} groups")


def shard(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder of shards.")],
    max_samples: Annotated[int, typer.Option(min=1, help="Samples per shard.")] = 1000,
    max_mb: Annotated[int, typer.Option(min=1, help="Approximate size cap per shard, MB.")] = 1024,
    seed: Annotated[int | None, typer.Option(help="Shuffle seed; --no-shuffle keeps manifest order.")] = 0,
    shuffle: Annotated[bool, typer.Option("--shuffle/--no-shuffle",
                                          help="Mix rows across shards so each holds both labels and many sources "
                                               "(--no-shuffle: manifest order).")] = True,
) -> None:
    """Write webdataset tar shards (original bytes, label, metadata) for large runs."""
    from ..data.shard import ShardError, write_shards

    rows = _read(manifest)
    start = time.monotonic()
    with data_bar(MofNCompleteColumn()) as bar:
        task = bar.add_task("sharding", total=len(rows))
        try:
            result = write_shards(rows, out, max_samples=max_samples, max_bytes=max_mb << 20,
                                  seed=seed if shuffle else None, progress=lambda n: bar.update(task, completed=n))
        except ShardError as exc:
            raise fail(str(exc), EXIT_DATA) from None
    err.print(f"{out}: {result.samples} samples in {len(result.shards)} shards ({took(start)})")


def gallery(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PNG sheets and index.html.")],
    per_group: Annotated[int, typer.Option(min=1, max=500, help="Images shown per group.")] = 24,
    by: Annotated[str | None, typer.Option(help="Group column or 'folder' (default: subset, else generator, "
                                                "else source).")] = None,
    columns: Annotated[int, typer.Option(min=1, max=20, help="Images per row of a contact sheet.")] = 6,
) -> None:
    """Contact sheets (PNG) and a static HTML gallery per group, with label, generator and size."""
    from ..data.gallery import build_gallery

    rows = _read(manifest)
    if not rows:
        raise fail(f"{manifest}: no rows", EXIT_USAGE)
    start = time.monotonic()
    with data_bar(MofNCompleteColumn()) as bar:
        task = bar.add_task("gallery", total=None)
        result = build_gallery(rows, out, per_group=per_group, by=by, columns=columns,
                               progress=lambda name: bar.advance(task))
    names = [p.name for p in result.sheets.values()]
    shown = ", ".join(names[:8]) + (f", ... ({len(names) - 8} more)" if len(names) > 8 else "")
    err.print(f"{result.html}: {len(names)} groups, contact sheets in {out}: {shown} ({took(start)})")
