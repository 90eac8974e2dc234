"""``Annotated`` dependencies shared by the routers: settings, database session, detector, admin and team auth."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..detect import Detector
from .db import iter_session
from .errors import ApiError
from .settings import Settings
from .tables import Team


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    yield from iter_session(request.app.state.sessions)


def get_detector(request: Request) -> Detector:
    detector: Detector = request.app.state.detector
    return detector


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
DetectorDep = Annotated[Detector, Depends(get_detector)]


def check_admin(settings: Settings, token: str | None) -> None:
    """Raise unless ``token`` is the configured admin token (constant-time comparison)."""
    expected = settings.admin_secret()
    if expected is None:
        raise ApiError(403, "admin_disabled", "admin actions are disabled: start the server with SENTRY_ADMIN_TOKEN")
    if not token or not secrets.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "a valid X-Admin-Token header is required")


def require_admin(settings: SettingsDep,
                  x_admin_token: Annotated[str | None, Header(description="The admin token.")] = None) -> None:
    check_admin(settings, x_admin_token)


AdminDep = Annotated[None, Depends(require_admin)]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_team(session: Session, token: str | None) -> Team:
    """The team owning ``token``; tokens are stored only as SHA-256 digests."""
    team = session.scalar(select(Team).where(Team.token_sha256 == token_digest(token))) if token else None
    if team is None:
        raise ApiError(401, "unauthorized", "a valid X-Team-Token header is required (the admin gives it)")
    return team


def require_team(session: SessionDep,
                 x_team_token: Annotated[str | None, Header(description="Your team's token.")] = None) -> Team:
    return find_team(session, x_team_token)


TeamDep = Annotated[Team, Depends(require_team)]
