"""``sentry-image data ...``: get, check, describe and package datasets. Thin wrappers over ``sentry_image.data``.

Exit codes: 0 done; 1 the data has a problem (verify found one, a part is corrupt, a download failed);
2 usage error (unknown subset, missing path, bad option). Errors are one line on stderr, never a traceback.
Progress bars go to stderr when it is a terminal (or when ``SENTRY_PROGRESS`` is set).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

data_app = typer.Typer(name="data", help="Fetch, extract, verify, scan, split, shard and look at datasets.",
                       no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
# markup off: messages carry file names, whose brackets must print as they are; styled words use escape()
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
EXIT_DATA, EXIT_USAGE = 1, 2

SubsetOpt = Annotated[list[str] | None, typer.Option("--subset", "-s", help="Subset name (repeatable).")]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Every subset of a split: train or val.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Decoding threads.")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True)
    return typer.Exit(code)


def _subsets(names: list[str] | None, split: str | None) -> list[Any]:
    from .data.subsets import select_subsets

    try:
        return select_subsets(names or (), split)
    except ValueError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None


@contextmanager
def _bar(*columns: Any) -> Iterator[Progress]:
    with Progress(TextColumn("{task.description}"), BarColumn(), *columns, TimeElapsedColumn(), console=err,
                  transient=False, disable=not err.is_terminal and not os.environ.get("SENTRY_PROGRESS")) as bar:
        yield bar


@data_app.command()
def subsets(split: SplitOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the published Fake2M (train) and MPBench (val) subsets: generator, size, paths, label rules."""
    from .data.subsets import SUBSETS

    rows = [s.as_row() for s in SUBSETS if split is None or s.split == split]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="InfImagine/FakeImageDataset subsets (labels: every image is ai; bring real ones)")
    for col in ("name", "split", "generator", "family", "px", "count", "MetaData CSV"):
        table.add_column(col, no_wrap=True)
    table.add_column("note", overflow="fold")
    for r in rows:
        table.add_row(str(r["name"]), str(r["split"]), str(r["generator"]), str(r["family"]),
                      str(r["resolution"] or ">=512"), f"{r['count']:,}", str(r["csv"]).rsplit("/", 1)[-1],
                      str(r["note"]))
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)  # piped: do not squeeze the table into 80 columns
    out.print(table)


@data_app.command()
def fetch(
    to: Annotated[Path, typer.Option("--to", help="Folder that receives the repository layout.")],
    subset: SubsetOpt = None, split: SplitOpt = None,
    revision: Annotated[str, typer.Option(help="Branch, tag or commit; resolved once to a commit.")] = "main",
    repo_id: Annotated[str, typer.Option(help="Dataset repository.")] = "InfImagine/FakeImageDataset",
    endpoint: Annotated[str | None, typer.Option(help="Hub URL (default $HF_ENDPOINT or huggingface.co).")] = None,
) -> None:
    """Download the archive parts and MetaData CSV of the chosen subsets (resumes an interrupted run)."""
    from .data.hub import FetchError, RemoteFile
    from .data.hub import fetch as do_fetch

    chosen = _subsets(subset, split)
    with _bar(DownloadColumn(), TransferSpeedColumn()) as bar:
        task = bar.add_task("fetching", total=None)
        done: dict[str, int] = {}

        def plan(files: list[RemoteFile]) -> None:
            bar.update(task, total=sum(f.size for f in files))

        def progress(name: str, have: int, size: int) -> None:
            done[name] = have
            bar.update(task, completed=sum(done.values()), description=f"fetching {name.rsplit('/', 1)[-1]}")

        try:
            result = do_fetch(chosen, to, revision=revision, repo_id=repo_id, endpoint=endpoint, progress=progress,
                              plan=plan)
        except FetchError as exc:
            raise _fail(str(exc), EXIT_DATA) from None
    err.print(f"{repo_id}@{result.commit[:12]}: {len(result.downloaded)} files downloaded "
              f"({result.bytes_downloaded:,} bytes transferred), {len(result.present)} already present, in {to}")


def _archive_jobs(path: Path | None, subset: list[str] | None, split: str | None, root: Path,
                  out: Path | None) -> list[tuple[str, Path, Path, str | None]]:
    if path is not None:
        if subset or split:
            raise _fail("give either PATH or --subset/--split, not both", EXIT_USAGE)
        if out is None:
            raise _fail("--out is required with PATH", EXIT_USAGE)
        return [(path.name, path, out, None)]
    if not subset and not split:
        raise _fail("give PATH, --subset NAME or --split val|train", EXIT_USAGE)
    chosen = _present(_subsets(subset, split), lambda s: root / s.archive_dir, bool(subset), "fetched")
    return [(s.name, root / s.archive_dir, (out or root / "extracted") / s.split / s.name, s.archive_name)
            for s in chosen]


def _present(chosen: list[Any], where: Callable[[Any], Path], named: bool, what: str) -> list[Any]:
    """With --split, the subsets of the split that are there (a user rarely fetches all); named ones must be."""
    if named:
        return chosen
    here = [s for s in chosen if where(s).exists()]
    skipped = [s.name for s in chosen if s not in here]
    if not here:
        raise _fail(f"none of the subsets of this split is {what} under {where(chosen[0]).parents[1]}", EXIT_USAGE)
    if skipped:
        err.print(f"skipping subsets not {what}: {', '.join(skipped)}")
    return here


@data_app.command()
def extract(
    path: Annotated[Path | None, typer.Argument(help="Folder of parts, or one part, of any archive.")] = None,
    subset: SubsetOpt = None, split: SplitOpt = None,
    root: Annotated[Path, typer.Option(help="Folder given to fetch --to.")] = Path("."),
    out: Annotated[Path | None, typer.Option(help="Target (default ROOT/extracted/<split>/<subset>).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing files that differ from the archive.")] = False,
) -> None:
    """Stream-extract split archives part by part (never joined on disk); resumable, refuses path traversal."""
    from .data.archive import ArchiveError
    from .data.archive import extract as do_extract

    for name, parts, target, archive in _archive_jobs(path, subset, split, root, out):
        if not parts.exists():
            hint = "" if archive is None else " (fetch it first, or pass --root)"
            raise _fail(f"{parts}: not found{hint}", EXIT_USAGE)
        with _bar(DownloadColumn(), TransferSpeedColumn(), TextColumn("{task.fields[files]} files")) as bar:
            task = bar.add_task(f"extracting {name}", total=None, files=0)

            def progress(read: int, total: int, files: int, task: Any = task, bar: Progress = bar) -> None:
                bar.update(task, completed=read, total=total, files=files)

            try:
                r = do_extract(parts, target, name=archive, overwrite=overwrite, progress=progress)
            except ArchiveError as exc:
                raise _fail(str(exc), EXIT_DATA) from None
        err.print(f"{name}: {r.written} files written, {r.skipped} already extracted, {r.adopted} identical "
                  f"files adopted{f', {len(r.ignored)} special members ignored' if r.ignored else ''} -> {target}")


@data_app.command()
def verify(
    manifest: Annotated[Path | None, typer.Option(help="Verify a manifest CSV instead of subsets.")] = None,
    subset: SubsetOpt = None, split: SplitOpt = None,
    root: Annotated[Path, typer.Option(help="Folder given to fetch --to.")] = Path("."),
    images: Annotated[Path | None, typer.Option(help="Extracted folder (default ROOT/extracted/<split>/<subset>).")]
    = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    workers: WorkersOpt = 2,
) -> None:
    """Decode every image, compare with the MetaData CSV (counts, labels), find duplicates; exit 1 on problems."""
    from .data.verify import summarise, verify_manifest, verify_subset

    reports = []
    with _bar(MofNCompleteColumn()) as bar:
        def progress_for(name: str) -> Callable[[int, int], None]:
            task = bar.add_task(f"verifying {name}", total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        if manifest is not None:
            if subset or split:
                raise _fail("give either --manifest or --subset/--split", EXIT_USAGE)
            if not manifest.is_file():
                raise _fail(f"{manifest}: no such manifest", EXIT_USAGE)
            reports.append(verify_manifest(manifest, workers=workers, progress=progress_for(manifest.name)))
        else:
            chosen = _present(_subsets(subset, split), lambda s: images or root / "extracted" / s.split / s.name,
                              bool(subset) or images is not None, "extracted")
            if images is not None and len(chosen) != 1:
                raise _fail("--images needs exactly one --subset", EXIT_USAGE)
            for s in chosen:
                folder = images or root / "extracted" / s.split / s.name
                reports.append(verify_subset(s, folder, root / s.csv_path, workers=workers,
                                             progress=progress_for(s.name)))
    summary = summarise(reports)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(summary, indent=2) + "\n")
    for r in reports:
        status = "[green]ok[/green]" if r.ok else "[red]problems[/red]"
        err.print(f"{escape(r.kind)}: {status}: {r.decoded}/{r.images} images decode", markup=True)
        for line in r.problems():
            err.print(f"  {line}")
        for note in r.notes:
            err.print(f"  note: {note}")
    raise typer.Exit(0 if summary["ok"] else EXIT_DATA)


@data_app.command()
def scan(
    folder: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest CSV to write.")],
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="LABEL=FOLDER[,LABEL=FOLDER]: real or ai "
                                                    "for folders (globs) below FOLDER.")] = None,
    subset: Annotated[str | None, typer.Option(help="Label as the published subset (all ai).")] = None,
    workers: WorkersOpt = 2,
) -> None:
    """Write a manifest (path, label, source, format, size, JPEG quality, bytes, sha256) for any folder."""
    from .data.scan import LabelSpecError, parse_label_spec, save_manifest, scan_folder
    from .data.subsets import get_subset

    if (label is None) == (subset is None):
        raise _fail("give --label real=FOLDER,ai=FOLDER or --subset NAME (one of them)", EXIT_USAGE)
    try:
        spec = parse_label_spec(label) if label else None
        chosen = get_subset(subset) if subset else None
        with _bar(MofNCompleteColumn()) as bar:
            task = bar.add_task(f"scanning {folder}", total=None)
            result = scan_folder(folder, labels=spec, subset=chosen, workers=workers,
                                 progress=lambda n: bar.update(task, completed=n))
    except (LabelSpecError, ValueError) as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    save_manifest(result, out)
    counts = {"real": sum(1 for r in result.rows if int(r["label"]) == 0)}
    counts["ai"] = len(result.rows) - counts["real"]
    err.print(f"{out}: {len(result.rows)} images ({counts['real']} real, {counts['ai']} ai); "
              f"{len(result.errors)} failed to decode; {len(result.unlabelled)} matched no label")
    for e in result.errors[:10]:
        err.print(f"  failed: {e['path']}: {e['error']}")
    if not result.rows:
        raise typer.Exit(EXIT_DATA)


def _read(manifest: Path) -> list[Any]:
    from .data.manifest import ManifestError, read_manifest

    try:
        return read_manifest(manifest)
    except ManifestError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None


@data_app.command("split")
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
    from .data.metadata import write_manifest
    from .data.splits import split_by_group

    rows = _read(manifest)
    if rows and by != "folder" and by not in rows[0].fields:
        raise _fail(f"{manifest}: no column {by!r} to group by (columns: {', '.join(rows[0].fields)}; "
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
        raise _fail(f"--fractions {fractions!r}: {exc}", EXIT_USAGE) from None
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


@data_app.command()
def shard(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder of shards.")],
    max_samples: Annotated[int, typer.Option(min=1, help="Samples per shard.")] = 1000,
    max_mb: Annotated[int, typer.Option(min=1, help="Approximate size cap per shard, MB.")] = 1024,
    seed: Annotated[int | None, typer.Option(help="Shuffle seed; --no-shuffle keeps manifest order.")] = 0,
    shuffle: Annotated[bool, typer.Option("--shuffle/--no-shuffle")] = True,
) -> None:
    """Write webdataset tar shards (original bytes, label, metadata) for large runs."""
    from .data.shard import ShardError, write_shards

    rows = _read(manifest)
    with _bar(MofNCompleteColumn()) as bar:
        task = bar.add_task("sharding", total=len(rows))
        try:
            result = write_shards(rows, out, max_samples=max_samples, max_bytes=max_mb << 20,
                                  seed=seed if shuffle else None, progress=lambda n: bar.update(task, completed=n))
        except ShardError as exc:
            raise _fail(str(exc), EXIT_DATA) from None
    err.print(f"{out}: {result.samples} samples in {len(result.shards)} shards")


@data_app.command()
def gallery(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PNG sheets and index.html.")],
    per_group: Annotated[int, typer.Option(min=1, max=500, help="Images shown per group.")] = 24,
    by: Annotated[str | None, typer.Option(help="Group column or 'folder' (default: subset, else generator, "
                                                "else source).")] = None,
    columns: Annotated[int, typer.Option(min=1, max=20)] = 6,
) -> None:
    """Contact sheets (PNG) and a static HTML gallery per group, with label, generator and size."""
    from .data.gallery import build_gallery

    rows = _read(manifest)
    if not rows:
        raise _fail(f"{manifest}: no rows", EXIT_USAGE)
    with _bar(MofNCompleteColumn()) as bar:
        task = bar.add_task("gallery", total=None)
        result = build_gallery(rows, out, per_group=per_group, by=by, columns=columns,
                               progress=lambda name: bar.advance(task))
    names = [p.name for p in result.sheets.values()]
    shown = ", ".join(names[:8]) + (f", ... ({len(names) - 8} more)" if len(names) > 8 else "")
    err.print(f"{result.html}: {len(names)} groups, contact sheets in {out}: {shown}")
