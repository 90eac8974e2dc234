"""The web service: REST API, demo page, leaderboard with hidden labels and the HPBench questionnaire.

``create_app(Settings(...))`` builds the FastAPI app (tests, ASGI servers); ``serve`` runs it with uvicorn
(``sentry-image serve``). Needs the ``serve`` extra.
"""

from .app import create_app, serve
from .settings import Settings

__all__ = ["Settings", "create_app", "serve"]
