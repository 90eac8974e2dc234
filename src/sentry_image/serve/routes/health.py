"""Liveness and the loaded model: ``GET /api/v1/health``, ``GET /api/v1/models``."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
from fastapi import APIRouter, Request
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ...models.checkpoint import shipped_checkpoints
from ..deps import DetectorDep

router = APIRouter(prefix="/api/v1", tags=["health"])
log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("sentry-image")
    except PackageNotFoundError:  # running from a source tree without an install
        return "unknown"


def _ping(engine: Engine) -> str:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as exc:
        log.warning("database check failed: %s", type(exc).__name__)
        return "unavailable"


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """``status`` is ``ok`` when the model is loaded and the database answers.

    A probe must not queue behind the traffic it is meant to watch: no dependency here runs on the shared worker
    threads, and the database check has its own thread limiter and a one-connection pool with a short timeout
    (a busy database reads ``unavailable`` after about a second instead of hanging the probe)."""
    state = request.app.state
    database = await anyio.to_thread.run_sync(_ping, state.health_engine, limiter=state.health_limiter)
    return {"status": "ok" if database == "ok" else "degraded", "model": state.detector.name, "database": database,
            "version": _version()}


@router.get("/models")
def models(detector: DetectorDep) -> dict[str, Any]:
    """The detector this server uses (its threshold and uncertain band) and the checkpoints shipped with it."""
    low, high = detector.band
    return {"loaded": {"model": detector.name, "architecture": detector.config.get("architecture"),
                       "threshold": detector.threshold, "uncertain_band": [low, high],
                       "provenance": detector.provenance},
            "shipped_checkpoints": shipped_checkpoints()}
