"""Fixtures of the service tests: a tiny real checkpoint, a generated questionnaire pool, SQLite and a real
PostgreSQL cluster (skipped with a loud reason only when its server binaries are absent)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed: pip install -e '.[serve,dev]'")

from fastapi.testclient import TestClient

from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from tests.helpers.builders import tiny_checkpoint
from tests.helpers.serve_helpers import ADMIN, make_pool, postgres_bin, postgres_cluster


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def pool_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pool(tmp_path_factory.mktemp("pool"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("POSTGRESQL TESTS SKIPPED: no initdb/pg_ctl on this machine (apt-get install -y postgresql)")
    try:
        with postgres_cluster() as url:
            yield url
    except KeyError:
        pytest.skip("POSTGRESQL TESTS SKIPPED: running as root but there is no 'postgres' user to run the server")


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the throw-away cluster for one test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = pg_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{pg_server}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs twice: on a SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_settings(tiny_model: Path, pool_manifest: Path, tmp_path: Path) -> Callable[..., Settings]:
    def make(database_url: str | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model": str(tiny_model), "database_url": database_url or f"sqlite:///{tmp_path / 'service.db'}",
            "admin_token": ADMIN, "data_dir": tmp_path / "data", "survey_pool": pool_manifest, "survey_length": 8,
            # scored before the app answers, so that a test sees every score; the background mode has its own test
            "survey_scoring": "startup",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def client(make_settings: Callable[..., Settings], db_url: str) -> Iterator[TestClient]:
    """The app on the parametrised database (SQLite, then PostgreSQL)."""
    with TestClient(create_app(make_settings(db_url))) as c:
        yield c


@pytest.fixture
def sqlite_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """The app on a SQLite file, for tests whose subject is not the database."""
    with TestClient(create_app(make_settings())) as c:
        yield c
