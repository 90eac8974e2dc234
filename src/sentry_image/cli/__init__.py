"""The ``sentry-image`` command line: Typer parses, the library works (one module per command group).

Command modules import their library code inside the commands, so ``sentry-image --help`` and ``detect`` never
pay for what other commands need (torch, Ray, FastAPI). Exit codes are :mod:`._common`'s.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Annotated

import typer

from ._common import EXIT_OK, EXIT_USAGE, err
from ._help import add_epilogs, epilog, install_help_style
from .calibrate import calibrate_cmd
from .compare import compare
from .data import data_app
from .detect import detect
from .evaluate import eval_cmd, leaderboard_cmd
from .importers import import_cmd
from .models import export_app, models
from .scale import score_batch
from .serve import serve
from .train import train_cmd

app = typer.Typer(
    name="sentry-image",
    help="Tell whether images are AI-generated: a calibrated detector plus provenance evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"sentry-image {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Tell whether images are AI-generated: a calibrated detector plus provenance evidence."""


install_help_style()
# in the order a user needs them: judge images first, then the models (Typer lists the data and export groups last)
app.command("detect", epilog=epilog("detect"))(detect)
app.command("models", epilog=epilog("models"))(models)
add_epilogs(data_app, "data")
add_epilogs(export_app, "export")
app.add_typer(data_app, name="data", epilog=epilog("data"))
app.command("train", epilog=epilog("train"))(train_cmd)
app.command("eval", epilog=epilog("eval"))(eval_cmd)
app.command("leaderboard", epilog=epilog("leaderboard"))(leaderboard_cmd)
app.command("calibrate", epilog=epilog("calibrate"))(calibrate_cmd)
app.command("compare", epilog=epilog("compare"))(compare)
app.command("import", epilog=epilog("import"))(import_cmd)
app.add_typer(export_app, name="export")
app.command("score-batch", epilog=epilog("score-batch"))(score_batch)
app.command("serve", epilog=epilog("serve"))(serve)


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
        err.print(f"error: {type(exc).__name__}: {exc}")
        sys.exit(EXIT_USAGE)


__all__ = ["app", "main"]
