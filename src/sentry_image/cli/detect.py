"""``sentry-image detect``: judge images and write one verdict per input as a table, JSON, JSON lines or CSV.

Exit codes: 0 every input got a verdict; 1 some inputs failed (each reported as a row and on stderr); 2 usage error.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..types import ImageError, Verdict
from ._common import EXIT_OK, EXIT_SOME_FAILED, Backend, err, fail, progress
from .names import printable_row


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


CSV_FIELDS = ["path", "ai_probability", "verdict", "threshold", "model", "decided_by", "signals", "evidence", "reasons",
              "format", "width", "height", "error_code", "error_message"]


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    image = row.get("image") or {}
    error = row.get("error") or {}
    return {
        "path": row["path"], "ai_probability": row["ai_probability"], "verdict": row["verdict"],
        "threshold": row["threshold"], "model": row["model"], "decided_by": row["decided_by"],
        "signals": "; ".join(f"{s['name']}:{s['hint']}:{s['strength']}" for s in row["signals"]),
        # the same order as `signals`; a spreadsheet user reads the evidence text, not just its tag, and the
        # sentences saying why the verdict is what it is (one per line inside the quoted cell)
        "evidence": "\n".join(f"{s['name']}: {s['evidence']}" for s in row["signals"]),
        "reasons": "\n".join(row.get("reasons") or []),
        "format": image.get("format"), "width": image.get("width"), "height": image.get("height"),
        "error_code": error.get("code"), "error_message": error.get("message"),
    }


class _Writer:
    """Streams verdict rows to ``out`` in the chosen format (the table is drawn at the end)."""

    def __init__(self, fmt: OutputFormat, out: TextIO) -> None:
        self.fmt, self.out, self.count = fmt, out, 0
        self.rows: list[dict[str, Any]] = []
        self.csv: csv.DictWriter[str] | None = None
        if fmt is OutputFormat.csv:
            self.csv = csv.DictWriter(out, fieldnames=CSV_FIELDS)
            self.csv.writeheader()
        elif fmt is OutputFormat.json:
            out.write("[")

    def write(self, row: dict[str, Any]) -> None:
        if self.fmt is OutputFormat.jsonl:
            self.out.write(json.dumps(row) + "\n")
            self.out.flush()
        elif self.fmt is OutputFormat.json:
            self.out.write(("\n  " if self.count == 0 else ",\n  ") + json.dumps(row))
        elif self.csv is not None:
            self.csv.writerow(_csv_row(row))
        else:
            self.rows.append(row)
        self.count += 1

    def close(self) -> None:
        if self.fmt is OutputFormat.json:
            self.out.write("\n]\n" if self.count else "]\n")
        elif self.fmt is OutputFormat.table:
            # Piped output has no terminal width: make it wide enough that no file name is folded.
            longest = max((len(r["path"]) for r in self.rows), default=0)
            width = None if self.out.isatty() else max(160, longest + 100)
            Console(file=self.out, width=width).print(_table(self.rows, fold_names=width is None))
        self.out.flush()


_STYLE = {"ai-generated": "bold red", "real": "bold green", "uncertain": "bold yellow"}


def _table(rows: list[dict[str, Any]], fold_names: bool = True) -> Table:
    table = Table(show_lines=False)
    longest = max((len(r["path"]) for r in rows), default=4)
    name_style: dict[str, Any] = {"overflow": "fold"} if fold_names else {"no_wrap": True, "min_width": longest}
    for col, kw in (("file", name_style), ("verdict", {}), ("P(AI)", {"justify": "right"}),
                    ("evidence", {"overflow": "fold"})):
        table.add_column(col, **kw)
    for row in rows:
        if row["error"]:
            table.add_row(row["path"], "[red]error[/red]", "-", f"{row['error']['code']}: {row['error']['message']}")
            continue
        prob = "-" if row["ai_probability"] is None else f"{row['ai_probability']:.3f}"
        evidence = [f"{s['name']} ({s['hint']}, {s['strength']}): {s['evidence']}" for s in row["signals"]
                    if s["strength"] != "info" or s["hint"] != "none"]
        if row["decided_by"] and row["decided_by"] != "model":
            evidence.insert(0, f"decided by {row['decided_by']}")
        verdict = row["verdict"]
        table.add_row(row["path"], f"[{_STYLE.get(verdict, '')}]{verdict}[/]", prob, "\n".join(evidence) or "-")
    return table


class _Maps:
    """Writes ``--explain`` maps: ``DIR/<stem>.explain.png`` per image with regions, ``<stem>-2...`` on a repeat."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.written, self.failed, self.without = folder, 0, 0, 0
        self.taken: set[str] = set()

    def _name(self, stem: str) -> str:
        # casefold: on a case-insensitive file system A.png and a.png would overwrite each other's map
        name, n = f"{stem}.explain.png", 1
        while name.casefold() in self.taken:
            n += 1
            name = f"{stem}-{n}.explain.png"
        self.taken.add(name.casefold())
        return name

    def write(self, verdict: Verdict) -> None:
        from ..explain import MAX_SIDE, save_overlay
        from ..imaging import Reduce, load_image

        if not verdict.regions:
            self.without += verdict.ok
            return
        source = Path(verdict.path)
        if "://" in verdict.path or not source.is_file():  # only local files can be re-read to draw on
            err.print(f"note: no map for {verdict.path}: only local files are drawn")
            return
        target = self.folder / self._name(source.stem)
        try:
            # A reduced JPEG decode is plenty for a picture at most MAX_SIDE wide; the boxes are scaled from the
            # displayed size the detector measured them in.
            decoded = load_image(source, reduce=Reduce(MAX_SIDE))
            save_overlay(decoded.rgb, verdict.regions, target, verdict.threshold,
                         size=(decoded.info.width, decoded.info.height))
            self.written += 1
        except Exception as exc:  # one picture's failure (unreadable now, disk full, a decoder bug) costs one map
            self.failed += 1
            reason = exc.message if isinstance(exc, ImageError) else str(exc)
            err.print(f"[red]error:[/red] could not write the map of {escape(verdict.path)} to {escape(str(target))}: "
                      f"{escape(reason)}", markup=True)

    def summary(self) -> str:
        line = f"{self.written} region {'map' if self.written == 1 else 'maps'} written to {self.folder}"
        if self.failed:
            line += f"; {self.failed} could not be written"
        if self.without:
            images = "image" if self.without == 1 else "images"
            line += f"; {self.without} scored {images} got no regions from this model"
        return line + "."


def detect(
    # str, not Path: Path("https://h/x") folds the "//" and the URL is lost; iter_sources makes paths of the rest.
    paths: Annotated[list[str], typer.Argument(help="Image files, folders or http(s) URLs.", show_default=False)],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name, checkpoint folder or "
                                                                    ".onnx file.")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", "-b", min=1, max=1024,
        help="Images scored per model call: larger is faster up to the cores' limit and uses more memory.")] = 16,
    threshold: Annotated[float | None, typer.Option("--threshold", "-t", min=0.0, max=1.0,
                                                   help="Override the stored threshold (no uncertain band).")] = None,
    provenance: Annotated[bool, typer.Option("--provenance/--no-provenance", help="Read C2PA/watermark/metadata.")]
    = True,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Decoding threads.")] = 2,
    show_progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal).")] = None,
    backend: Annotated[Backend, typer.Option(help="Inference runtime: auto (onnxruntime when the checkpoint has a "
                                                  "graph, as every shipped one does), onnx, or torch (train extra).")]
    = Backend.auto,
    explain: Annotated[Path | None, typer.Option(
        "--explain", metavar="DIR", file_okay=False,
        help="Also draw where the detector looked: for each scored image, DIR/<name>.explain.png shows the image "
             "in grey with each region the model scored tinted blue (looks real) to red (looks AI-generated), and "
             "the JSON rows carry the regions. DIR is created; a map that cannot be written is reported and makes the "
             "exit status 1. Example: --explain maps/")] = None,
) -> None:
    """Judge each image: probability it is AI-generated, verdict, and the evidence."""
    from ..detect import load_detector
    from ..imaging.inputs import iter_sources
    from ..imaging.memory import limit_malloc_arenas
    from ..models.checkpoint import CheckpointError

    limit_malloc_arenas()  # before the decoding threads: keeps a long run's peak memory flat

    maps = None
    if explain is not None:
        try:
            explain.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise fail(f"--explain: cannot create {explain}: {exc.strerror or exc}") from None
        maps = _Maps(explain)
    try:
        detector = load_detector(model, threshold=threshold, provenance=provenance, backend=str(backend),
                                 explain=maps is not None)
    except (CheckpointError, ValueError) as exc:
        raise fail(str(exc)) from None
    # Listed up front (cheap beside decoding): the bar gets a total and an ETA, and an empty listing is refused
    # before anything reaches stdout.
    sources = list(iter_sources(paths, recursive=recursive))
    if not sources:
        raise fail("no images found in the given paths (use --recursive for sub-folders)")
    writer = _Writer(fmt, sys.stdout)
    failed = 0
    verdicts: Counter[str] = Counter()
    started = time.perf_counter()
    show = sys.stderr.isatty() if show_progress is None else show_progress
    with progress(show) as bar:
        task = bar.add_task("scoring", total=len(sources), failed=0)
        for verdict in detector.detect_many(sources, batch_size=batch_size, workers=workers):
            row = printable_row(verdict.to_dict())
            verdicts[row["verdict"] or "failed"] += 1
            if row["error"] is not None:
                failed += 1
                if fmt is not OutputFormat.table:
                    err.print(f"[red]failed:[/red] {escape(row['path'])}: {row['error']['code']}: "
                              f"{escape(row['error']['message'])}", markup=True)
            writer.write(row)
            if maps is not None:
                maps.write(verdict)
            bar.update(task, advance=1, failed=failed)
    writer.close()
    seconds = time.perf_counter() - started
    if failed:
        err.print(f"{failed} of {writer.count} inputs failed.")
    counts = ", ".join(f"{verdicts[k]} {k}" for k in ("ai-generated", "real", "uncertain", "failed"))
    err.print(f"{writer.count} inputs in {seconds:.1f} s ({writer.count / max(seconds, 1e-9):.1f}/s): {counts}")
    if maps is not None:
        err.print(maps.summary())
    # a map that could not be written is output asked for and missing: it fails the run like a failed input
    raise typer.Exit(EXIT_SOME_FAILED if failed or (maps is not None and maps.failed) else EXIT_OK)


__all__ = ["OutputFormat", "detect"]
