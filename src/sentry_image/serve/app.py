"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan loads the detector once.

Startup order: database schema (Alembic) -> detector -> questionnaire pool table; the pool's images are scored by
the detector (once per model) on a background thread, so the service answers at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from ..detect import load_detector
from ..imaging.memory import limit_malloc_arenas
from ..models.checkpoint import resolve_model
from .db import make_engine, migrate, session_factory
from .errors import install_error_handlers
from .limits import BodyLimitMiddleware
from .questionnaire import score_items, sync_pool
from .ratelimit import Limits, SlidingWindow, ThrottleMiddleware
from .routes import detect, health, leaderboard, pages, survey
from .security import SecurityMiddleware
from .settings import Settings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
_SMALL_BODY = 1024 * 1024  # JSON bodies and page forms
_FORM_SLACK = 64 * 1024  # multipart boundaries and headers around the files


def _limits(settings: Settings) -> dict[str, int]:
    return {
        "/api/v1/detect": settings.max_files * settings.max_upload_bytes + _FORM_SLACK,
        "/": settings.max_upload_bytes + _FORM_SLACK,
        "/api/v1/leaderboard/benchmarks": settings.max_benchmark_bytes,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Nothing heavy happens here: the database and the model are opened in the lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        migrate(engine)
        app.state.sessions = session_factory(engine)
        # the health probe's own pool and threads: it answers even while every request thread waits on the database
        app.state.health_engine = make_engine(settings.database_url, pool_size=1, max_overflow=0, pool_timeout=1.0)
        app.state.health_limiter = anyio.CapacityLimiter(2)
        # explain: the demo page draws where the detector looked (the API's rows then carry the regions too)
        app.state.detector = load_detector(settings.model, max_bytes=settings.max_upload_bytes,
                                           max_pixels=settings.max_pixels, explain=True)
        app.state.detect_slots = asyncio.Semaphore(settings.detect_concurrency)
        log.info("detector %s loaded", app.state.detector.name)
        app.state.pool_scoring = None
        stop = threading.Event()
        if settings.survey_pool is not None:
            with app.state.sessions() as session:
                todo = sync_pool(session, settings.survey_pool, app.state.detector)
            score = partial(score_items, app.state.sessions, app.state.detector, todo, stop=stop)
            if settings.survey_scoring == "startup":
                score()
            elif todo:
                # Behind the start-up: people can take the questionnaire at once; an image without a score yet
                # simply counts in no detector figure until it has one.
                app.state.pool_scoring = threading.Thread(target=score, name="pool-scoring", daemon=True)
                app.state.pool_scoring.start()
        try:
            yield
        finally:
            stop.set()
            if app.state.pool_scoring is not None:
                app.state.pool_scoring.join(timeout=60)
            engine.dispose()
            app.state.health_engine.dispose()

    # FastAPIOffline serves Swagger UI and ReDoc from its own package: FastAPI's /docs loads them from a CDN, and
    # this service must work offline.
    app = FastAPIOffline(title="Sentry-Image", version="1", lifespan=lifespan,
                         description="Tell whether an image is AI-generated; leaderboard; HPBench questionnaire.")
    app.state.settings = settings
    install_error_handlers(app)
    limits = _limits(settings)

    def limit_for(path: str, method: str) -> int:
        if method == "POST" and (path.endswith("/submissions") or path == "/leaderboard/submit"):
            return settings.max_submission_bytes + _FORM_SLACK
        if method == "POST" and path in limits:
            return limits[path]
        return _SMALL_BODY

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    # The last added runs first: security headers wrap everything (429s and 413s included), then the rate limits,
    # which refuse a flood before its bodies are read.
    app.add_middleware(ThrottleMiddleware, limits=Limits(
        session_starts=SlidingWindow(settings.session_starts_per_hour, 3600.0),
        failed_tokens=SlidingWindow(settings.failed_tokens_per_minute, 60.0)))
    app.add_middleware(SecurityMiddleware)
    for router in (health.router, detect.router, leaderboard.router, survey.router, pages.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service with uvicorn until interrupted (``sentry-image serve``)."""
    import uvicorn

    resolve_model(settings.model)  # a missing checkpoint is one clear line here, not a traceback in the lifespan
    limit_malloc_arenas()
    # A server's own progress (migrations, pool scoring at start-up) belongs in its log, next to uvicorn's lines.
    logging.getLogger("sentry_image").setLevel(logging.INFO)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
