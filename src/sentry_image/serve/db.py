"""Engine, sessions and schema migrations (Alembic, shipped inside the package so ``pip install`` is enough)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


# Routes run on the server's worker threads (40 by default): a pool as large lets every busy thread hold a
# connection, so none waits out the pool timeout behind the others (that wait turned bursts into 500s).
WORKER_THREADS = 40


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = WORKER_THREADS - 5,
                pool_timeout: float = 30.0) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on and may be used from the server's worker threads."""
    parsed = make_url(url)
    pooling: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            pooling = {}  # an in-memory database lives in one connection (SQLAlchemy's SingletonThreadPool)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pooling)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # SQLite leaves foreign keys off per connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **pooling)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent: a no-op on an up-to-date database)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("database schema is at the newest revision (%s)", engine.url.get_backend_name())


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def iter_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session per request, closed (and rolled back if uncommitted) whatever happens."""
    with factory() as session:
        yield session
