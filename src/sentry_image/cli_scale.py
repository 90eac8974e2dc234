"""``sentry-image export onnx`` and ``sentry-image score-batch``: thin wrappers over :mod:`sentry_image.scale`.

The heavy imports (onnx, onnxruntime, ray) happen inside the commands, so the rest of the CLI starts without them
and a missing ``scale`` extra is a one-line usage error rather than a traceback.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

export_app = typer.Typer(help="Export a detector to another runtime.", no_args_is_help=True)
err = Console(stderr=True)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
_EXTRA_HINT = "pip install 'sentry-image[scale]'"
PARITY_TOLERANCE = 1e-4  # on calibrated probabilities: what the README promises for the ONNX backend


class Backend(StrEnum):
    torch = "torch"
    onnx = "onnx"


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(EXIT_USAGE)


@export_app.command("onnx")
def export_onnx_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name or folder.")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Write the INT8 dynamically quantised graph: 4x smaller, but "
                                                      "not faster on CPU and far off torch (README).")] = False,
    opset: Annotated[int, typer.Option(min=13, max=21, help="ONNX opset.")] = 17,
) -> None:
    """Export a checkpoint to ONNX (dynamic batch; preprocessing and calibration stored in the file)."""
    try:
        from .models.checkpoint import CheckpointError
        from .scale.onnx_export import ExportError, export_onnx
    except ImportError as exc:
        raise _usage_error(f"ONNX export needs the scale extra: {_EXTRA_HINT} ({exc.name} missing)") from None
    try:
        report = export_onnx(model, out, opset=opset, int8=int8)
    except (CheckpointError, ExportError, ValueError) as exc:
        raise _usage_error(str(exc)) from None
    err.print(f"wrote {report.path} ({report.size_bytes / 1e6:.1f} MB, {report.model}); max |p_onnx - p_torch| = "
              f"{report.max_prob_diff:.2e} on a check batch", highlight=False)
    if report.max_prob_diff > PARITY_TOLERANCE:
        err.print(f"[yellow]warning:[/yellow] probabilities differ from torch by more than {PARITY_TOLERANCE:g}"
                  + (" (INT8 trades accuracy for size)" if int8 else ""), highlight=False)


def score_batch(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="A folder of images, a manifest CSV, or a "
                                                                     "folder (or file) of webdataset .tar shards.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output Parquet dataset folder (resumed if it exists).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Checkpoint name or folder, or a .onnx file "
                                                                    "with --backend onnx.")] = None,
    backend: Annotated[Backend, typer.Option(help="Inference runtime in each worker.")] = Backend.torch,
    address: Annotated[str | None, typer.Option(help="Ray cluster: 'auto', 'ray://host:10001' or host:port; "
                                                     "default: start a local Ray.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=4096, help="Scoring actors (each loads the model once).")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, max=4096,
                                            help="Images per batch: the unit written (and lost on a kill).")] = 64,
    threads: Annotated[int, typer.Option(min=1, max=256, help="Inference threads per actor.")] = 1,
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", "-r",
                                            help="Descend into sub-folders of a folder INPUT.")] = True,
    provenance: Annotated[bool, typer.Option("--provenance/--no-provenance", help="Read C2PA/watermark/metadata.")]
    = True,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress",
                                                 help="Progress bar on stderr (default: when stderr is a terminal).")]
    = None,
) -> None:
    """Score a large image set on Ray into a Parquet dataset: one row per image, errors as rows, resumable."""
    import sys

    from .scale.batch_inputs import ScaleError

    try:
        from .scale.ray_batch import ScoreOptions, score_batch_run
    except ImportError as exc:
        raise _usage_error(f"score-batch needs the scale extra: {_EXTRA_HINT} ({exc.name} missing)") from None
    options = ScoreOptions(model=model, backend=str(backend), address=address, workers=workers,
                           batch_size=batch_size, threads=threads, recursive=recursive, provenance=provenance)
    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress(SpinnerColumn(), TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[failed]} failed"), console=err, disable=not show)
    with bar:
        task = bar.add_task("scoring", total=None, failed=0)

        def on_progress(done: int, total: int | None, failed: int) -> None:
            bar.update(task, completed=done, total=total, failed=failed)

        try:
            summary = score_batch_run(input_path, out, options, on_progress=on_progress)
        except ScaleError as exc:
            raise _usage_error(str(exc)) from None
    err.print(f"{summary.scored} scored this run ({summary.skipped} were already in {out}) in {summary.seconds:.1f} s "
              f"({summary.images_per_second:.1f} images/s); {out} holds {summary.total_rows} rows, "
              f"{summary.failed} of them errors", highlight=False)
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)
