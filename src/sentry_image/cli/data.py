"""``sentry-image data ...``: get, check, describe and package datasets. Thin wrappers over ``sentry_image.data``.

Exit codes: 0 done; 1 the data has a problem (verify found one, a part is corrupt, a download failed);
2 usage error (unknown subset, missing path, bad option). Errors are one line on stderr, never a traceback.
Progress bars go to stderr when it is a terminal (or when ``SENTRY_PROGRESS`` is set).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from ._common import EXIT_DATA, EXIT_USAGE, data_bar, err, fail, table_console, took
from .data_tables import WorkersOpt, gallery, scan, shard, split_cmd

data_app = typer.Typer(name="data", help="Fetch, extract, verify, scan, split, shard and look at datasets.",
                       no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

SubsetOpt = Annotated[list[str] | None, typer.Option("--subset", "-s", help="Subset name (repeatable).")]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Every subset of a split: train or val.")]


def _subsets(names: list[str] | None, split: str | None) -> list[Any]:
    from ..data.subsets import select_subsets

    try:
        return select_subsets(names or (), split)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


@data_app.command()
def subsets(split: SplitOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the published Fake2M (train) and MPBench (val) subsets: generator, size, paths, label rules."""
    from ..data.subsets import SUBSETS

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
    out = table_console()
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
    from ..data.hub import FetchError, RemoteFile
    from ..data.hub import fetch as do_fetch

    chosen = _subsets(subset, split)
    start = time.monotonic()
    with data_bar(DownloadColumn(), TransferSpeedColumn(), items=False) as bar:
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
            raise fail(str(exc), EXIT_DATA) from None
    err.print(f"{repo_id}@{result.commit[:12]}: {len(result.downloaded)} files downloaded "
              f"({result.bytes_downloaded:,} bytes transferred), {len(result.present)} already present, in {to} "
              f"({took(start).removeprefix('in ')})")


def _archive_jobs(path: Path | None, subset: list[str] | None, split: str | None, root: Path,
                  out: Path | None) -> list[tuple[str, Path, Path, str | None]]:
    if path is not None:
        if subset or split:
            raise fail("give either PATH or --subset/--split, not both", EXIT_USAGE)
        if out is None:
            raise fail("--out is required with PATH", EXIT_USAGE)
        return [(path.name, path, out, None)]
    if not subset and not split:
        raise fail("give PATH, --subset NAME or --split val|train", EXIT_USAGE)
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
        raise fail(f"none of the subsets of this split is {what} under {where(chosen[0]).parents[1]}", EXIT_USAGE)
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
    from ..data.archive import ArchiveError
    from ..data.archive import extract as do_extract

    for name, parts, target, archive in _archive_jobs(path, subset, split, root, out):
        if not parts.exists():
            hint = "" if archive is None else " (fetch it first, or pass --root)"
            raise fail(f"{parts}: not found{hint}", EXIT_USAGE)
        start = time.monotonic()
        with data_bar(DownloadColumn(), TransferSpeedColumn(), TextColumn("{task.fields[files]} files"),
                      items=False) as bar:
            task = bar.add_task(f"extracting {name}", total=None, files=0)

            def progress(read: int, total: int, files: int, task: Any = task, bar: Progress = bar) -> None:
                bar.update(task, completed=read, total=total, files=files)

            try:
                r = do_extract(parts, target, name=archive, overwrite=overwrite, progress=progress)
            except ArchiveError as exc:
                raise fail(str(exc), EXIT_DATA) from None
        err.print(f"{name}: {r.written} files written, {r.skipped} already extracted, {r.adopted} identical "
                  f"files adopted{f', {len(r.ignored)} special members ignored' if r.ignored else ''} -> {target} "
                  f"{took(start)}")


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
    from ..data.verify import summarise, verify_manifest, verify_subset

    reports = []
    start = time.monotonic()
    with data_bar(MofNCompleteColumn()) as bar:
        def progress_for(name: str) -> Callable[[int, int], None]:
            task = bar.add_task(f"verifying {name}", total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        if manifest is not None:
            if subset or split:
                raise fail("give either --manifest or --subset/--split", EXIT_USAGE)
            if not manifest.is_file():
                raise fail(f"{manifest}: no such manifest", EXIT_USAGE)
            reports.append(verify_manifest(manifest, workers=workers, progress=progress_for(manifest.name)))
        else:
            chosen = _present(_subsets(subset, split), lambda s: images or root / "extracted" / s.split / s.name,
                              bool(subset) or images is not None, "extracted")
            if images is not None and len(chosen) != 1:
                raise fail("--images needs exactly one --subset", EXIT_USAGE)
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
        err.print(f"{escape(r.kind)}: {status}: {r.decoded}/{r.images} images decode ({took(start)})", markup=True)
        for line in r.problems():
            err.print(f"  {line}")
        for note in r.notes:
            err.print(f"  note: {note}")
    raise typer.Exit(0 if summary["ok"] else EXIT_DATA)


data_app.command()(scan)
data_app.command("split")(split_cmd)
data_app.command()(shard)
data_app.command()(gallery)

__all__ = ["data_app"]
