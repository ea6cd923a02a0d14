"""The event-store contract: one suite, run against the in-memory, SQLite and PostgreSQL stores.

Whatever the in-memory reference store does, the SQL stores must do too, down to the hashes.
The last part checks what only the SQL stores have: the migrated schema, the engine settings.
"""

from __future__ import annotations

import importlib
import sqlite3
import tempfile
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import pq
from sqlalchemy import Engine, update
from sqlalchemy.event import listen as event_listen
from sqlalchemy.event import remove as event_remove

from events.database import make_engine, read_transaction, write_transaction
from events.errors import ConcurrencyConflict, IdempotencyKeyReused
from events.hashing import GENESIS, event_hash
from events.memory import InMemoryEventStore
from events.migrate import current_revision, head_revision, upgrade, upgrade_engine
from events.records import AppendResult, Metadata, NewEvent, StoredEvent, StreamAppend
from events.schema import (
    event_metadata,
    events_table,
    idempotency_keys_table,
    log_head_table,
    streams_table,
)
from events.sqlstore import SqlEventStore
from events.store import EventStore
from tests.support.chain import assert_chain
from tests.support.clock import DEFAULT_START, FakeClock

STORE_TABLES = (events_table, streams_table, log_head_table, idempotency_keys_table)
HR = Metadata(
    actor_id="hr-7",
    actor_role="hr",
    on_behalf_of="employee-1",
    causation_id="cmd-1",
    correlation_id="corr-1",
)
# Whatever JSON can carry, including what trips up round trips: non-ASCII text, a float, an
# integer beyond 2**53, null, booleans, nesting, an empty object.
RICH_DATA: dict[str, Any] = {
    "title": "Leren presenteren — één keer per maand",
    "budget_eur": 1250.75,
    "big": 2**53 + 1,
    "coach": None,
    "done": False,
    "goals": [{"term": "short", "hours": [1, 2, 3]}, {}],
}

TABLE_MODULES = (
    "events.schema",
    "events.sqlkeyring",
    "handlers.access_schema",
    "handlers.projections.schema",
    "scheduler.tables",
)


def event(kind: str = "TalkingPointsAdded", **data: Any) -> NewEvent:
    return NewEvent(kind, data or {"n": 1})


def to(stream: str, expected: int | None, *events: NewEvent) -> StreamAppend:
    return StreamAppend(stream, events or (event(),), expected)


def everything(store: EventStore) -> list[StoredEvent]:
    return list(store.read_all())


# -- appending and reading back ----------------------------------------------------------------


def test_an_appended_event_reads_back_with_every_field(store: EventStore, clock: FakeClock) -> None:
    when = clock.now()
    outcome = store.append(
        [to("cycle-1", 0, NewEvent("GoalAgreed", RICH_DATA, schema_version=3), event("Signed"))],
        HR,
    )

    assert outcome == AppendResult({"cycle-1": 2}, 1, 2, False, {})
    first, second = store.read_stream("cycle-1")
    assert (first.position, first.stream_id, first.version) == (1, "cycle-1", 1)
    assert (first.type, first.schema_version, first.data) == ("GoalAgreed", 3, RICH_DATA)
    assert first.metadata == HR
    assert first.recorded_at == when
    assert first.recorded_at.utcoffset() is not None
    assert first.recorded_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert first.recorded_at.microsecond == when.microsecond
    assert (second.position, second.version, second.type) == (2, 2, "Signed")
    assert second.recorded_at == first.recorded_at, "one append, one moment"
    assert_chain([first, second], store)


def test_times_come_back_in_utc_from_a_clock_in_another_zone(store: EventStore) -> None:
    amsterdam = DEFAULT_START.astimezone(ZoneInfo("Europe/Amsterdam"))
    store._clock = lambda: amsterdam  # type: ignore[attr-defined]
    store.append([to("s", 0)], HR)
    (stored,) = store.read_stream("s")
    assert stored.recorded_at == amsterdam
    assert stored.recorded_at.tzinfo == UTC
    assert_chain([stored], store)


def test_a_naive_clock_is_refused(store: EventStore, clock: FakeClock) -> None:
    clock_reading = clock.now().replace(tzinfo=None)
    store._clock = lambda: clock_reading  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="naive"):
        store.append([to("s", 0)], HR)
    assert everything(store) == []


def test_positions_are_global_and_versions_per_stream(store: EventStore) -> None:
    store.append([to("a", 0)], HR)
    store.append([to("b", 0, event(), event())], HR)
    store.append([to("a", 1)], HR)

    assert [(e.position, e.stream_id, e.version) for e in everything(store)] == [
        (1, "a", 1),
        (2, "b", 1),
        (3, "b", 2),
        (4, "a", 2),
    ]
    assert [e.position for e in store.read_stream("a")] == [1, 4]
    assert (store.stream_version("a"), store.stream_version("b")) == (2, 2)


def test_an_unknown_stream_is_empty_at_version_zero(store: EventStore) -> None:
    store.append([to("known", 0)], HR)
    assert store.read_stream("unknown") == []
    assert store.stream_version("unknown") == 0


def test_expected_version_none_appends_at_any_version(store: EventStore) -> None:
    store.append([to("log", None)], HR)
    outcome = store.append([to("log", None, event(), event())], HR)
    assert outcome.versions == {"log": 3}
    assert [e.version for e in store.read_stream("log")] == [1, 2, 3]


# -- optimistic concurrency ---------------------------------------------------------------------


def test_expected_version_zero_means_the_stream_must_be_new(store: EventStore) -> None:
    store.append([to("cycle-1", 0)], HR)
    before = everything(store)

    with pytest.raises(ConcurrencyConflict) as conflict:
        store.append([to("cycle-1", 0)], HR)

    assert (conflict.value.stream_id, conflict.value.expected, conflict.value.actual) == (
        "cycle-1",
        0,
        1,
    )
    assert everything(store) == before


@pytest.mark.parametrize("stale", [1, 3])
def test_a_stale_expected_version_conflicts_and_writes_nothing(
    store: EventStore, stale: int
) -> None:
    store.append([to("cycle-1", 0, event(), event())], HR)
    before, head = everything(store), store.head()

    with pytest.raises(ConcurrencyConflict) as conflict:
        store.append([to("cycle-1", stale)], HR)

    assert (conflict.value.expected, conflict.value.actual) == (stale, 2)
    assert "version 2" in str(conflict.value)
    assert everything(store) == before
    assert store.head() == head
    assert store.stream_version("cycle-1") == 2
    store.append([to("cycle-1", 2)], HR)  # the store still works after a conflict
    assert store.stream_version("cycle-1") == 3


def test_a_multi_stream_append_is_all_or_nothing(store: EventStore) -> None:
    store.append([to("employee-1", 0)], HR)
    before, head = everything(store), store.head()

    with pytest.raises(ConcurrencyConflict) as conflict:
        store.append([to("cycle-9", 0, event(), event()), to("employee-1", 0)], HR)

    assert conflict.value.stream_id == "employee-1"
    assert store.read_stream("cycle-9") == []
    assert store.stream_version("cycle-9") == 0
    assert everything(store) == before
    assert store.head() == head

    outcome = store.append([to("cycle-9", 0, event(), event()), to("employee-1", 1)], HR)
    assert outcome == AppendResult({"cycle-9": 2, "employee-1": 2}, 2, 4, False, {})
    assert [(e.position, e.stream_id, e.version) for e in everything(store)[1:]] == [
        (2, "cycle-9", 1),
        (3, "cycle-9", 2),
        (4, "employee-1", 2),
    ]
    assert_chain(everything(store), store)


# -- idempotency --------------------------------------------------------------------------------


def test_a_repeated_idempotency_key_replays_the_first_result(store: EventStore) -> None:
    first = store.append(
        [to("cycle-1", 0)],
        HR,
        idempotency_key="req-1",
        request_fingerprint="start:cycle-1",
        result={"cycle_id": "cycle-1", "phase": "invitation"},
    )

    # Same key again; the stream has moved on meanwhile, which must not matter: nothing is
    # decided again, the first result comes back.
    store.append([to("cycle-1", 1)], HR)
    before, head = everything(store), store.head()
    again = store.append(
        [to("cycle-1", 0)], HR, idempotency_key="req-1", request_fingerprint="start:cycle-1"
    )

    assert first == AppendResult(
        {"cycle-1": 1}, 1, 1, False, {"cycle_id": "cycle-1", "phase": "invitation"}
    )
    assert again == AppendResult(
        {"cycle-1": 1}, 1, 1, True, {"cycle_id": "cycle-1", "phase": "invitation"}
    )
    assert everything(store) == before
    assert store.head() == head
    assert store.lookup("req-1", "start:cycle-1") == again
    assert store.lookup("req-1") == again
    assert store.lookup("req-2") is None
    assert store.read_stream("cycle-1")[0].metadata.idempotency_key == "req-1"
    assert store.read_stream("cycle-1")[1].metadata.idempotency_key is None


def test_a_key_reused_for_another_request_is_refused(store: EventStore) -> None:
    store.append([to("cycle-1", 0)], HR, idempotency_key="req-1", request_fingerprint="a")
    before = everything(store)

    with pytest.raises(IdempotencyKeyReused) as reused:
        store.append([to("cycle-2", 0)], HR, idempotency_key="req-1", request_fingerprint="b")
    with pytest.raises(IdempotencyKeyReused):
        store.lookup("req-1", "b")

    assert reused.value.key == "req-1"
    assert everything(store) == before
    assert store.read_stream("cycle-2") == []


def test_a_key_without_events_is_remembered_too(store: EventStore) -> None:
    store.append([to("cycle-1", 0)], HR)
    empty = store.append([], HR, idempotency_key="noop", result={"said": "nothing to do"})
    replayed = store.append([], HR, idempotency_key="noop")

    assert (empty.first_position, empty.last_position, empty.versions) == (2, 1, {})
    assert replayed == AppendResult({}, 2, 1, True, {"said": "nothing to do"})
    assert store.head()[0] == 1


# -- reading the whole log ----------------------------------------------------------------------


def test_read_all_in_small_batches_yields_everything_in_order(store: EventStore) -> None:
    for i in range(7):
        store.append([to(f"s{i % 3}", None, *[event(i=i, j=j) for j in range(i % 2 + 1)])], HR)
    log = everything(store)

    assert [e.position for e in log] == list(range(1, 11))
    for batch_size in (1, 3, 10, 11):
        assert list(store.read_all(0, batch_size=batch_size)) == log
    assert list(store.read_all(4, batch_size=2)) == log[4:]
    assert list(store.read_all(10, batch_size=2)) == []
    assert (
        sorted(
            (e for s in ("s0", "s1", "s2") for e in store.read_stream(s)), key=lambda e: e.position
        )
        == log
    )


def test_a_large_append_lands_whole(store: EventStore) -> None:
    """More events than PostgreSQL's one-statement path takes: the executemany path."""
    store.append([to("import", 0, *[event(i=i) for i in range(70)]), to("other", 0)], HR)
    log = everything(store)
    assert [e.data.get("i") for e in log[:70]] == list(range(70))
    assert (len(log), store.stream_version("import"), store.stream_version("other")) == (71, 70, 1)
    assert_chain(log, store)


def test_the_head_is_the_last_event(store: EventStore) -> None:
    assert store.head() == (0, GENESIS)
    store.append([to("a", 0, event(), event())], HR)
    store.append([to("b", 0)], HR)
    last = everything(store)[-1]
    assert store.head() == (last.position, last.hash) == (3, last.hash)


def test_every_hash_chains_to_the_one_before(store: EventStore) -> None:
    store.append([to("a", 0, NewEvent("GoalAgreed", RICH_DATA))], HR)
    store.append([to("b", 0, event(), event()), to("a", 1)], Metadata())
    store.append([to("a", 2)], HR, idempotency_key="k")
    log = everything(store)

    assert_chain(log, store)
    assert len({e.hash for e in log}) == len(log)
    # The check above is not vacuous: change one stored field and the recomputed hash differs.
    tampered = event_hash(
        GENESIS,
        position=1,
        stream_id="a",
        version=1,
        type="GoalAgreed",
        schema_version=1,
        data={**RICH_DATA, "budget_eur": 1250.76},
        metadata=HR.to_json(),
        recorded_at=log[0].recorded_at,
    )
    assert tampered != log[0].hash


def test_sql_stores_hash_exactly_like_the_reference(sql_store: SqlEventStore) -> None:
    """Same appends, same clock readings: same hashes in memory and in the database."""
    reference = InMemoryEventStore(FakeClock())
    stored = SqlEventStore(sql_store.engine, FakeClock())
    for target in (reference, stored):
        target.append([to("a", 0, NewEvent("GoalAgreed", RICH_DATA))], HR, idempotency_key="k")
        target.append([to("b", 0), to("a", 1, event(), event())], Metadata())
    assert everything(stored) == everything(reference)
    assert stored.head() == reference.head()


# -- SQL only: backstop, schema, engine ---------------------------------------------------------


def test_the_unique_stream_version_backstop_becomes_a_conflict(sql_store: SqlEventStore) -> None:
    sql_store.append([to("cycle-1", 0, event(), event())], HR)
    # Simulate a version check that let a stale writer through: the streams row lags behind.
    with write_transaction(sql_store.engine) as connection:
        connection.execute(update(streams_table).values(version=1))
    before, head = everything(sql_store), sql_store.head()

    with pytest.raises(ConcurrencyConflict) as conflict:
        sql_store.append([to("cycle-1", 1)], HR)

    assert (conflict.value.stream_id, conflict.value.expected, conflict.value.actual) == (
        "cycle-1",
        1,
        2,
    )
    assert everything(sql_store) == before
    assert sql_store.head() == head


@pytest.mark.postgres
def test_a_postgres_append_is_one_autocommit_statement(
    empty_postgres_engine: Engine, clock: FakeClock
) -> None:
    """Lock, check, chain, write and remember the key in one round trip: no BEGIN, no COMMIT.

    Counted on the wire (libpq's protocol trace), since the statement runs on psycopg's own
    cursor. The one extra round trip allowed is a statement's preparation, once per connection.
    """
    store = SqlEventStore(empty_postgres_engine, clock)
    store.append([to("a", 0, NewEvent("GoalAgreed", RICH_DATA))], HR)
    with tempfile.TemporaryFile() as trace:

        def traced(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(
                pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
            )

        def untraced(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.pgconn.untrace()

        event_listen(empty_postgres_engine.pool, "checkout", traced)
        event_listen(empty_postgres_engine.pool, "checkin", untraced)
        try:
            outcome = store.append(
                [to("a", 1, event(), NewEvent("GoalAgreed", RICH_DATA)), to("b", None, event())],
                HR,
                idempotency_key="k",
                request_fingerprint="f",
                result={"r": 1},
            )
        finally:
            event_remove(empty_postgres_engine.pool, "checkout", traced)
            event_remove(empty_postgres_engine.pool, "checkin", untraced)
        trace.seek(0)
        sent = [
            line.split("\t")[2].split()[0]
            for line in trace.read().decode().splitlines()
            if line.startswith("F\t")
        ]

    assert sent.count("Execute") == 1, sent
    assert "Query" not in sent, f"a simple query (BEGIN, COMMIT...) was sent: {sent}"
    assert sent.count("Sync") - sent.count("Parse") == 1, sent
    assert outcome == AppendResult({"a": 3, "b": 1}, 2, 4, False, {"r": 1})
    assert store.lookup("k", "f") == AppendResult({"a": 3, "b": 1}, 2, 4, True, {"r": 1})
    assert_chain(everything(store), store)


def test_values_too_long_for_the_columns_are_refused(sql_store: SqlEventStore) -> None:
    with pytest.raises(ValueError, match="stream id"):
        sql_store.append([to("s" * 65, 0)], HR)
    with pytest.raises(ValueError, match="event type"):
        sql_store.append([to("s", 0, NewEvent("T" * 101, {}))], HR)
    with pytest.raises(ValueError, match="idempotency key"):
        sql_store.append([to("s", 0)], HR, idempotency_key="k" * 256)
    assert everything(sql_store) == []


def test_the_migrated_schema_is_the_one_the_code_uses(sql_store: SqlEventStore) -> None:
    engine = sql_store.engine
    upgrade_engine(engine)  # a second run is a no-op
    assert current_revision(engine) == head_revision() is not None
    # Every module that adds tables to the shared MetaData, so that all of them are compared
    # with what the migrations built (a table is in the MetaData once its module is imported).
    for module in TABLE_MODULES:
        importlib.import_module(module)
    shared = set(event_metadata.tables)  # the read models keep their own MetaData

    def in_shared(name: str | None, type_: str, _parent: Any) -> bool:
        return type_ != "table" or name in shared

    with read_transaction(engine) as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": in_shared}
        )
        differences = compare_metadata(context, event_metadata)
    assert differences == []
    assert {"events", "subject_keys", "access_tokens", "followups", "outbox"} <= shared


def test_upgrade_creates_the_schema_on_a_new_sqlite_file(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'pop.sqlite3'}"
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        assert SqlEventStore(engine, FakeClock()).head() == (0, GENESIS)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_create_all_gives_a_working_store_too(tmp_path: Any) -> None:
    """Tests and tools that skip Alembic get the head row from `create_all` as well."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    try:
        with write_transaction(engine) as connection:
            event_metadata.create_all(connection)
        store = SqlEventStore(engine, FakeClock())
        assert store.head() == (0, GENESIS)
        store.append([to("s", 0)], HR)
        assert_chain(everything(store), store)
    finally:
        engine.dispose()


def test_sqlite_engine_settings(sqlite_engine: Engine) -> None:
    with read_transaction(sqlite_engine) as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "busy_timeout": 30_000,
    }


def test_sqlite_write_transactions_take_the_lock_at_begin(sqlite_engine: Engine) -> None:
    """BEGIN IMMEDIATE: the write lock is held before the first statement; reads take none."""
    database = sqlite_engine.url.database
    assert database is not None
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        with read_transaction(sqlite_engine):
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        with (
            write_transaction(sqlite_engine),
            pytest.raises(sqlite3.OperationalError, match="locked"),
        ):
            probe.execute("BEGIN IMMEDIATE")
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    finally:
        probe.close()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:p@db.example:5433/pop", "postgresql+psycopg"),
        ("postgres://u@db.example/pop", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db.example/pop", "postgresql+psycopg"),
    ],
)
def test_postgres_urls_use_psycopg_3(url: str, driver: str) -> None:
    engine = make_engine(url)  # creating an engine does not connect
    try:
        assert engine.url.drivername == driver
        assert engine.url.host == "db.example"
    finally:
        engine.dispose()


def test_unsupported_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        make_engine("mysql://u@h/db")
