"""What every command shares: the stderr console, the exit codes of the CLI contract and the progress bars.

Exit codes: 0 every input got a verdict (or the command did its work); 1 some inputs failed or the data has a
problem, each reported; 2 usage error (bad option, missing file, unknown model, missing extra). Errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_DATA = EXIT_SOME_FAILED  # `data` commands: the data has a problem

# markup off: messages carry file names, whose brackets must print as they are; a styled line passes markup=True
# and escapes what it quotes
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


class Backend(StrEnum):
    """Inference runtime: ``auto`` runs onnxruntime when the checkpoint has a graph (every shipped one), else torch."""

    auto = "auto"
    onnx = "onnx"
    torch = "torch"


def table_console() -> Console:
    """A console on stdout for tables: piped output has no terminal width, so it gets 160 columns rather than
    having its tables squeezed into 80."""
    out = Console()
    return out if out.is_terminal else Console(width=160)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` as one error line on stderr and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", markup=True)
    return typer.Exit(code)


def extra_hint(extra: str, exc: ImportError) -> str:
    """The one-line fix for a missing optional dependency."""
    return f"pip install 'sentry-image[{extra}]' ({exc.name or exc} missing)"


class ConsoleLog(logging.Handler):
    """The library's records as plain lines on the console the bars draw on: Rich prints them above a live bar,
    where a raw write to stderr (the handler main() sets) would tear it."""

    def emit(self, record: logging.LogRecord) -> None:
        message, level = record.getMessage(), record.levelname.lower()
        said = record.levelno == logging.INFO or level in message.split(":", 1)[0].lower()  # "calibration warning: ..."
        err.print(message if said else f"{level}: {message}", markup=False, highlight=False)


@contextmanager
def console_log(level: int = logging.INFO) -> Iterator[None]:
    """While inside: the library's records from ``level`` up (per-epoch metrics, evaluation progress) go to the
    console through :class:`ConsoleLog`, and only there; the logger is left as it was afterwards."""
    logger = logging.getLogger("sentry_image")
    handler, old_level, propagate = ConsoleLog(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = propagate


class RateColumn(ProgressColumn):
    """Items per second (Rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f}/s")


def progress(enabled: bool, what: str = "scoring", *, failures: bool = True) -> Progress:
    """A transient bar on stderr: spinner, count, rate, elapsed and remaining time (when the total is known) and
    (``failures``) the running failure count."""
    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn(what), BarColumn(), MofNCompleteColumn(),
                                     RateColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    if failures:
        columns.append(TextColumn("{task.fields[failed]} failed"))
    return Progress(*columns, console=err, transient=True, disable=not enabled)


@contextmanager
def data_bar(*columns: Any, items: bool = True) -> Iterator[Progress]:
    """A bar of the ``data`` commands: kept after the work (a record of what was done), shown on a terminal or
    when ``SENTRY_PROGRESS`` is set. ``items``: the bar counts files (a files-per-second rate is added); byte bars
    bring their own transfer-speed column."""
    rate = [RateColumn()] if items else []
    with Progress(TextColumn("{task.description}"), BarColumn(), *columns, *rate, TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, transient=False,
                  disable=not err.is_terminal and not os.environ.get("SENTRY_PROGRESS")) as bar:
        yield bar


def rounded(value: Any, digits: int = 6) -> Any:
    """``value`` with every float rounded to ``digits`` places, through dicts and lists: metrics print as figures,
    not as the last bits of a float."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def took(start: float) -> str:
    """``"in 3.2 s"`` since ``start`` (a ``time.monotonic()`` reading), for the summary line a command ends with."""
    return f"in {time.monotonic() - start:.1f} s"


__all__ = ["EXIT_DATA", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "Backend", "ConsoleLog", "console_log", "data_bar",
           "err", "extra_hint", "fail", "progress", "rounded", "table_console", "took"]
