"""``sentry-image eval`` (the MPBench protocol per subset x degradation) and ``sentry-image leaderboard``.

Both run on the inference core: the checkpoint is scored on onnxruntime when it has a graph. Exit codes: 0
success, 2 usage error (bad suite or benchmark key, missing data or model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import Backend, err, fail, log_to_console


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
) -> None:
    """Evaluate a checkpoint with the MPBench protocol per subset x degradation; write JSON, Markdown, HTML."""
    from ..config import ConfigError
    from ..evaluate.benchmark import BenchmarkConfig, load_benchmark
    from ..evaluate.protocol import evaluate_checkpoint
    from ..evaluate.report import write_report
    from ..evaluate.suites import load_suite
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
    log_to_console()
    try:
        report = evaluate_checkpoint(model, bench.spec, suite=chosen, split=bench.split, split_seed=bench.split_seed,
                                     subset_key=bench.subset_key, backend=str(backend), root=bench.root,
                                     real=bench.real or None)
    except (CheckpointError, ValueError) as exc:
        raise fail(str(exc)) from None
    paths = write_report(report, out)
    overall = report.results[report.conditions[0]]["all"]
    auc = f"{overall['auc']:.3f}" if "auc" in overall else "n/a (one class only)"
    err.print(f"{report.conditions[0]} AUC {auc}, accuracy {overall['accuracy']['overall']:.3f} on {overall['n']} "
              f"images; wrote {', '.join(str(p) for p in paths)}")


def leaderboard_cmd(
    reports: Annotated[list[Path], typer.Argument(help="report.json files written by eval.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for leaderboard.md and leaderboard.json.")]
    = Path("results"),
) -> None:
    """Regenerate the results table from evaluation reports (never edited by hand)."""
    from ..evaluate.report import write_leaderboard

    missing = [str(p) for p in reports if not p.is_file()]
    if missing:
        raise fail(f"no such report: {', '.join(missing)}")
    for path in write_leaderboard(reports, out):
        err.print(f"wrote {path}")


__all__ = ["eval_cmd", "leaderboard_cmd"]
