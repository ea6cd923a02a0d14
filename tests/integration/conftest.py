"""Fixtures for integration tests: a real PostgreSQL server (one per session), real SQLite files.

`store` runs a test once per implementation: in memory, SQLite, PostgreSQL. The PostgreSQL
server starts only when a selected test needs it (`-m "not postgres"` skips it entirely).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from sqlalchemy import Engine, delete, insert

from events.database import make_engine, write_transaction
from events.domain import Reason
from events.keyring import InMemoryKeyRing
from events.memory import InMemoryEventStore
from events.migrate import upgrade
from events.schema import (
    INITIAL_HEAD,
    events_table,
    idempotency_keys_table,
    log_head_table,
    streams_table,
)
from events.sqlstore import SqlEventStore
from events.store import EventStore
from handlers.actor import Actor, Role
from handlers.commands import CommandHandler
from handlers.repository import Repository
from tests.support.clock import FakeClock
from tests.support.postgres import running_postgres
from tests.support.redis import running_redis
from tests.support.workers import Processes
from workflow.employee import RegisterEmployee

if TYPE_CHECKING:  # importing handlers.workers sets dramatiq's global broker: only where used
    from handlers.workers import RunningWorker

HR = Actor("hr", Role.HR)
SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ALL_KINDS = ["memory", *SQL_KINDS]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An SQLAlchemy URL of a fresh, empty database on a throwaway PostgreSQL 15 server."""
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on the session's PostgreSQL database, schema migrated to head."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url, pool_size=12, max_overflow=8)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_postgres_engine(postgres_engine: Engine) -> Engine:
    """The session's PostgreSQL engine, its event-store tables wiped (cheaper than a new DB)."""
    with write_transaction(postgres_engine) as connection:
        for table in (events_table, streams_table, idempotency_keys_table, log_head_table):
            connection.execute(delete(table))
        connection.execute(insert(log_head_table).values(**INITIAL_HEAD))
    return postgres_engine


@pytest.fixture
def clock() -> FakeClock:
    # Ticks by an odd amount so stored times carry microseconds and every event differs.
    return FakeClock(tick=timedelta(seconds=1, microseconds=1234))


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a new SQLite file, schema migrated to head."""
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(params=SQL_KINDS)
def sql_store(request: pytest.FixtureRequest, clock: FakeClock) -> SqlEventStore:
    """An empty SqlEventStore on SQLite, then on PostgreSQL."""
    return SqlEventStore(_engine_for(request, request.param), clock)


@pytest.fixture(params=ALL_KINDS)
def store(request: pytest.FixtureRequest, clock: FakeClock) -> EventStore:
    """An empty event store: in memory, on SQLite, on PostgreSQL."""
    if request.param == "memory":
        return InMemoryEventStore(clock)
    return SqlEventStore(_engine_for(request, request.param), clock)


def _engine_for(request: pytest.FixtureRequest, kind: str) -> Engine:
    """Fixtures looked up by name, so PostgreSQL starts only if a postgres case runs."""
    name = "sqlite_engine" if kind == "sqlite" else "empty_postgres_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """Our own redis-server (see tests/support/redis.py), one per test module that asks."""
    with running_redis() as url:
        yield url


@pytest.fixture
def flushed_redis(redis_url: str) -> str:
    """The module's Redis, emptied between tests."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    return redis_url


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Worker processes the test starts; stopped and reaped when it ends."""
    running = Processes(tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
def started() -> Iterator[list[RunningWorker]]:
    """In-process workers the test starts; stopped when it ends."""
    running: list[RunningWorker] = []
    yield running
    for worker in running:
        worker.stop()


@pytest.fixture
def two_processes() -> tuple[CommandHandler, CommandHandler, FakeClock, str]:
    """Two command handlers on one in-memory log, as two processes would be, and a cycle."""
    clock = FakeClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    repository = Repository(InMemoryEventStore(clock), InMemoryKeyRing())
    first, second = CommandHandler(repository, clock), CommandHandler(repository, clock)
    first.register_employee(HR, RegisterEmployee("M1", "M", "m@example.nl"))
    first.register_employee(HR, RegisterEmployee("E1", "E", "e@example.nl", "M1"))
    cycle = first.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
    assert cycle is not None
    return first, second, clock, cycle
