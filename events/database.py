"""Engines for the event store: SQLite (embedded default) and PostgreSQL (production).

SQLite settings, and why:

- `journal_mode=WAL`: readers (projections, the web page) never block the writer, nor it them.
- `synchronous=FULL`: in WAL mode the default NORMAL only syncs at checkpoints, so a commit
  already reported to a client can vanish after a power cut. The log is an audit record and an
  idempotency key promises "applied once, stays applied", so every commit syncs the WAL.
- `busy_timeout`: a writer waits for the lock instead of failing with "database is locked".
- `foreign_keys=ON`: SQLite ignores declared foreign keys unless asked.

Transactions: pysqlite's own transaction handling (legacy mode) begins a transaction only before
DML and always as a deferred `BEGIN`, so a write transaction that reads first could be refused
the write lock half-way (SQLITE_BUSY without waiting) and plain SELECTs would not be repeatable.
As SQLAlchemy's SQLite documentation recommends ("Using SQLAlchemy to emit BEGIN in lieu of
SQLite's transaction control"), pysqlite is put in autocommit (`isolation_level = None`) on
connect and the engine's `begin` event emits BEGIN itself: `BEGIN IMMEDIATE` (take the write
lock now, waiting up to busy_timeout) for write transactions, a deferred `BEGIN` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

#: Execution option that makes a connection's transactions write transactions.
WRITE_OPTION = "popcycle_write"

#: How long an SQLite writer waits for the lock before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str | URL) -> URL:
    """The URL with a driver we support: plain `postgresql://` (or `postgres://`) → psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **options: Any) -> Engine:
    """An engine for `url`, configured for the event store. `options` go to `create_engine`.

    SQLite (`sqlite:///path`) uses the pysqlite driver; PostgreSQL uses psycopg 3 whether the
    URL says `postgresql+psycopg://` or just `postgresql://`.
    """
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.get_driver_name() != "pysqlite":
            raise ValueError(f"unsupported SQLite driver {parsed.drivername!r}: use sqlite://")
        _ensure_sqlite_folder(parsed)
        engine = create_engine(parsed, **options)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ValueError(
                f"unsupported PostgreSQL driver {parsed.drivername!r}: use postgresql+psycopg://"
            )
        options.setdefault("connect_args", {}).setdefault("application_name", "popcycle")
        return create_engine(parsed, **options)
    raise ValueError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///FILE or postgresql://..."
    )


def _ensure_sqlite_folder(url: URL) -> None:
    """Create the folder of an SQLite file, so a fresh checkout's first `pop init` just works."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to the "begin" listener below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL may itself have to wait for a lock.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # Erasure destroys keys: deleted bytes must be overwritten, not left in free pages.
            cursor.execute("PRAGMA secure_delete = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def writer(engine: Engine) -> Engine:
    """A view of `engine` whose transactions are write transactions (BEGIN IMMEDIATE on SQLite).

    It shares the pool; make it once and keep it, creating one per call costs time.
    """
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it holds the write lock from its first statement.

    Taking the lock up front is what serialises writers on SQLite and spares them the
    "deferred transaction cannot be upgraded" failure. On PostgreSQL it is a plain transaction.
    """
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads (deferred `BEGIN` on SQLite: no lock until it reads)."""
    with engine.connect() as connection, connection.begin():
        yield connection
