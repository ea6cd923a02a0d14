"""Rebuilding a projection from position 0 while the live one keeps serving: build aside, swap.

1. Create empty shadow copies of the projection's tables (`cycles__next`, …).
2. Fill them from the log, position 0 up to the head as it was at the start, in batches of
   their own short transactions: bounded memory, and live catch-ups and appends go on in
   between. Readers keep reading the live tables. The projection says in which passes
   (`Projection.passes`): in position order, as a catch-up would, or stream by stream, where
   each batch holds whole streams so that each row is inserted once, complete, instead of being
   loaded and rewritten by every batch that touches it.
3. Swap, in one write transaction: lock the live checkpoint (the live catch-up waits), catch the
   shadow up to the head of that moment, drop the live tables, rename the shadow ones into their
   place (and their indexes and primary keys, so names stay what the migration made), and set
   the checkpoint to that head. Readers see the old tables or the new ones, never a mix.

A projection that looks rows up by primary key only (`defer_indexes`) gets its shadow tables
without secondary indexes: they are built once, sorted, after the fill (on PostgreSQL before
the swap, then renamed; on SQLite, which cannot rename an index, in the swap, under the live
names — SQLite's writers wait that long, its readers do not).

The shadow is folded by the very same code as the live tables, cut into other batches; since a
projection's result does not depend on how its events are batched, the swapped-in tables equal
what the live ones held, row for row (`tests/integration/test_projection_rebuild.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.schema import CreateTable

from events.database import write_transaction
from events.sealing import KeyRing
from handlers.projections.base import BoundProjection, Projection
from handlers.projections.changes import (
    HEAD_QUERY,
    changes_query,
    count_query,
    decode_rows,
    read_changes,
    stream_changes_query,
    stream_rest_query,
)
from handlers.projections.runner import Runner, lock_checkpoint, move_checkpoint
from handlers.projections.schema import SHADOW_SUFFIX, shadow_metadata

#: Events per transaction while filling the shadow tables (nobody waits on them).
REBUILD_BATCH_SIZE = 5000

#: Called with (events applied, events to apply) after every batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RebuildOutcome:
    name: str
    position: int  # the checkpoint the rebuilt tables went live at
    applied: int
    seconds: float


def rebuild(
    engine: Engine,
    projection: Projection,
    keys: KeyRing,
    *,
    batch_size: int = REBUILD_BATCH_SIZE,
    progress: Progress | None = None,
) -> RebuildOutcome:
    """Rebuild `projection` from position 0 and swap it in; returns once it is live."""
    started = time.monotonic()
    runner = Runner(engine, projection, keys, batch_size=batch_size)
    shadow = projection.bind(shadow_metadata(), SHADOW_SUFFIX)
    deferred = projection.defer_indexes
    postgres = engine.dialect.name == "postgresql"
    with write_transaction(engine) as connection:
        _drop(connection, shadow.tables)
        for table in shadow.tables:
            if deferred:
                connection.execute(CreateTable(table))  # the primary key only, for now
            else:
                table.create(connection)
        target = int(connection.execute(HEAD_QUERY).scalar() or 0)
        types = frozenset().union(*(each.event_types for each in projection.passes))
        total = int(connection.execute(count_query(types), {"until": target}).scalar_one())
    applied = 0
    for each in projection.passes:
        fill = _fill_by_stream if each.by_stream else _fill_by_position
        applied = fill(
            engine,
            runner,
            shadow,
            each.event_types,
            target=target,
            done=applied,
            total=total,
            progress=progress,
        )
    with write_transaction(engine) as connection:
        shadow.finish(connection)
        if deferred and postgres:  # outside the swap's locks; renamed to the live names in it
            for table in shadow.tables:
                for index in table.indexes:
                    index.create(connection)
    position = target
    with write_transaction(engine) as connection:
        lock_checkpoint(connection, projection.name)
        head = int(connection.execute(HEAD_QUERY).scalar() or 0)
        while position < head:
            count, position = runner.apply_next(connection, shadow, position, head)
            applied += count
        # SQLite cannot rename an index: deferred ones are built once, under their live names.
        swap(connection, projection.live, shadow, shadow_indexed=postgres or not deferred)
        move_checkpoint(connection, projection.name, head)
    return RebuildOutcome(projection.name, head, applied, time.monotonic() - started)


def _fill_by_position(
    engine: Engine,
    runner: Runner,
    shadow: BoundProjection,
    types: frozenset[str],
    *,
    target: int,
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    """One pass in position order; returns the events applied so far (`done` + this pass)."""
    query = changes_query(types)
    position, applied = 0, done
    while position < target:
        with write_transaction(engine) as connection:
            params = {"after": position, "until": target, "limit": runner.batch_size}
            changes = read_changes(
                connection,
                query,
                params,
                personal=runner.projection.personal_types,
                keys=runner.keys,
            )
            if changes:
                shadow.apply(connection, changes)
        position = target if len(changes) < runner.batch_size else changes[-1].position
        applied += len(changes)
        if progress is not None:
            progress(applied, total)
    return applied


def _fill_by_stream(
    engine: Engine,
    runner: Runner,
    shadow: BoundProjection,
    types: frozenset[str],
    *,
    target: int,
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    """One pass stream by stream; returns the events applied so far (`done` + this pass)."""
    projection = runner.projection
    first = stream_changes_query(types)
    rest = stream_rest_query(types)
    after_stream = ""
    applied = done
    while True:
        with write_transaction(engine) as connection:
            params = {"after_stream": after_stream, "until": target, "limit": runner.batch_size}
            rows = list(connection.execute(first, params).all())
            if not rows:
                break
            last_stream, last_version = rows[-1][1], rows[-1][2]
            rows += connection.execute(
                rest, {"stream": last_stream, "version": last_version, "until": target}
            ).all()
            changes = decode_rows(rows, personal=projection.personal_types, keys=runner.keys)
            shadow.apply(connection, changes, fresh=True)
        after_stream = last_stream
        applied += len(changes)
        if progress is not None:
            progress(applied, total)
    return applied


def swap(
    connection: Connection,
    live: BoundProjection,
    shadow: BoundProjection,
    *,
    shadow_indexed: bool = True,
) -> None:
    """Put the shadow tables in the live ones' place, names of indexes and keys included.

    `shadow_indexed` False (SQLite only): the shadow tables have no secondary indexes yet;
    they are built here, on the renamed tables, with the live names.
    """
    _drop(connection, live.tables)
    postgres = connection.dialect.name == "postgresql"
    for old, new in zip(live.tables, shadow.tables, strict=True):
        connection.exec_driver_sql(
            f"ALTER TABLE {_quote(connection, new.name)} RENAME TO {_quote(connection, old.name)}"
        )
        if postgres:
            _rename_postgres_names(connection, old, new)
        else:
            # SQLite cannot rename an index: drop the shadow's, build the live names afresh.
            if shadow_indexed:
                for index in new.indexes:
                    connection.exec_driver_sql(f"DROP INDEX {_quote(connection, str(index.name))}")
            for index in old.indexes:
                index.create(connection)


def _rename_postgres_names(connection: Connection, old: Table, new: Table) -> None:
    q = _quote
    connection.exec_driver_sql(
        f"ALTER TABLE {q(connection, old.name)} RENAME CONSTRAINT "
        f"{q(connection, str(new.primary_key.name))} TO {q(connection, str(old.primary_key.name))}"
    )
    live_names = {_columns(index): str(index.name) for index in old.indexes}
    for index in new.indexes:
        connection.exec_driver_sql(
            f"ALTER INDEX {q(connection, str(index.name))} RENAME TO "
            f"{q(connection, live_names[_columns(index)])}"
        )


def _columns(index: object) -> tuple[str, ...]:
    return tuple(column.name for column in index.columns)  # type: ignore[attr-defined]


def _drop(connection: Connection, tables: Sequence[Table]) -> None:
    for table in reversed(tables):
        table.drop(connection, checkfirst=True)


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)
