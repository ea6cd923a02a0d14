"""Create or migrate the event store's schema to the newest revision (what `pop init` runs).

The whole upgrade runs in one write transaction (both SQLite and PostgreSQL have transactional
DDL), so a failed migration leaves the schema as it was. Concurrent runs are serialised: SQLite's
`BEGIN IMMEDIATE` does it, on PostgreSQL a transaction-level advisory lock does; the second run
then finds the schema at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from events.database import make_engine, read_transaction, write_transaction

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Arbitrary but fixed key of the advisory lock that serialises migrations on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x706F7063_7963_6C65 & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config() -> Config:
    """Alembic's configuration, pointing at the migrations shipped inside this package."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(url: str | URL) -> None:
    """Bring the database at `url` to the newest schema; a no-op when it is already there."""
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> None:
    """`upgrade` for an engine the caller already has."""
    config = alembic_config()
    with write_transaction(engine) as connection:
        _lock(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    with read_transaction(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this code ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
