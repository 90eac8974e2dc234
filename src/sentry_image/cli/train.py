"""``sentry-image train``: train a detector from a config (the ``train`` extra: torch, timm).

Exit codes follow the CLI contract: 0 success, 2 usage error (bad config key or type, missing data, an ``out``
folder that is not free, missing extra). Under ``torchrun`` or ``--nproc-per-node`` only rank 0 prints errors and
the summary: the other ranks would repeat them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ._common import EXIT_USAGE, RateColumn, console_log, err, extra_hint, fail

if TYPE_CHECKING:
    from ..train.config import TrainConfig

HEARTBEAT_S = 60.0  # without a terminal, a long stage says how far it got at most this often


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _fail(message: str) -> typer.Exit:
    """One error line, on rank 0 only (every rank meets the same error; N copies of it help nobody)."""
    return fail(message) if _rank() == 0 else typer.Exit(EXIT_USAGE)


class _Feedback:
    """Where a run is, on stderr: one Rich bar (stage, count, rate, elapsed, remaining) on a terminal; else, for a
    long stage, a line at most every :data:`HEARTBEAT_S` seconds, so a log never sits silent for minutes."""

    def __init__(self, bar: Progress | None) -> None:
        self.bar, self.stage_name = bar, ""
        self.task: TaskID | None = None
        self.started = self.last_line = time.monotonic()

    def announce(self, line: str) -> None:
        err.print(line)
        self.last_line = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self.stage_name:
            self.stage_name, self.started = stage, now
            if self.bar is not None:  # a task per stage: Rich cannot turn a known total back into an unknown one
                if self.task is not None:
                    self.bar.remove_task(self.task)
                self.task = self.bar.add_task(stage, total=total or None)
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total or None)
        elif total and now - self.last_line >= HEARTBEAT_S:
            rate = done / max(now - self.started, 1e-9)
            left = f", about {_duration((total - done) / rate)} left" if rate > 0 and done < total else ""
            err.print(f"{stage}: {done:,}/{total:,} ({rate:.1f}/s{left})")
            self.last_line = now


def _duration(seconds: float) -> str:
    from ..train.feedback import duration

    return duration(seconds)


@contextmanager
def _feedback() -> Iterator[_Feedback]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with console_log(logging.INFO if _rank() == 0 else logging.WARNING):  # every rank logs the same epochs
        if err.is_terminal and _rank() == 0:
            with Progress(*columns, console=err, transient=True) as bar:
                yield _Feedback(bar)
        else:
            yield _Feedback(None)


def train_cmd(
    config: Annotated[Path | None, typer.Argument(help="YAML config (configs/train/*.yaml); omit for defaults.")]
    = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides, e.g. optim.epochs=3",
                                                          show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Train again from scratch into an `out` folder that already holds a checkpoint (or "
                            "other files); without it such a folder is refused. An unfinished run resumes anyway.")]
    = False,
    nproc_per_node: Annotated[int, typer.Option(
        "--nproc-per-node", min=1, max=512, help="Train in N processes on this machine (DDP: gloo on CPUs, NCCL "
                                                 "on GPUs) sharing the global optim.batch_size.")] = 1,
) -> None:
    """Train a detector from a config (defaults < YAML < key=value); writes a checkpoint folder into ``out``.

    ``out`` must be new or empty; a folder holding a run killed mid-way resumes it; anything else needs
    ``--overwrite``. A config with ``kind: fusion`` (configs/train/default.yaml: the shipped default) trains two
    branches over source-grouped folds and fits their stacker and calibration on out-of-fold scores.

    Several machines: ``torchrun --nnodes N ... -m sentry_image.cli train CONFIG`` (the processes share the global
    ``optim.batch_size``).
    """
    from ..config import ConfigError
    from ..data.manifest import ManifestError
    from ..data.sources import SourceError
    from ..train.config import load_config
    from ..train.fusion_config import is_fusion, load_fusion_config
    from ..train.outdir import out_mode

    try:
        from ..train.feedback import summary_line
        from ..train.fusion import train_fusion
        from ..train.run import train
    except ImportError as exc:
        raise _fail(f"training needs torch: {extra_hint('train', exc)}") from None

    if config is not None and "=" in str(config) and not config.exists():
        overrides, config = [str(config), *(overrides or [])], None  # only overrides were given
    fusion_run = is_fusion(config)
    try:
        if fusion_run:
            fusion = load_fusion_config(config, overrides or [])
            out, resumable = fusion.out, False
        else:
            cfg = load_config(config, overrides or [])
            out, resumable = cfg.out, cfg.resume
        # rank 0 alone judges the folder: the others would see the files it starts writing
        if _rank() == 0:
            out_mode(out, overwrite=overwrite, resumable=resumable)
        if fusion_run and nproc_per_node > 1:
            raise ConfigError("--nproc-per-node: a fusion config trains in one process")
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if nproc_per_node > 1:
        _launch(cfg, [*([str(config)] if config else []), *(overrides or []), *(["--overwrite"] if overwrite
                                                                                 else [])], nproc_per_node)
    t0 = time.perf_counter()
    with _feedback() as feedback:
        try:
            if fusion_run:
                path = train_fusion(fusion, progress=feedback, announce=feedback.announce)
            else:
                if overwrite:  # from scratch on every rank: neither the old state nor its cached features
                    cfg.resume = False
                path = train(cfg, progress=feedback, announce=feedback.announce)
        # ConfigError and the readers' errors come before any work; ValueError is data the run cannot use (no
        # image decodes, a batch size the processes cannot share)
        except (ConfigError, SourceError, ManifestError, ValueError) as exc:
            raise _fail(str(exc)) from None
    if _rank() == 0:
        err.print(summary_line(path, time.perf_counter() - t0))


def _launch(cfg: TrainConfig, args: list[str], nproc: int) -> None:
    """Check the data once here, so that a problem is one line before any process starts; then run ``nproc``."""
    from ..config import ConfigError
    from ..train.data import load_training_data
    from ..train.launch import launch

    try:
        load_training_data(cfg.data, cfg.seed, calibrate=cfg.calibration.enabled)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(launch(args, nproc))


__all__ = ["train_cmd"]
