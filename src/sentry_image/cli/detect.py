"""``sentry-image detect``: judge images and write one verdict per input as a table, JSON, JSON lines or CSV.

Exit codes: 0 every input got a verdict; 1 some inputs failed (each reported as a row and on stderr); 2 usage error.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._common import EXIT_OK, EXIT_SOME_FAILED, Backend, err, fail, progress


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


CSV_FIELDS = ["path", "ai_probability", "verdict", "threshold", "model", "decided_by", "signals", "format", "width",
              "height", "error_code", "error_message"]


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    image = row.get("image") or {}
    error = row.get("error") or {}
    return {
        "path": row["path"], "ai_probability": row["ai_probability"], "verdict": row["verdict"],
        "threshold": row["threshold"], "model": row["model"], "decided_by": row["decided_by"],
        "signals": "; ".join(f"{s['name']}:{s['hint']}:{s['strength']}" for s in row["signals"]),
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


def detect(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.", show_default=False)],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name, checkpoint folder or "
                                                                    ".onnx file.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, max=1024)] = 16,
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
) -> None:
    """Judge each image: probability it is AI-generated, verdict, and the evidence."""
    from ..detect import load_detector
    from ..imaging.inputs import iter_inputs
    from ..imaging.memory import limit_malloc_arenas
    from ..models.checkpoint import CheckpointError

    limit_malloc_arenas()  # before the decoding threads: keeps a long run's peak memory flat

    try:
        detector = load_detector(model, threshold=threshold, provenance=provenance, backend=str(backend))
    except (CheckpointError, ValueError) as exc:
        raise fail(str(exc)) from None
    writer = _Writer(fmt, sys.stdout)
    failed = 0
    show = sys.stderr.isatty() if show_progress is None else show_progress
    with progress(show) as bar:
        task = bar.add_task("scoring", total=None, failed=0)
        for verdict in detector.detect_many(iter_inputs(paths, recursive=recursive), batch_size=batch_size,
                                            workers=workers):
            row = verdict.to_dict()
            if row["error"] is not None:
                failed += 1
                if fmt is not OutputFormat.table:
                    err.print(f"[red]failed:[/red] {escape(row['path'])}: {row['error']['code']}: "
                              f"{escape(row['error']['message'])}", markup=True)
            writer.write(row)
            bar.update(task, advance=1, failed=failed)
    writer.close()
    if writer.count == 0:
        raise fail("no images found in the given paths (use --recursive for sub-folders)")
    if failed:
        err.print(f"{failed} of {writer.count} inputs failed.")
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


__all__ = ["OutputFormat", "detect"]
