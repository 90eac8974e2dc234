"""``sentry-image serve``: the REST API, demo page, leaderboard and questionnaire (the ``serve`` extra)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._common import extra_hint, fail


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: SQLite file sentry-image.db).")]
    = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name, folder or .onnx file.")]
    = None,
) -> None:
    """Run the web service: REST API, demo page, leaderboard and questionnaire (more settings: SENTRY_* vars)."""
    try:
        from ..serve.app import serve as run_service
        from ..serve.settings import Settings
    except ImportError as exc:
        raise fail(f"the service needs its extra: {extra_hint('serve', exc)}") from None
    from ..models.checkpoint import CheckpointError

    overrides: dict[str, Any] = {k: v for k, v in (("database_url", database_url), ("model", model)) if v is not None}
    try:
        run_service(Settings(**overrides), host=host, port=port)
    except CheckpointError as exc:  # checked before the server starts: one line, not a traceback in the lifespan
        raise fail(str(exc)) from None


__all__ = ["serve"]
