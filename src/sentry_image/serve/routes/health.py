"""Liveness and the loaded model: ``GET /api/v1/health``, ``GET /api/v1/models``."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ...models.checkpoint import shipped_checkpoints
from ..deps import DetectorDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["health"])
log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("sentry-image")
    except PackageNotFoundError:  # running from a source tree without an install
        return "unknown"


@router.get("/health")
def health(detector: DetectorDep, session: SessionDep) -> dict[str, Any]:
    """``status`` is ``ok`` when the model is loaded and the database answers."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        log.warning("database check failed: %s", type(exc).__name__)
        database = "unavailable"
    return {"status": "ok" if database == "ok" else "degraded", "model": detector.name, "database": database,
            "version": _version()}


@router.get("/models")
def models(detector: DetectorDep) -> dict[str, Any]:
    """The detector this server uses (its threshold and uncertain band) and the checkpoints shipped with it."""
    low, high = detector.band
    return {"loaded": {"model": detector.name, "architecture": detector.config.get("architecture"),
                       "threshold": detector.threshold, "uncertain_band": [low, high],
                       "provenance": detector.provenance},
            "shipped_checkpoints": shipped_checkpoints()}
