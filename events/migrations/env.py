"""Alembic environment of the event store.

`events.migrate.upgrade` hands over an open write transaction in `config.attributes["connection"]`
so the whole migration is one transaction under one lock; the alembic CLI gets a URL from
`sqlalchemy.url` or `POP_DATABASE_URL`. Logging is left alone (no `fileConfig`): the application
configures structlog and Alembic must not replace its handlers.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from events.database import make_engine, write_transaction
from events.schema import event_metadata

config = context.config
target_metadata = event_metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("POP_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url or POP_DATABASE_URL")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    shared = config.attributes.get("connection")
    if isinstance(shared, Connection):
        _run(shared)
        return
    engine = make_engine(_url())
    try:
        with write_transaction(engine) as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
