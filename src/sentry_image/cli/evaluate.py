"""``sentry-image eval`` (the MPBench protocol per subset x degradation) and ``sentry-image leaderboard``.

Both run on the inference core: the checkpoint is scored on onnxruntime when it has a graph. Exit codes: 0
success, 2 usage error (bad suite or benchmark key, missing data or model, a leaderboard that would be replaced
without ``--overwrite``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._common import EXIT_OK, EXIT_SOME_FAILED, Backend, console_log, err, fail, progress

if TYPE_CHECKING:
    from ..evaluate.protocol import EvalReport


def eval_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="Checkpoint folder or shipped checkpoint name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.json, report.md, report.html, plots.")],
    data: Annotated[str | None, typer.Option(
        "--data", help="Manifest CSV, folder with real/ and ai/, or published subset names (subsets:A,B or A,B; "
                       "read under --root, paired with --real).")] = None,
    benchmark: Annotated[Path | None, typer.Option(
        "--benchmark", help="Benchmark YAML (configs/benchmarks/): data, split, suite; the options here override "
                            "its fields.")] = None,
    suite: Annotated[str | None, typer.Option(
        "--suite", help="Degradation suite: clean, robustness, or a suite YAML file. Default: robustness.")] = None,
    split: Annotated[str | None, typer.Option(
        "--split", help="all, or a role of the source-grouped split (test). Default: all.")] = None,
    split_seed: Annotated[int | None, typer.Option(
        "--split-seed", help="Seed of the source-grouped split. Default: the seed recorded in the checkpoint.")] = None,
    subset_key: Annotated[str | None, typer.Option(
        "--subset-key", help="Row column naming the subset: family, generator or subset. Default: family.")] = None,
    root: Annotated[Path | None, typer.Option(
        "--root", help="Folder given to data fetch --to / data extract --root (for subset names).")] = None,
    real: Annotated[Path | None, typer.Option(
        "--real", help="Manifest or folder of real images to pair with subsets (the hub holds AI images only).")]
    = None,
    backend: Annotated[Backend, typer.Option(help="auto (onnxruntime when the checkpoint has a graph), onnx, or "
                                                  "torch; --model may be a .onnx file.")] = Backend.auto,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", min=0, max=100_000, help="Bootstrap replicates of the 95 % intervals on AUC, AP and accuracy "
                                                "(real and AI resampled separately, seed 0); 0 = no intervals.")]
    = 1000,
    min_per_class: Annotated[int, typer.Option(
        "--min-per-class", min=0, help="A subset with fewer real or AI images than this is marked 'n too small' "
                                       "and left out of the heatmaps.")] = 30,
    show_progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal).")] = None,
) -> None:
    """Evaluate a checkpoint with the MPBench protocol per subset x degradation; write JSON, Markdown, HTML."""
    from ..config import ConfigError
    from ..evaluate.benchmark import BenchmarkConfig, load_benchmark
    from ..evaluate.protocol import evaluate_checkpoint
    from ..evaluate.report import write_report
    from ..evaluate.suites import load_suite
    from ..evaluate.uncertainty import IntervalConfig
    from ..models.checkpoint import CheckpointError

    if data is None and benchmark is None:
        raise fail("give --data (manifest, folder or subset names) or --benchmark FILE")
    try:
        bench = load_benchmark(benchmark) if benchmark is not None else BenchmarkConfig(data=data or "")
    except ConfigError as exc:
        raise fail(f"--benchmark: {exc}") from None
    explicit = {"data": data, "suite": suite, "split": split, "split_seed": split_seed, "subset_key": subset_key,
                "root": None if root is None else str(root), "real": None if real is None else str(real)}
    for key, value in explicit.items():
        if value is not None:
            setattr(bench, key, value)
            if key == "data":
                bench.subsets = []  # --data replaces the benchmark's data, whichever way it named it
    try:
        chosen = load_suite(bench.suite)
    except ConfigError as exc:
        raise fail(f"--suite: {exc}") from None
    started = time.perf_counter()
    show = sys.stderr.isatty() if show_progress is None else show_progress
    with console_log(), progress(show) as bar:
        task = bar.add_task("scoring", total=None, failed=0)

        def advance(done: int, total: int, failed: int) -> None:
            bar.update(task, completed=done, total=total, failed=failed)

        try:
            report = evaluate_checkpoint(model, bench.spec, suite=chosen, split=bench.split,
                                         split_seed=bench.split_seed, subset_key=bench.subset_key,
                                         backend=str(backend), root=bench.root, real=bench.real or None,
                                         intervals=IntervalConfig(replicates=bootstrap, min_per_class=min_per_class),
                                         progress=advance)
        except (CheckpointError, ValueError) as exc:
            raise fail(str(exc)) from None
    write_report(report, out)
    err.print(summary_line(report, time.perf_counter() - started, out))
    # the CLI contract: a report is written either way, but images that could not be scored make the exit 1
    raise typer.Exit(EXIT_SOME_FAILED if report.data["skipped"] else EXIT_OK)


def summary_line(report: EvalReport, seconds: float, out: Path) -> str:
    """The one line ``eval`` ends with: counts, time, the headline figures with intervals, small subsets."""
    from ..evaluate.tables import note, reference, subset_order
    from ..evaluate.uncertainty import interval_text

    ref = reference(report)
    cell = report.results[ref]["all"]
    ci = cell.get("ci", {})
    scored, failed = report.data["n"], len(report.data["skipped"])
    subsets = [s for s in subset_order(report) if s != "all"]
    small = [s for s in subset_order(report) if note(report, report.results[ref][s])]
    auc = interval_text(cell["auc"], ci.get("auc")) if "auc" in cell else "n/a (one class only)"
    accuracy = interval_text(cell["accuracy"]["overall"], ci.get("accuracy"))
    n_cond = len(report.conditions)
    line = (f"{scored} images scored, {failed} failed" + (" (listed in report.json, data.skipped)" if failed else "")
            + f", {len(subsets)} subset{'s' * (len(subsets) != 1)} x {n_cond} condition{'s' * (n_cond != 1)} in "
            f"{seconds:.1f} s; {ref} AUC {auc}, accuracy {accuracy}")
    if small:
        line += f"; n too small (< {report.uncertainty.get('min_per_class')} per class): {', '.join(small)}"
    return line + f"; report in {out}"


def leaderboard_cmd(
    reports: Annotated[list[Path], typer.Argument(help="report.json files written by eval.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for leaderboard.md and leaderboard.json.")]
    = Path("results"),
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the leaderboard files already in --out (by default their rows are kept and "
                            "the command refuses).")] = False,
) -> None:
    """Regenerate the results table from evaluation reports (never edited by hand)."""
    from ..evaluate.leaderboard import existing_leaderboard, write_leaderboard

    missing = [str(p) for p in reports if not p.is_file()]
    if missing:
        raise fail(f"no such report: {', '.join(missing)}")
    there = existing_leaderboard(out)
    if there and not overwrite:
        given = f"these {len(reports)} reports" if len(reports) != 1 else "this one report"
        raise fail(f"{out} already holds {' and '.join(p.name for p in there)}: pass --overwrite to replace them with "
                   f"the rows of {given} only, or choose another --out")
    for path in write_leaderboard(reports, out):
        err.print(f"wrote {path}")


__all__ = ["eval_cmd", "leaderboard_cmd"]
