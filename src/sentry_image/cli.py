"""The ``sentry-image`` command line: thin wrappers over the library.

Exit codes: 0 every input got a verdict; 1 some inputs failed (each reported); 2 usage error.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .cli_calibrate import calibrate_cmd
from .cli_data import data_app
from .cli_scale import Backend, export_app, score_batch
from .cli_train import eval_cmd, leaderboard_cmd, train_cmd

app = typer.Typer(
    name="sentry-image",
    help="Tell whether images are AI-generated: a calibrated detector plus provenance evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.command("train")(train_cmd)
app.command("eval")(eval_cmd)
app.command("leaderboard")(leaderboard_cmd)
app.command("calibrate")(calibrate_cmd)
app.add_typer(export_app, name="export")
app.command("score-batch")(score_batch)
err = Console(stderr=True)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


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


def _progress(enabled: bool) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[failed]} failed"), console=err, transient=True, disable=not enabled)


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(EXIT_USAGE)


@app.command()
def detect(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.", show_default=False)],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name or folder.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, max=1024)] = 16,
    threshold: Annotated[float | None, typer.Option("--threshold", "-t", min=0.0, max=1.0,
                                                   help="Override the stored threshold (no uncertain band).")] = None,
    provenance: Annotated[bool, typer.Option("--provenance/--no-provenance", help="Read C2PA/watermark/metadata.")]
    = True,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Decoding threads.")] = 2,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress",
                                                 help="Progress bar on stderr (default: when stderr is a terminal).")]
    = None,
    backend: Annotated[Backend, typer.Option(help="Inference runtime: torch, or onnx (onnxruntime on the CPU; "
                                                  "--model may then name a .onnx file).")] = Backend.torch,
) -> None:
    """Judge each image: probability it is AI-generated, verdict, and the evidence."""
    from .detect import load_detector
    from .inputs import iter_inputs
    from .models.checkpoint import CheckpointError

    try:
        detector = load_detector(model, threshold=threshold, provenance=provenance, backend=str(backend))
    except (CheckpointError, ValueError, ImportError) as exc:
        raise _usage_error(str(exc)) from None
    writer = _Writer(fmt, sys.stdout)
    failed = 0
    show = sys.stderr.isatty() if progress is None else progress
    with _progress(show) as bar:
        task = bar.add_task("scoring", total=None, failed=0)
        for verdict in detector.detect_many(iter_inputs(paths, recursive=recursive), batch_size=batch_size,
                                            workers=workers):
            row = verdict.to_dict()
            if row["error"] is not None:
                failed += 1
                if fmt is not OutputFormat.table:
                    err.print(f"[red]failed:[/red] {row['path']}: {row['error']['code']}: {row['error']['message']}",
                              highlight=False)
            writer.write(row)
            bar.update(task, advance=1, failed=failed)
    writer.close()
    if writer.count == 0:
        raise _usage_error("no images found in the given paths (use --recursive for sub-folders)")
    if failed:
        err.print(f"{failed} of {writer.count} inputs failed.")
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the registered detector architectures and the shipped checkpoints."""
    from .detect import resolve_model, shipped_checkpoints
    from .models import list_detectors, read_config
    from .models.registry import get_entry

    shipped = []
    for name in shipped_checkpoints():
        cfg = read_config(resolve_model(name))
        metrics = cfg.get("metrics", {})
        shipped.append({"name": name, "model": f"{cfg.get('name')}@{cfg.get('version')}",
                        "architecture": cfg["architecture"], "parameters": cfg.get("num_parameters"),
                        "threshold": cfg["calibration"].get("threshold"), "metrics": metrics})
    registry = [{"name": n, "family": get_entry(n).family, "description": get_entry(n).description}
                for n in list_detectors()]
    if as_json:
        typer.echo(json.dumps({"checkpoints": shipped, "architectures": registry}, indent=2))
        return
    out = Console()
    t = Table(title="Shipped checkpoints")
    for col in ("name", "model", "architecture", "parameters", "threshold", "test AUC"):
        t.add_column(col)
    for s in shipped:
        auc = _find_auc(s["metrics"])
        t.add_row(s["name"], s["model"], s["architecture"], f"{s['parameters']:,}" if s["parameters"] else "-",
                  f"{s['threshold']:.3f}", "-" if auc is None else f"{auc:.3f}")
    out.print(t)
    r = Table(title="Registered architectures")
    for col in ("name", "family", "description"):
        r.add_column(col)
    for e in registry:
        r.add_row(e["name"], e["family"], e["description"])
    out.print(r)


def _find_auc(metrics: Any) -> float | None:
    if isinstance(metrics, dict):
        for key in ("test", "source_held_out"):
            if isinstance(metrics.get(key), dict) and "auc" in metrics[key]:
                return float(metrics[key]["auc"])
        if "auc" in metrics:
            return float(metrics["auc"])
    return None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: SQLite file sentry-image.db).")]
    = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name or folder.")] = None,
) -> None:
    """Run the web service: REST API, demo page, leaderboard and questionnaire (more settings: SENTRY_* vars)."""
    try:
        from .serve.app import serve as run_service
        from .serve.settings import Settings
    except ImportError as exc:
        raise _usage_error(f"the service needs its extra: pip install 'sentry-image[serve]' ({exc.name})") from None
    overrides: dict[str, Any] = {k: v for k, v in (("database_url", database_url), ("model", model)) if v is not None}
    run_service(Settings(**overrides), host=host, port=port)


def main() -> None:
    """Console-script entry point: no traceback ever reaches the user."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Pillow warns about odd metadata (corrupt EXIF, large text chunks) on stderr; each file's real problems are
    # already reported as error rows, so these would only be noise between them.
    warnings.filterwarnings("ignore", module=r"PIL\..*")
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except Exception as exc:  # last resort: say what failed, in one line
        err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
