"""The event store on SQL (SQLite or PostgreSQL), SQLAlchemy Core only.

Same semantics as `events.memory.InMemoryEventStore`; the contract suite runs against both.

**Why appends are serialised on the chain head.** A global position taken from a sequence
commits out of order on PostgreSQL: transaction A takes 10, B takes 11, B commits first, and a
projection that has read up to 11 never sees 10 once A commits. Here every append first locks the
single `log_head` row (`SELECT … FOR UPDATE`; on SQLite `BEGIN IMMEDIATE` takes the database
write lock, which does the same), then assigns positions head+1…, then moves the head, all in one
transaction. The next writer can only read the head after this one committed, so positions
become visible in commit order and a reader at position N never later finds an event below N.
The same lock makes the hash chain possible at all (each hash needs the previous one) and makes
the stream-version and idempotency checks race-free.

**Why one statement on PostgreSQL.** Appends are one at a time, so each must be short, and on
PostgreSQL every statement, BEGIN and COMMIT is a network round trip. An ordinary append is
therefore one autocommit statement, one round trip (a bare one-row insert in a transaction takes
three): data-modifying CTEs lock the head row, read the stream versions and the idempotency key,
check the expected versions, insert the events with positions and hashes computed in SQL from
the locked head (`events.hashing` says how the hashed text is cut so that SQL can chain it), move
the stream versions and the head, and remember the key. Its reads other than the locked head see
the statement's snapshot, which can predate a commit the statement waited for: such a stale read
can only make the insert clash with UNIQUE(stream_id, version) or the key's primary key (the
statement then writes nothing) or report a conflict with the head moved under it; in those cases,
and for appends too large or unusual for one statement, the append runs the general path: BEGIN;
one statement that locks the head and reads the rest; one statement that writes; COMMIT. SQLite
runs in-process, so its writes are plain separate statements in a `BEGIN IMMEDIATE` transaction.

**Why the hot path bypasses SQLAlchemy.** A command's whole CPU budget is a few hundred µs, and
SQLAlchemy's work around each statement (compiled-cache lookup, parameter processing, result
set-up, events) cost about 15 µs a statement, ~120 µs for PostgreSQL's one statement. So the
ordinary append runs on the driver's own cursor: on SQLite the same statements as the general
path, on PostgreSQL the one statement prepared by psycopg. Both store what SQLAlchemy would
(the data's JSON is the canonical text the hash is computed over, encoded once, and the time
goes through the column type's own bind processor) and raise SQLAlchemy's exceptions. Group
commit, reads and the general PostgreSQL path stay on SQLAlchemy Core.

The UNIQUE(stream_id, version) constraint stays as a backstop: should two writers ever pass the
version check together, the loser's IntegrityError becomes a `ConcurrencyConflict`.
"""

# `_one_statement_append` formats only counters and fixed names into its SQL; every value is a
# bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Insert,
    Select,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from events.database import writer
from events.errors import ConcurrencyConflict, IdempotencyKeyReused
from events.hashing import (
    GENESIS,
    after_position,
    canonical_json,
    chain_hash,
    content_tail,
    encoded_tail,
    event_hash,
    metadata_suffix,
)
from events.records import AppendRequest, AppendResult, Metadata, StoredEvent, StreamAppend
from events.schema import (
    EVENT_TYPE_LENGTH,
    IDEMPOTENCY_KEY_LENGTH,
    STREAM_ID_LENGTH,
    STREAM_VERSION_CONSTRAINT,
    events_table,
    idempotency_keys_table,
    log_head_table,
    streams_table,
)
from events.store import Clock

_events = events_table.c
_streams = streams_table.c
_head = log_head_table.c
_keys = idempotency_keys_table.c

#: The `events` columns in the order `stored_event` reads a row of them.
EVENT_COLUMNS = (
    _events.position,
    _events.stream_id,
    _events.version,
    _events.type,
    _events.schema_version,
    _events.data,
    _events["metadata"],
    _events.recorded_at,
    _events.hash,
)
_KEY_COLUMNS = (
    _keys.key,
    _keys.fingerprint,
    _keys.versions,
    _keys.first_position,
    _keys.last_position,
    _keys.result,
)

_READ_HEAD = select(_head.position, _head.hash).where(_head.id == 1)
_LOCK_HEAD = _READ_HEAD.with_for_update()  # SQLite drops FOR UPDATE: BEGIN IMMEDIATE locks
_GROUP_VERSIONS = select(_streams.stream_id, _streams.version).where(
    _streams.stream_id.in_(bindparam("values", expanding=True))
)
_GROUP_KEYS = select(*_KEY_COLUMNS).where(_keys.key.in_(bindparam("values", expanding=True)))
_INSERT_EVENTS = insert(events_table)
_INSERT_KEY = insert(idempotency_keys_table)
_MOVE_HEAD = (
    update(log_head_table)
    .where(_head.id == 1)
    .values(position=bindparam("new_position"), hash=bindparam("new_hash"))
)
_READ_STREAM = (
    select(*EVENT_COLUMNS)
    .where(_events.stream_id == bindparam("stream_id"))
    .order_by(_events.version)
)
_READ_AFTER = (
    select(*EVENT_COLUMNS)
    .where(_events.position > bindparam("after"))
    .order_by(_events.position)
    .limit(bindparam("batch_size"))
)
_STREAM_VERSION = select(_streams.version).where(_streams.stream_id == bindparam("stream_id"))
_LOOKUP_KEY = select(*_KEY_COLUMNS).where(_keys.key == bindparam("lookup_key"))

#: Appends with more events than this write them with executemany instead of one statement.
_MAX_EVENTS_PER_STATEMENT = 64

#: Appends with at most this many events (and streams) run as one autocommit statement.
_MAX_EVENTS_IN_ONE_STATEMENT = 16


@dataclass(frozen=True, slots=True)
class _State:
    """What an append read under the lock: the head, stream versions (None: new), the key row."""

    position: int
    hash: str
    versions: dict[str, int | None]
    key_row: Sequence[Any] | None


class SqlEventStore:
    """The event store on a SQLAlchemy engine made by `events.database.make_engine`.

    The schema must exist (`events.migrate.upgrade`). Thread-safe: every call uses its own
    connection from the engine's pool.
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._writer = writer(engine)
        # A read is one statement, atomic by itself: on PostgreSQL run it without BEGIN/COMMIT,
        # which saves two round trips. SQLite's BEGIN/COMMIT are in-process and cheap.
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self._postgres else engine
        )
        self._upsert_streams = _upsert_streams(engine.dialect.name)
        # How SQLAlchemy would store a `recorded_at` (the SQLite path binds it on the cursor).
        self._stored_time: Callable[[datetime], Any] = _events.recorded_at.type.dialect_impl(
            engine.dialect
        ).bind_processor(engine.dialect) or (lambda value: value)
        self._statements: dict[tuple[Any, ...], Executable] = {}
        self._sqlite_queries: dict[tuple[int, bool], str] = {}
        self._one_statements: dict[tuple[Any, ...], str] = {}
        #: Test hook: called inside an append's transaction after it wrote, before it commits.
        self._before_commit: Callable[[AppendResult], None] | None = None

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- writing ------------------------------------------------------------------------------

    def append(
        self,
        appends: Sequence[StreamAppend],
        metadata: Metadata,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> AppendResult:
        _check_sizes(appends, idempotency_key)
        request = AppendRequest(appends, metadata, idempotency_key, request_fingerprint, result)
        if self._postgres and self._before_commit is None and _fits_one_statement(appends):
            outcome = self._append_in_one_statement(request)
            if outcome is not None:
                return outcome
        write = self._transaction if self._postgres else self._append_on_sqlite
        try:
            return write(request)
        except IntegrityError as error:
            if idempotency_key is None or not _is_key_clash(error):
                raise
        # A concurrent append with the same key won (only possible for appends without events,
        # which leave the head alone): once more, and its stored result is replayed.
        return write(request)

    def _append_in_one_statement(self, request: AppendRequest) -> AppendResult | None:
        """PostgreSQL: the whole append as one autocommit statement; None: use the general path.

        None when the statement wrote nothing because what it read may have been stale (see the
        module's docstring): the general path then judges under the lock. The statement runs
        prepared on psycopg's own cursor: through SQLAlchemy it cost about as much CPU as the
        rest of the command together.
        """
        appends, key, result = request.appends, request.idempotency_key, request.result
        shape = (
            tuple((len(item.events), item.expected_version is not None) for item in appends),
            key is not None,
        )
        statement = self._one_statements.get(shape)
        if statement is None:
            statement = self._one_statements[shape] = _one_statement_append(*shape)
        now = self._now()
        meta = canonical_json({**request.metadata.to_json(), "idempotency_key": key})
        after_meta = metadata_suffix(meta, now)
        params: dict[str, Any] = {"meta": meta, "at": now, "key": key}
        if key is not None:
            params["fingerprint"] = request.request_fingerprint
            params["result"] = canonical_json(dict(result or {}))
        number = 0
        for index, item in enumerate(appends):
            params[f"s{index}"] = item.stream_id
            params[f"sj{index}"] = canonical_json(item.stream_id)
            params[f"x{index}"] = item.expected_version
            for new in item.events:
                data = canonical_json(new.data)
                params[f"y{number}"] = new.type
                params[f"sv{number}"] = new.schema_version
                params[f"d{number}"] = data
                params[f"t{number}"] = encoded_tail(new.type, new.schema_version, data, after_meta)
                number += 1
        try:
            row = self._run_autocommit(statement, params)
        except IntegrityError as error:
            if _is_version_clash(error) or _is_key_clash(error):
                return None
            raise
        head_position, snapshot_position, written = row[0], row[1], row[2]
        seen = [version or 0 for version in row[3 : 3 + len(appends)]]
        if key is not None and row[3 + len(appends)] is not None:
            stored = _key_row_from_driver(row[3 + len(appends) :])
            return _replay(key, request.request_fingerprint, stored)
        if not written:
            if snapshot_position != head_position:
                return None
            for item, actual in zip(appends, seen, strict=True):
                if item.expected_version is not None and item.expected_version != actual:
                    raise ConcurrencyConflict(item.stream_id, item.expected_version, actual)
            raise RuntimeError("the append wrote nothing, yet found no conflict and no key")
        versions = {
            item.stream_id: actual + len(item.events)
            for item, actual in zip(appends, seen, strict=True)
        }
        return AppendResult(
            versions, head_position + 1, head_position + number, False, dict(result or {})
        )

    def _run_autocommit(self, statement: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """PostgreSQL: one prepared statement in autocommit on psycopg's cursor, its one row.

        The pooled connection is handed back as SQLAlchemy expects it (not in autocommit), and
        invalidated if the server went away; errors are raised as SQLAlchemy's.
        """
        pooled = self._engine.raw_connection()
        try:
            connection = cast(psycopg.Connection[Any], pooled.driver_connection)
            try:
                connection.autocommit = True
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(statement, params, prepare=True)
                        row = cursor.fetchone()
                finally:
                    if not connection.broken:
                        connection.autocommit = False
            except psycopg.Error as error:
                lost = connection.broken or self._engine.dialect.is_disconnect(
                    cast(Any, error), pooled, None
                )
                if lost:
                    pooled.invalidate(error)
                raise DBAPIError.instance(
                    statement,
                    None,
                    error,
                    psycopg.Error,
                    connection_invalidated=lost,
                    dialect=self._engine.dialect,
                ) from error
        finally:
            pooled.close()
        if row is None:
            raise RuntimeError("the append statement returned no row")
        return tuple(row)

    def append_group(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        """Many callers' appends in one transaction, one commit: the core of group commit.

        Each request is judged on its own, in order, against the streams as the requests before
        it in the group left them: a stale expected version, a key reused for another request
        or a value too long fails that request alone (its slot holds the exception) and writes
        nothing of it; a key already applied, in the log or earlier in the group, replays the
        first result. Returns once the group is committed. Should the group's transaction fail
        as a whole (a lost connection, the UNIQUE backstop), each request is appended on its own
        instead, so that no request fails because of its neighbours.
        """
        if self._postgres:
            written = self._append_group_in_one_statement(requests)
            if written is not None:
                return written
        outcomes: list[AppendResult | Exception | None] = [None] * len(requests)
        try:
            with self._writer.connect() as connection, connection.begin():
                self._append_group(connection, requests, outcomes)
        except Exception:  # the group as a whole failed: nothing of it was committed
            outcomes = [self._append_alone(request) for request in requests]
        return [outcome for outcome in outcomes if outcome is not None]

    def _append_group_in_one_statement(
        self, requests: Sequence[AppendRequest]
    ) -> list[AppendResult | Exception] | None:
        """PostgreSQL: the group judged beforehand, then written by one autocommit statement.

        Each stream's version is taken to be what its first request in the group expects (read
        from the log only for appends that expect no particular version); the requests are judged
        against that, and the statement writes only if, under the head lock, every such
        assumption holds (the snapshot caveat of the single append applies, with the same
        backstops). Otherwise it writes nothing and returns None, and the group is judged again
        under the lock (`_append_group`): this path is for the common case, one round trip and
        one fsync for the whole group.
        """
        outcomes: list[_Planned | Exception | None] = [None] * len(requests)
        for index, request in enumerate(requests):
            try:
                _check_sizes(request.appends, request.idempotency_key)
            except ValueError as error:
                outcomes[index] = error
        unknown = {
            item.stream_id
            for index, request in enumerate(requests)
            if outcomes[index] is None
            for item in request.appends
            if item.expected_version is None
        }
        logged: dict[str, int] = {}
        if unknown:
            with self._reader.connect() as connection:
                found = _fetch_by(connection, _GROUP_VERSIONS, unknown)
            logged = {stream: int(row[1]) for stream, row in found.items()}
        plan = _GroupPlan(self._now())
        for index, request in enumerate(requests):
            if outcomes[index] is None:
                outcomes[index] = plan.add(request, logged)
        if not plan.events:
            return None
        try:
            with self._reader.connect() as connection:
                head, written = connection.execute(_GROUP_STATEMENT, plan.params()).one()
        except IntegrityError as error:
            if _is_version_clash(error) or _is_key_clash(error):
                return None
            raise
        if not written:
            return None
        return [plan.settle(outcome, head) for outcome in outcomes if outcome is not None]

    def _append_alone(self, request: AppendRequest) -> AppendResult | Exception:
        try:
            return self.append(
                request.appends,
                request.metadata,
                idempotency_key=request.idempotency_key,
                request_fingerprint=request.request_fingerprint,
                result=request.result,
            )
        except Exception as error:  # handed to that request's caller, not raised here
            return error

    def _append_group(
        self,
        connection: Connection,
        requests: Sequence[AppendRequest],
        outcomes: list[AppendResult | Exception | None],
    ) -> None:
        """Fill `outcomes` (one per request) and write the accepted requests, under the lock."""
        for index, request in enumerate(requests):
            try:
                _check_sizes(request.appends, request.idempotency_key)
            except ValueError as error:
                outcomes[index] = error
        # The head lock first (SQLite: BEGIN IMMEDIATE holds it already); the reads that follow
        # are new statements, so on PostgreSQL they see every commit the lock waited for.
        position, previous = connection.execute(_LOCK_HEAD).one()
        stream_ids = {item.stream_id for request in requests for item in request.appends}
        logged = _fetch_by(connection, _GROUP_VERSIONS, stream_ids)
        keys = {request.idempotency_key for request in requests} - {None}
        stored_keys = {row[0]: row for row in _fetch_by(connection, _GROUP_KEYS, keys)}
        versions = {stream: int(row[1]) for stream, row in logged.items()}
        grouped_keys: dict[str, tuple[str | None, AppendResult]] = {}
        rows: list[dict[str, Any]] = []
        key_rows: list[dict[str, Any]] = []
        now = self._now()
        for index, request in enumerate(requests):
            if outcomes[index] is not None:
                continue
            judged = _judge_in_group(request, stored_keys, grouped_keys, versions)
            if judged is not None:
                outcomes[index] = judged
                continue
            key, fingerprint = request.idempotency_key, request.request_fingerprint
            meta = {**request.metadata.to_json(), "idempotency_key": key}
            moved = {item.stream_id: versions.get(item.stream_id, 0) for item in request.appends}
            written = _chained_rows(
                request.appends,
                moved,
                head_position=position,
                head_hash=previous,
                meta=meta,
                now=now,
            )
            outcome = AppendResult(moved, position + 1, position, False, dict(request.result or {}))
            if written:
                position, previous = written[-1]["position"], written[-1]["hash"]
                outcome = replace(outcome, last_position=position)
            versions.update(moved)
            rows.extend(written)
            outcomes[index] = outcome
            if key is not None:
                grouped_keys[key] = (fingerprint, outcome)
                key_rows.append(_key_row(key, fingerprint, outcome, now))
        moved_streams = [
            {"stream_id": stream, "version": version}
            for stream, version in versions.items()
            if stream not in logged or int(logged[stream][1]) != version
        ]
        if rows:
            self._write_one_by_one(
                connection,
                rows,
                moved_streams,
                {"new_position": position, "new_hash": previous},
                key_rows,
            )
        elif key_rows:
            connection.execute(_INSERT_KEY, key_rows)

    def _transaction(self, request: AppendRequest) -> AppendResult:
        try:
            with self._writer.connect() as connection, connection.begin():
                return self._append(
                    connection,
                    request.appends,
                    request.metadata,
                    key=request.idempotency_key,
                    fingerprint=request.request_fingerprint,
                    result=request.result,
                )
        except IntegrityError as error:
            if _is_version_clash(error):
                raise self._conflict_after_clash(request.appends) from error
            raise

    def _append_on_sqlite(self, request: AppendRequest) -> AppendResult:
        """SQLite: the append on the driver's own cursor, in one `BEGIN IMMEDIATE` transaction.

        The general path's statements without SQLAlchemy's work around each (about 15 µs a
        statement, against 1-2 µs on the cursor), which was half of a command's CPU. The lock,
        checks, chain and writes are those of `_append`; errors are raised as SQLAlchemy's.
        """
        encoded = [[canonical_json(new.data) for new in item.events] for item in request.appends]
        pooled = self._engine.raw_connection()
        try:
            connection = cast(sqlite3.Connection, pooled.driver_connection)
            cursor = connection.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                outcome = self._append_locked_on_sqlite(cursor, request, encoded)
                if self._before_commit is not None:
                    self._before_commit(outcome)
                connection.commit()
                return outcome
            except sqlite3.Error as error:
                failure = _wrapped(error, self._engine)
            finally:
                if connection.in_transaction:
                    connection.rollback()
                cursor.close()
        finally:
            pooled.close()
        if isinstance(failure, IntegrityError) and _is_version_clash(failure):
            raise self._conflict_after_clash(request.appends) from failure
        raise failure

    def _append_locked_on_sqlite(
        self, cursor: sqlite3.Cursor, request: AppendRequest, encoded: list[list[str]]
    ) -> AppendResult:
        """Read, check, chain and write under the write lock that `BEGIN IMMEDIATE` took."""
        appends, key = request.appends, request.idempotency_key
        stream_ids = list(dict.fromkeys(item.stream_id for item in appends))
        shape = (len(stream_ids), key is not None)
        query = self._sqlite_queries.get(shape)
        if query is None:
            query = self._sqlite_queries[shape] = _sqlite_state_query(*shape)
        params = (*stream_ids, key) if key is not None else stream_ids
        row = cursor.execute(query, params).fetchone()
        head_position, position, previous = row[0], row[0], row[1]
        seen = {stream: row[2 + i] or 0 for i, stream in enumerate(stream_ids)}
        if key is not None and row[2 + len(stream_ids)] is not None:
            stored = _key_row_from_driver(row[2 + len(stream_ids) :])
            return _replay(key, request.request_fingerprint, stored)
        for item in appends:
            actual = seen[item.stream_id]
            if item.expected_version is not None and item.expected_version != actual:
                raise ConcurrencyConflict(item.stream_id, item.expected_version, actual)

        now = self._now()
        at = self._stored_time(now)
        meta = canonical_json({**request.metadata.to_json(), "idempotency_key": key})
        after_meta = metadata_suffix(meta, now)
        versions = dict(seen)
        rows: list[tuple[Any, ...]] = []
        for item, data in zip(appends, encoded, strict=True):
            stream, stream_json = item.stream_id, canonical_json(item.stream_id)
            for new, data_json in zip(item.events, data, strict=True):
                position += 1
                versions[stream] += 1
                tail = encoded_tail(new.type, new.schema_version, data_json, after_meta)
                previous = chain_hash(previous, position, stream_json, versions[stream], tail)
                rows.append(
                    (
                        position,
                        stream,
                        versions[stream],
                        new.type,
                        new.schema_version,
                        data_json,
                        meta,
                        at,
                        previous,
                        key,
                    )
                )
        if rows:
            cursor.executemany(_SQLITE_INSERT_EVENT, rows)
            moved = [(stream, v) for stream, v in versions.items() if v != seen[stream]]
            cursor.executemany(_SQLITE_MOVE_STREAM, moved)
            cursor.execute(_SQLITE_MOVE_HEAD, (position, previous))
        outcome = AppendResult(
            versions, head_position + 1, position, False, dict(request.result or {})
        )
        if key is not None:
            cursor.execute(
                _SQLITE_INSERT_KEY,
                (
                    key,
                    request.request_fingerprint,
                    canonical_json(versions),
                    outcome.first_position,
                    outcome.last_position,
                    canonical_json(outcome.result),
                    at,
                ),
            )
        return outcome

    def _append(
        self,
        connection: Connection,
        appends: Sequence[StreamAppend],
        metadata: Metadata,
        *,
        key: str | None,
        fingerprint: str | None,
        result: dict[str, Any] | None,
    ) -> AppendResult:
        state = self._lock_and_read(connection, appends, key)
        if key is not None and state.key_row is not None:
            return _replay(key, fingerprint, state.key_row)
        for item in appends:
            actual = state.versions[item.stream_id] or 0
            if item.expected_version is not None and item.expected_version != actual:
                raise ConcurrencyConflict(item.stream_id, item.expected_version, actual)

        now = self._now()
        meta = {**metadata.to_json(), "idempotency_key": key}
        versions = {stream: version or 0 for stream, version in state.versions.items()}
        rows = _chained_rows(
            appends,
            versions,
            head_position=state.position,
            head_hash=state.hash,
            meta=meta,
            now=now,
        )
        position, previous = state.position, state.hash
        if rows:
            position, previous = rows[-1]["position"], rows[-1]["hash"]
        outcome = AppendResult(versions, state.position + 1, position, False, dict(result or {}))
        moved = [
            {"stream_id": stream, "version": version}
            for stream, version in versions.items()
            if version != (state.versions[stream] or 0)
        ]
        key_row = None if key is None else _key_row(key, fingerprint, outcome, now)
        head = {"new_position": position, "new_hash": previous}
        if self._postgres and 0 < len(rows) <= _MAX_EVENTS_PER_STATEMENT:
            self._write_at_once(connection, rows, moved, head, key_row)
        else:
            self._write_one_by_one(connection, rows, moved, head, [key_row] if key_row else [])
        if self._before_commit is not None:
            self._before_commit(outcome)
        return outcome

    def _lock_and_read(
        self, connection: Connection, appends: Sequence[StreamAppend], key: str | None
    ) -> _State:
        stream_ids = list(dict.fromkeys(item.stream_id for item in appends))
        params: dict[str, Any] = {f"stream_{i}": stream for i, stream in enumerate(stream_ids)}
        if key is not None:
            params["idempotency_key"] = key
        shape = (len(stream_ids), key is not None)
        # SQLite: BEGIN IMMEDIATE already holds the write lock, the read is current.
        row = connection.execute(self._state_query(*shape, locking=self._postgres), params).one()
        if self._postgres and row[-1] != row[0]:
            # We waited for the lock: in READ COMMITTED a statement reads as of its start, so
            # everything but the locked head row predates the commit we waited for (the head as
            # of that snapshot, the last column, says so). A new statement sees that commit.
            row = connection.execute(self._state_query(*shape, locking=False), params).one()
        count = len(stream_ids)
        key_row = row[2 + count : 2 + count + len(_KEY_COLUMNS)] if key is not None else None
        return _State(
            position=row[0],
            hash=row[1],
            versions={stream: row[2 + i] for i, stream in enumerate(stream_ids)},
            key_row=key_row if key_row is not None and key_row[0] is not None else None,
        )

    def _write_one_by_one(
        self,
        connection: Connection,
        rows: list[dict[str, Any]],
        moved: list[dict[str, Any]],
        head: dict[str, Any],
        key_rows: list[dict[str, Any]],
    ) -> None:
        if rows:
            connection.execute(_INSERT_EVENTS, rows)
            connection.execute(self._upsert_streams, moved)
            connection.execute(_MOVE_HEAD, head)
        if key_rows:
            connection.execute(_INSERT_KEY, key_rows)

    def _write_at_once(
        self,
        connection: Connection,
        rows: list[dict[str, Any]],
        moved: list[dict[str, Any]],
        head: dict[str, Any],
        key_row: dict[str, Any] | None,
    ) -> None:
        """PostgreSQL: events, stream versions, head and key in one statement, one round trip."""
        params = dict(head)
        for i, row in enumerate(rows):
            params.update({f"e{i}_{name}": value for name, value in row.items()})
        for i, stream in enumerate(moved):
            params[f"s{i}_stream_id"] = stream["stream_id"]
            params[f"s{i}_version"] = stream["version"]
        if key_row is not None:
            params.update({f"k_{name}": value for name, value in key_row.items()})
        shape = ("write", len(rows), len(moved), key_row is not None)
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._statements[shape] = _combined_write(*shape[1:])
        connection.execute(statement, params)

    def _state_query(self, streams: int, with_key: bool, *, locking: bool) -> Executable:
        shape = ("state", streams, with_key, locking)
        query = self._statements.get(shape)
        if query is None:
            query = self._statements[shape] = _state_query(streams, with_key, locking=locking)
        return query

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the clock returned a naive datetime: it must be timezone-aware")
        # The hash covers recorded_at.isoformat(); the database gives it back in UTC, so hash UTC.
        return now.astimezone(UTC)

    def _conflict_after_clash(self, appends: Sequence[StreamAppend]) -> ConcurrencyConflict:
        """Name the stream behind a UNIQUE(stream_id, version) violation, from the log itself."""
        stream_ids = sorted({item.stream_id for item in appends})
        query = (
            select(_events.stream_id, func.max(_events.version))
            .where(_events.stream_id.in_(stream_ids))
            .group_by(_events.stream_id)
        )
        with self._reader.connect() as connection:
            logged = {str(stream): int(top) for stream, top in connection.execute(query)}
        for item in appends:
            actual = logged.get(item.stream_id, 0)
            if item.expected_version is not None and item.expected_version != actual:
                return ConcurrencyConflict(item.stream_id, item.expected_version, actual)
        first = appends[0]
        return ConcurrencyConflict(
            first.stream_id, first.expected_version, logged.get(first.stream_id, 0)
        )

    # -- reading ------------------------------------------------------------------------------

    def lookup(
        self, idempotency_key: str, request_fingerprint: str | None = None
    ) -> AppendResult | None:
        with self._reader.connect() as connection:
            row = connection.execute(_LOOKUP_KEY, {"lookup_key": idempotency_key}).first()
        if row is None:
            return None
        return _replay(idempotency_key, request_fingerprint, row)

    def read_stream(self, stream_id: str) -> list[StoredEvent]:
        with self._reader.connect() as connection:
            rows = connection.execute(_READ_STREAM, {"stream_id": stream_id}).all()
        return [stored_event(row) for row in rows]

    def stream_version(self, stream_id: str) -> int:
        with self._reader.connect() as connection:
            version = connection.execute(_STREAM_VERSION, {"stream_id": stream_id}).scalar()
        return int(version or 0)

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        """Keyset pagination, one short read per batch.

        No transaction stays open while the caller works through a batch, so a slow projection
        neither holds back SQLite's WAL checkpoints nor PostgreSQL's vacuum.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        position = after_position
        while True:
            with self._reader.connect() as connection:
                rows = connection.execute(
                    _READ_AFTER, {"after": position, "batch_size": batch_size}
                ).all()
            if not rows:
                return
            for row in rows:
                yield stored_event(row)
            if len(rows) < batch_size:
                return  # caught up: spare a round trip that would come back empty
            position = rows[-1][0]

    def head(self) -> tuple[int, str]:
        with self._reader.connect() as connection:
            row = connection.execute(_READ_HEAD).first()
        if row is None:
            return 0, GENESIS
        return int(row[0]), str(row[1])


def _chained_rows(
    appends: Sequence[StreamAppend],
    versions: dict[str, int],
    *,
    head_position: int,
    head_hash: str,
    meta: dict[str, Any],
    now: datetime,
) -> list[dict[str, Any]]:
    """The event rows to insert, positioned after the head and hash-chained to it.

    Moves `versions` (each stream's current version) forward as it goes.
    """
    rows: list[dict[str, Any]] = []
    position, previous = head_position, head_hash
    for item in appends:
        for new in item.events:
            position += 1
            versions[item.stream_id] += 1
            previous = event_hash(
                previous,
                position=position,
                stream_id=item.stream_id,
                version=versions[item.stream_id],
                type=new.type,
                schema_version=new.schema_version,
                data=new.data,
                metadata=meta,
                recorded_at=now,
            )
            rows.append(
                {
                    "position": position,
                    "stream_id": item.stream_id,
                    "version": versions[item.stream_id],
                    "type": new.type,
                    "schema_version": new.schema_version,
                    "data": new.data,
                    "metadata": meta,
                    "recorded_at": now,
                    "hash": previous,
                    "idempotency_key": meta["idempotency_key"],
                }
            )
    return rows


#: SQLite: the writes of an append, as `_append_locked_on_sqlite` runs them on the cursor.
_SQLITE_INSERT_EVENT = (
    "INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, "
    "recorded_at, hash, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_MOVE_STREAM = (
    "INSERT INTO streams (stream_id, version) VALUES (?, ?) "
    "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version"
)
_SQLITE_MOVE_HEAD = "UPDATE log_head SET position = ?, hash = ? WHERE id = 1"
_SQLITE_INSERT_KEY = (
    "INSERT INTO idempotency_keys (key, fingerprint, versions, first_position, last_position, "
    "result, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _sqlite_state_query(streams: int, with_key: bool) -> str:
    """SQLite: `_state_query` as text for the cursor (head, each stream's version, the key)."""
    columns = ["h.position", "h.hash"]
    columns += ["(SELECT version FROM streams WHERE stream_id = ?)"] * streams
    source = "log_head AS h"
    if with_key:
        columns += [f"k.{column.name}" for column in _KEY_COLUMNS]
        source += " LEFT JOIN idempotency_keys AS k ON k.key = ?"
    return f"SELECT {', '.join(columns)} FROM {source} WHERE h.id = 1"


def _wrapped(error: sqlite3.Error, engine: Engine) -> BaseException:
    """A driver error as SQLAlchemy raises it (IntegrityError, OperationalError, ...)."""
    return DBAPIError.instance(None, None, error, sqlite3.Error, dialect=engine.dialect)


def _state_query(streams: int, with_key: bool, *, locking: bool) -> Select[Any]:
    """One statement for everything an append must know before it writes.

    Columns: head position, head hash, each stream's version (NULL: new stream), with a key the
    key's stored result (NULLs: unknown key), and when `locking` the head position as of the
    statement's snapshot (see `_lock_and_read`).
    """
    columns: list[Any] = [_head.position, _head.hash]
    for index in range(streams):
        version = (
            select(_streams.version)
            .where(_streams.stream_id == bindparam(f"stream_{index}"))
            .scalar_subquery()
        )
        columns.append(version.label(f"version_{index}"))
    source: Any = log_head_table
    if with_key:
        columns.extend(column.label(f"key_{column.name}") for column in _KEY_COLUMNS)
        source = log_head_table.outerjoin(
            idempotency_keys_table, _keys.key == bindparam("idempotency_key")
        )
    if not locking:
        return select(*columns).select_from(source).where(_head.id == 1)
    snapshot = log_head_table.alias("snapshot_head")
    columns.append(
        select(snapshot.c.position).where(snapshot.c.id == 1).scalar_subquery().label("seen")
    )
    query = select(*columns).select_from(source).where(_head.id == 1)
    return query.with_for_update(of=log_head_table)


def _upsert_streams(dialect: str) -> Insert:
    """INSERT … ON CONFLICT (stream_id) DO UPDATE: new and existing streams in one statement."""
    if dialect == "postgresql":
        pg_upsert = postgresql.insert(streams_table)
        return pg_upsert.on_conflict_do_update(
            index_elements=[_streams.stream_id], set_={"version": pg_upsert.excluded.version}
        )
    lite_upsert = sqlite.insert(streams_table)
    return lite_upsert.on_conflict_do_update(
        index_elements=[_streams.stream_id], set_={"version": lite_upsert.excluded.version}
    )


def _combined_write(events: int, streams: int, with_key: bool) -> Executable:
    """PostgreSQL: `WITH e0 AS (INSERT events…), s0 AS (UPSERT streams…) UPDATE log_head…`.

    One single-row INSERT per CTE rather than one multi-row VALUES: SQLAlchemy does not cache
    the compiled form of a multi-row VALUES, and compiling costs more than the round trip saved.
    """
    ctes: list[Any] = []
    for i in range(events):
        row = {
            column.name: bindparam(f"e{i}_{column.name}", type_=column.type) for column in _events
        }
        ctes.append(insert(events_table).values(row).cte(f"appended_{i}"))
    for i in range(streams):
        upsert = postgresql.insert(streams_table).values(
            stream_id=bindparam(f"s{i}_stream_id", type_=_streams.stream_id.type),
            version=bindparam(f"s{i}_version", type_=_streams.version.type),
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[_streams.stream_id], set_={"version": upsert.excluded.version}
        )
        ctes.append(upsert.cte(f"moved_{i}"))
    if with_key:
        key_row = {
            column.name: bindparam(f"k_{column.name}", type_=column.type) for column in _keys
        }
        ctes.append(insert(idempotency_keys_table).values(key_row).cte("remembered"))
    return _MOVE_HEAD.add_cte(*ctes)


@dataclass(frozen=True, slots=True)
class _Planned:
    """An accepted request of a group plan: positions relative to the group's start."""

    versions: dict[str, int]
    first: int
    last: int
    result: dict[str, Any]
    replayed: bool = False


class _GroupPlan:
    """A group judged before it is written, as JSON rows for `_GROUP_STATEMENT` (PostgreSQL).

    The rows travel as one JSON text per table rather than as arrays: psycopg escapes every
    quote of a text array element with a regular expression, which for JSON payloads cost more
    than the database's whole work on the group.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.assumed: dict[str, int] = {}  # each stream's version before the group, as assumed
        self.running: dict[str, int] = {}
        self.keys: dict[str, tuple[str | None, _Planned]] = {}
        self.events: list[dict[str, Any]] = []
        self.key_rows: list[dict[str, Any]] = []

    def add(self, request: AppendRequest, logged: dict[str, int]) -> _Planned | Exception:
        key, fingerprint = request.idempotency_key, request.request_fingerprint
        if key is not None and key in self.keys:
            first_fingerprint, earlier = self.keys[key]
            if fingerprint is not None and first_fingerprint not in (None, fingerprint):
                return IdempotencyKeyReused(key)
            return replace(earlier, replayed=True)
        for item in request.appends:
            if item.stream_id not in self.running:
                known = item.expected_version
                assumed = logged.get(item.stream_id, 0) if known is None else known
                self.assumed[item.stream_id] = self.running[item.stream_id] = assumed
        for item in request.appends:
            actual = self.running[item.stream_id]
            if item.expected_version is not None and item.expected_version != actual:
                return ConcurrencyConflict(item.stream_id, item.expected_version, actual)
        meta = {**request.metadata.to_json(), "idempotency_key": key}
        first = len(self.events) + 1
        versions = {item.stream_id: self.running[item.stream_id] for item in request.appends}
        for item in request.appends:
            for new in item.events:
                versions[item.stream_id] += 1
                tail = content_tail(
                    type=new.type,
                    schema_version=new.schema_version,
                    data=new.data,
                    metadata=meta,
                    recorded_at=self.now,
                )
                version = versions[item.stream_id]
                self.events.append(
                    {
                        "n": len(self.events) + 1,
                        "stream_id": item.stream_id,
                        "version": version,
                        "type": new.type,
                        "schema_version": new.schema_version,
                        "data": new.data,
                        "metadata": meta,
                        "key": key,
                        "rest": after_position(canonical_json(item.stream_id), version, tail),
                    }
                )
        self.running.update(versions)
        planned = _Planned(versions, first, len(self.events), dict(request.result or {}))
        if key is not None:
            self.keys[key] = (fingerprint, planned)
            self.key_rows.append(
                {
                    "key": key,
                    "fingerprint": fingerprint,
                    "versions": versions,
                    "first": first,
                    "last": len(self.events),
                    "result": planned.result,
                }
            )
        return planned

    def params(self) -> dict[str, Any]:
        moved = [
            {"stream_id": stream, "version": version}
            for stream, version in self.running.items()
            if version != self.assumed[stream]
        ]
        checks = [{"stream_id": s, "version": v} for s, v in self.assumed.items()]
        return {
            "at": self.now,
            "count": len(self.events),
            "checks": json.dumps(checks, ensure_ascii=False),
            "events": json.dumps(self.events, ensure_ascii=False),
            "moved": json.dumps(moved, ensure_ascii=False),
            "keys": json.dumps(self.key_rows, ensure_ascii=False),
        }

    def settle(self, outcome: _Planned | Exception, head: int) -> AppendResult | Exception:
        """The caller's result, once the group is written after log position `head`."""
        if isinstance(outcome, Exception):
            return outcome
        return AppendResult(
            outcome.versions,
            head + outcome.first,
            head + outcome.last,
            outcome.replayed,
            outcome.result,
        )


#: PostgreSQL: a whole planned group in one statement (see `_append_group_in_one_statement`).
#: `chain` hashes event n from event n-1 under the locked head (`events.hashing`'s
#: `chain_hash_after`); every write selects from `ok`, which is empty unless every stream is
#: still at the version the plan assumed.
_GROUP_STATEMENT = text(
    """
WITH RECURSIVE
head AS MATERIALIZED (SELECT position, hash FROM log_head WHERE id = 1 FOR UPDATE),
ok AS MATERIALIZED (
    SELECT head.position, head.hash FROM head WHERE NOT EXISTS (
        SELECT FROM json_to_recordset(CAST(:checks AS json)) AS c(stream_id text, version int)
        LEFT JOIN streams AS s ON s.stream_id = c.stream_id
        WHERE coalesce(s.version, 0) <> c.version)),
batch AS MATERIALIZED (
    SELECT * FROM json_to_recordset(CAST(:events AS json)) AS e(n int, stream_id text,
        version int, type text, schema_version int, data json, metadata json, key text,
        rest text)),
chain(n, hash) AS (
    SELECT 0, CAST(ok.hash AS text) FROM ok
    UNION ALL
    SELECT chain.n + 1, encode(sha256(convert_to(chain.hash || '[' || (ok.position + chain.n + 1)
        || ',' || batch.rest, 'UTF8')), 'hex')
    FROM chain JOIN batch ON batch.n = chain.n + 1, ok),
appended AS (
    INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata,
        recorded_at, hash, idempotency_key)
    SELECT ok.position + batch.n, batch.stream_id, batch.version, batch.type,
        batch.schema_version, batch.data, batch.metadata, CAST(:at AS timestamptz), chain.hash,
        batch.key
    FROM ok, batch JOIN chain ON chain.n = batch.n),
moved AS (
    INSERT INTO streams (stream_id, version)
    SELECT m.stream_id, m.version
    FROM ok, json_to_recordset(CAST(:moved AS json)) AS m(stream_id text, version int)
    ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version),
remembered AS (
    INSERT INTO idempotency_keys (key, fingerprint, versions, first_position, last_position,
        result, recorded_at)
    SELECT k.key, k.fingerprint, k.versions, ok.position + k.first, ok.position + k.last,
        k.result, CAST(:at AS timestamptz)
    FROM ok, json_to_recordset(CAST(:keys AS json)) AS k(key text, fingerprint text,
        versions json, first int, last int, result json)),
new_head AS (
    UPDATE log_head SET position = ok.position + CAST(:count AS integer), hash = chain.hash
    FROM ok, chain WHERE log_head.id = 1 AND chain.n = CAST(:count AS integer))
SELECT head.position, EXISTS (SELECT FROM ok) FROM head
"""
).bindparams(bindparam("at", type_=events_table.c.recorded_at.type))


def _judge_in_group(
    request: AppendRequest,
    stored_keys: dict[str, Sequence[Any]],
    grouped_keys: dict[str, tuple[str | None, AppendResult]],
    versions: dict[str, int],
) -> AppendResult | Exception | None:
    """A replayed result or a refusal for one request of a group; None: append it."""
    key, fingerprint = request.idempotency_key, request.request_fingerprint
    try:
        if key is not None and key in stored_keys:
            return _replay(key, fingerprint, stored_keys[key])
        if key is not None and key in grouped_keys:
            first_fingerprint, first = grouped_keys[key]
            if fingerprint is not None and first_fingerprint not in (None, fingerprint):
                raise IdempotencyKeyReused(key)
            return replace(first, replayed=True)
        for item in request.appends:
            actual = versions.get(item.stream_id, 0)
            if item.expected_version is not None and item.expected_version != actual:
                raise ConcurrencyConflict(item.stream_id, item.expected_version, actual)
    except (ConcurrencyConflict, IdempotencyKeyReused) as refusal:
        return refusal
    return None


def _key_row(
    key: str, fingerprint: str | None, outcome: AppendResult, now: datetime
) -> dict[str, Any]:
    """The `idempotency_keys` row that remembers `outcome` as the first result of `key`."""
    return {
        "key": key,
        "fingerprint": fingerprint,
        "versions": outcome.versions,
        "first_position": outcome.first_position,
        "last_position": outcome.last_position,
        "result": outcome.result,
        "recorded_at": now,
    }


def _fetch_by(connection: Connection, query: Executable, values: set[Any]) -> dict[Any, Any]:
    """Rows of `query` for `values` (its expanding `values` parameter), by their first column.

    The list is padded to a power of two (repeating a value) so that a group of any size uses
    one of a few statement texts, and PostgreSQL's prepared statements do not multiply.
    """
    if not values:
        return {}
    ordered = sorted(values)
    padded = ordered + ordered[-1:] * ((1 << (len(ordered) - 1).bit_length()) - len(ordered))
    return {row[0]: row for row in connection.execute(query, {"values": padded})}


def _fits_one_statement(appends: Sequence[StreamAppend]) -> bool:
    """Appends with events, not too many, each stream once: what `_one_statement_append` covers."""
    events = sum(len(item.events) for item in appends)
    streams = {item.stream_id for item in appends}
    return 0 < events <= _MAX_EVENTS_IN_ONE_STATEMENT and len(streams) == len(appends)


#: `events.hashing.chain_hash` in SQL, over the CTE `{prev}` (position, hash) and the new
#: event's version expression; `convert_to` gives the UTF-8 bytes Python hashes.
_SQL_CHAIN_HASH = (
    "encode(sha256(convert_to({prev}.hash || '[' || ({prev}.position + 1) || ',' || "
    "CAST(:sj{stream} AS text) || ',' || ({version}) || ',' || CAST(:t{event} AS text), "
    "'UTF8')), 'hex')"
)


def _one_statement_append(streams: tuple[tuple[int, bool], ...], with_key: bool) -> str:
    """PostgreSQL: lock, check, chain, insert, move and remember in one statement.

    `streams` gives, per stream of the append, its number of events and whether it has an
    expected version. CTEs, in order: `head` locks the head row (a waiting statement gets the
    row as committed); `seen` reads the stream versions and the key (statement snapshot), and
    the head as of that snapshot, which tells the caller whether it waited; `ok` is the head if
    every check passes, else empty, and everything written selects from it, so a failed check
    writes nothing; `c0…` chain each new event's position and hash from the one before. The
    result row: the locked head position, the snapshot's, whether it wrote, the versions seen,
    and the stored key's columns.
    """
    seen_columns = ["(SELECT s.position FROM log_head AS s WHERE s.id = 1) AS snapshot_position"]
    seen_columns += [
        f"(SELECT version FROM streams WHERE stream_id = CAST(:s{i} AS text)) AS v{i}"
        for i in range(len(streams))
    ]
    key_columns = [column.name for column in _KEY_COLUMNS]
    seen_source = "(SELECT 1) AS one"
    if with_key:
        seen_columns += [f"k.{name} AS key_{name}" for name in key_columns]
        seen_source += " LEFT JOIN idempotency_keys AS k ON k.key = CAST(:key AS text)"
    checks = [
        f"coalesce(seen.v{i}, 0) = CAST(:x{i} AS integer)"
        for i, (_, expected) in enumerate(streams)
        if expected
    ]
    if with_key:
        checks.append("seen.key_key IS NULL")
    version_columns = "".join(f", seen.v{i}" for i in range(len(streams)))
    ctes = [
        "head AS MATERIALIZED (SELECT position, hash FROM log_head WHERE id = 1 FOR UPDATE)",
        f"seen AS MATERIALIZED (SELECT {', '.join(seen_columns)} FROM {seen_source})",
        "ok AS MATERIALIZED (SELECT head.position, head.hash"
        + version_columns
        + " FROM head, seen"
        + (f" WHERE {' AND '.join(checks)}" if checks else "")
        + ")",
    ]
    rows: list[str] = []
    prev, event = "ok", 0
    for stream, (count, _) in enumerate(streams):
        for offset in range(1, count + 1):
            version = f"coalesce(ok.v{stream}, 0) + {offset}"
            digest = _SQL_CHAIN_HASH.format(prev=prev, stream=stream, version=version, event=event)
            source = "ok" if prev == "ok" else f"{prev}, ok"
            ctes.append(
                f"c{event} AS MATERIALIZED (SELECT {prev}.position + 1 AS position, "
                f"{version} AS version, {digest} AS hash FROM {source})"
            )
            rows.append(
                f"SELECT c{event}.position, CAST(:s{stream} AS text), c{event}.version, "
                f"CAST(:y{event} AS text), CAST(:sv{event} AS integer), CAST(:d{event} AS json), "
                f"CAST(:meta AS json), CAST(:at AS timestamptz), c{event}.hash, "
                f"CAST(:key AS text) FROM c{event}"
            )
            prev, event = f"c{event}", event + 1
    ctes.append(
        "appended AS (INSERT INTO events (position, stream_id, version, type, schema_version, "
        "data, metadata, recorded_at, hash, idempotency_key) " + " UNION ALL ".join(rows) + ")"
    )
    moved = " UNION ALL ".join(
        f"SELECT CAST(:s{i} AS text), coalesce(ok.v{i}, 0) + {count} FROM ok"
        for i, (count, _) in enumerate(streams)
    )
    ctes.append(
        f"moved AS (INSERT INTO streams (stream_id, version) {moved} "
        "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version)"
    )
    if with_key:
        versions = ", ".join(
            f"CAST(:s{i} AS text), coalesce(ok.v{i}, 0) + {count}"
            for i, (count, _) in enumerate(streams)
        )
        ctes.append(
            "remembered AS (INSERT INTO idempotency_keys (key, fingerprint, versions, "
            "first_position, last_position, result, recorded_at) "
            "SELECT CAST(:key AS text), CAST(:fingerprint AS text), "
            f"json_build_object({versions}), ok.position + 1, ok.position + {event}, "
            "CAST(:result AS json), CAST(:at AS timestamptz) FROM ok)"
        )
    ctes.append(
        f"new_head AS (UPDATE log_head SET position = {prev}.position, hash = {prev}.hash "
        f"FROM {prev} WHERE log_head.id = 1)"
    )
    outputs = ["head.position", "seen.snapshot_position", "EXISTS (SELECT FROM ok) AS written"]
    outputs += [f"seen.v{i}" for i in range(len(streams))]
    if with_key:
        outputs += [f"seen.key_{name}" for name in key_columns]
    sql = "WITH " + ",\n".join(ctes) + "\nSELECT " + ", ".join(outputs) + " FROM head, seen"
    # Written with `:name` like the other statements here; psycopg's own style is `%(name)s`.
    return re.sub(r":([a-z]+[0-9]*)\b", r"%(\1)s", sql)


def stored_event(row: Sequence[Any]) -> StoredEvent:
    """A `StoredEvent` from a row of `EVENT_COLUMNS` (also how `scheduler.cycles` reads them)."""
    position, stream_id, version, type_, schema_version, data, meta, recorded_at, digest = row
    return StoredEvent(
        position=position,
        stream_id=stream_id,
        version=version,
        type=type_,
        schema_version=schema_version,
        data=data,
        metadata=Metadata.from_json(meta),
        recorded_at=recorded_at,
        hash=digest,
    )


def _key_row_from_driver(row: Sequence[Any]) -> list[Any]:
    """An `idempotency_keys` row as `_replay` takes it, its JSON columns parsed if still text."""
    stored = list(row)
    for index in (2, 5):  # versions, result
        if isinstance(stored[index], str):
            stored[index] = json.loads(stored[index])
    return stored


def _replay(key: str, fingerprint: str | None, stored: Sequence[Any]) -> AppendResult:
    """The first result of `key`, or IdempotencyKeyReused if this is another request."""
    _, stored_fingerprint, versions, first, last, result = stored
    if fingerprint is not None and stored_fingerprint not in (None, fingerprint):
        raise IdempotencyKeyReused(key)
    return AppendResult(dict(versions), int(first), int(last), True, dict(result))


def _is_version_clash(error: IntegrityError) -> bool:
    text = str(error.orig)
    return STREAM_VERSION_CONSTRAINT in text or "events.stream_id, events.version" in text


def _is_key_clash(error: IntegrityError) -> bool:
    text = str(error.orig)
    return "pk_idempotency_keys" in text or "idempotency_keys.key" in text


def _check_sizes(appends: Sequence[StreamAppend], key: str | None) -> None:
    """Refuse what the columns cannot hold, the same way on SQLite (which would store it)."""
    if key is not None and len(key) > IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(f"idempotency key longer than {IDEMPOTENCY_KEY_LENGTH} characters")
    for item in appends:
        if len(item.stream_id) > STREAM_ID_LENGTH:
            raise ValueError(f"stream id longer than {STREAM_ID_LENGTH} characters")
        for new in item.events:
            if len(new.type) > EVENT_TYPE_LENGTH:
                raise ValueError(f"event type longer than {EVENT_TYPE_LENGTH} characters")
