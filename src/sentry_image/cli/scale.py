"""``sentry-image score-batch``: score a large image set on Ray into a resumable Parquet dataset (``scale`` extra).

Ray and pyarrow are imported when the command runs (a missing ``scale`` extra is one line naming it), so the rest
of the CLI starts without them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ._common import EXIT_OK, EXIT_SOME_FAILED, Backend, err, extra_hint, fail, progress


def score_batch(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="A folder of images, a manifest CSV, or a "
                                                                     "folder (or file) of webdataset .tar shards.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output Parquet dataset folder (resumed if it exists).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Checkpoint name or folder, or a .onnx file "
                                                                    "with --backend onnx.")] = None,
    backend: Annotated[Backend, typer.Option(help="Inference runtime in each worker (auto: onnxruntime when the "
                                                  "checkpoint has a graph).")] = Backend.auto,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join: 'auto', host:port or 'ray://host:10001' "
                                                     "(a cluster with token authentication also needs "
                                                     "RAY_AUTH_MODE=token and its token); default: start a "
                                                     "local Ray, stopped with the run.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=4096, help="Scoring actors (each loads the model once).")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, max=4096,
                                            help="Images per batch: the unit written (and lost on a kill).")] = 64,
    threads: Annotated[int, typer.Option(min=1, max=256, help="Inference threads per actor.")] = 1,
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", "-r",
                                            help="Descend into sub-folders of a folder INPUT.")] = True,
    provenance: Annotated[bool, typer.Option("--provenance/--no-provenance", help="Read C2PA/watermark/metadata.")]
    = True,
    show_progress: Annotated[bool | None, typer.Option("--progress/--no-progress",
                                                 help="Progress bar on stderr (default: when stderr is a terminal).")]
    = None,
) -> None:
    """Score a large image set on Ray into a Parquet dataset: one row per image, errors as rows, resumable."""
    from ..scale.batch_inputs import ScaleError

    try:
        from ..scale.ray_batch import ScoreOptions, score_batch_run
    except ImportError as exc:
        raise fail(f"score-batch needs Ray Data and pyarrow: {extra_hint('scale', exc)}") from None

    options = ScoreOptions(model=model, backend=str(backend), address=address, workers=workers,
                           batch_size=batch_size, threads=threads, recursive=recursive, provenance=provenance)
    show = sys.stderr.isatty() if show_progress is None else show_progress
    with progress(show) as bar:
        task = bar.add_task("scoring", total=None, failed=0)

        def on_progress(done: int, total: int | None, failed: int) -> None:
            bar.update(task, completed=done, total=total, failed=failed)

        try:
            summary = score_batch_run(input_path, out, options, on_progress=on_progress)
        except ScaleError as exc:
            raise fail(str(exc)) from None
    err.print(f"{summary.scored} scored this run ({summary.skipped} were already in {out}) in {summary.seconds:.1f} s "
              f"({summary.images_per_second:.1f} images/s); {out} holds {summary.total_rows} rows, "
              f"{summary.failed} of them errors")
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)


__all__ = ["score_batch"]
