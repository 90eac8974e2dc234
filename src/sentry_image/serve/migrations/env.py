"""Alembic environment: runs on the connection :func:`sentry_image.serve.db.migrate` hands over.

Run by hand with ``alembic -x url=sqlite:///sentry-image.db upgrade head`` from this folder's parent if needed.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sentry_image.serve.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database with: alembic -x url=... upgrade head")
    with create_engine(url).begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
