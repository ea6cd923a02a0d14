"""Building a projection aside — a rebuild, or a catch-up far behind — and swapping it in.

1. `start_build`: create empty shadow copies of the projection's tables (`cycles__next`, …) and
   its build row (`projection_builds`); the log head of that moment is the build's target.
2. `build_step`, again and again: fill the shadow tables from the log, position 0 up to the
   target, one batch per transaction: bounded memory, and live catch-ups and appends go on in
   between. Readers keep reading the live tables. The projection says in which passes
   (`Projection.passes`): in position order, as a catch-up would, or stream by stream, where
   each batch holds whole streams so that each row is inserted once, complete, instead of being
   loaded and rewritten by every batch that touches it. One more step settles what the fill
   left aside (`BoundProjection.finish`).
3. The last step swaps, in one write transaction: catch the shadow up to the head of that
   moment, drop the live tables, rename the shadow ones into their place (and their indexes and
   primary keys, so names stay what the migration made), set the checkpoint to that head and
   delete the build row. Readers see the old tables or the new ones, never a mix.

Every step is one transaction that locks the projection's checkpoint first (`checkpoints.py`,
the lock every writer of the projection takes first) and moves the build row together with the
rows it wrote. So a build is exactly-once and resumable, like a catch-up: a process killed
mid-step rolls that step back, and the next `build_step` of any process carries on where the
build row says; two processes stepping one build take turns. `rebuild` (`pop projections
rebuild`) starts a build afresh and steps it to the end; a catch-up that finds a build under way,
or is so far behind that building aside is cheaper than catching up in place (`runner.py`),
steps it too.

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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, delete, insert, select, update
from sqlalchemy.schema import CreateTable

from events.database import write_transaction
from events.sealing import KeyRing
from handlers.projections.base import BoundProjection, Projection, RebuildPass
from handlers.projections.cache import ProjectionCache
from handlers.projections.changes import (
    HEAD_QUERY,
    changes_query,
    count_query,
    decode_rows,
    read_changes,
    stream_changes_query,
    stream_rest_query,
)
from handlers.projections.checkpoints import lock_checkpoint, move_checkpoint
from handlers.projections.schema import builds_table

#: Events per transaction while filling the shadow tables (nobody waits on them).
REBUILD_BATCH_SIZE = 5000

#: Called with (events applied, events to apply) after every step.
Progress = Callable[[int, int], None]

_build = builds_table.c


@dataclass(frozen=True, slots=True)
class Build:
    """A build aside, as its row holds it."""

    name: str
    target: int  # the fill reads the log up to here
    pass_index: int  # the pass being filled (`builds_table` says what lies past the last)
    after_stream: str  # a pass by stream: the last stream filled
    after_position: int  # a pass by position: the last position filled
    applied: int
    total: int
    started_at: datetime

    def progress(self) -> dict[str, object]:
        """How far it got (for `pop projections status` and the logs)."""
        return {"applied": self.applied, "total": self.total, "target": self.target}


@dataclass(frozen=True, slots=True)
class BuildStep:
    """What one step of a build did."""

    applied: int  # events applied to the shadow tables
    build: Build | None  # the build after the step; None once it went live
    position: int  # the live checkpoint after the step
    head: int  # the log head the step saw

    @property
    def live(self) -> bool:
        return self.build is None


@dataclass(frozen=True, slots=True)
class RebuildOutcome:
    name: str
    position: int  # the checkpoint the rebuilt tables went live at
    applied: int
    seconds: float


def read_build(connection: Connection, name: str) -> Build | None:
    """The build of projection `name` under way, if any."""
    found = connection.execute(select(builds_table).where(_build.name == name)).first()
    if found is None:
        return None
    row = found._mapping
    return Build(
        name=row["name"],
        target=int(row["target"]),
        pass_index=int(row["pass_index"]),
        after_stream=row["after_stream"],
        after_position=int(row["after_position"]),
        applied=int(row["applied"]),
        total=int(row["total"]),
        started_at=row["started_at"],
    )


def start_build(engine: Engine, projection: Projection, *, restart: bool) -> Build:
    """A build of `projection` from position 0: afresh (`restart`), else the one under way if
    there is one. Empty shadow tables, and the log head of this moment as the target."""
    shadow = projection.shadow
    with write_transaction(engine) as connection:
        lock_checkpoint(connection, projection.name)
        found = read_build(connection, projection.name)
        if found is not None and not restart:
            return found
        _drop(connection, shadow.tables)
        for table in shadow.tables:
            if projection.defer_indexes:
                connection.execute(CreateTable(table))  # the primary key only, for now
            else:
                table.create(connection)
        target = int(connection.execute(HEAD_QUERY).scalar() or 0)
        types = frozenset().union(*(each.event_types for each in projection.passes))
        total = int(connection.execute(count_query(types), {"until": target}).scalar_one())
        now = datetime.now(UTC)
        build = Build(projection.name, target, 0, "", 0, 0, total, now)
        connection.execute(delete(builds_table).where(_build.name == projection.name))
        connection.execute(insert(builds_table).values(**asdict(build), updated_at=now))
    return build


def build_step(
    engine: Engine, projection: Projection, keys: KeyRing, *, batch_size: int = REBUILD_BATCH_SIZE
) -> BuildStep | None:
    """One transaction of the build of `projection` under way; None if there is none."""
    name = projection.name
    with write_transaction(engine) as connection:
        position = lock_checkpoint(connection, name)
        build = read_build(connection, name)
        if build is None:
            return None
        head = int(connection.execute(HEAD_QUERY).scalar() or 0)
        passes = projection.passes
        applied = 0
        if build.pass_index < len(passes):
            each = passes[build.pass_index]
            applied, build = _fill(connection, projection, keys, build, each=each, limit=batch_size)
        elif build.pass_index == len(passes):
            _finish(connection, projection)
            build = replace(build, pass_index=build.pass_index + 1)
        else:
            applied = _swap_in(connection, projection, keys, build, head=head, limit=batch_size)
            return BuildStep(applied, None, head, head)
        connection.execute(
            update(builds_table)
            .where(_build.name == name)
            .values(**asdict(build), updated_at=datetime.now(UTC))
        )
    return BuildStep(applied, build, position, head)


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
    build = start_build(engine, projection, restart=True)
    filled = 0
    while True:
        step = build_step(engine, projection, keys, batch_size=batch_size)
        if step is None:  # another process stepped the build to its end meanwhile
            with write_transaction(engine) as connection:
                position = lock_checkpoint(connection, projection.name)
            seconds = time.monotonic() - started
            return RebuildOutcome(projection.name, position, build.total, seconds)
        if step.build is None:
            seconds = time.monotonic() - started
            return RebuildOutcome(projection.name, step.position, filled + step.applied, seconds)
        filled = step.build.applied
        if progress is not None:
            progress(filled, step.build.total)


@cache
def _position_query(types: frozenset[str]) -> Select[Any]:
    return changes_query(types)


@cache
def _stream_queries(types: frozenset[str]) -> tuple[Select[Any], Select[Any]]:
    return stream_changes_query(types), stream_rest_query(types)


def apply_in_order(
    connection: Connection,
    projection: Projection,
    keys: KeyRing,
    *,
    types: frozenset[str],
    span: tuple[int, int],
    limit: int,
    bound: BoundProjection | None = None,
    cache: ProjectionCache | None = None,
) -> tuple[int, int]:
    """Apply the next events of `types` in the span (after, until], at most `limit`, in
    position order, to `bound` (default: the shadow tables): (how many, the position reached —
    `until` once nothing is left). The caller holds the transaction; `cache` as for `apply`."""
    after, until = span
    changes = read_changes(
        connection,
        _position_query(types),
        {"after": after, "until": until, "limit": limit},
        personal=projection.personal_types,
        keys=keys,
    )
    if changes:
        (bound or projection.shadow).apply(connection, changes, cache=cache)
    return len(changes), until if len(changes) < limit else changes[-1].position


def _fill(
    connection: Connection,
    projection: Projection,
    keys: KeyRing,
    build: Build,
    *,
    each: RebuildPass,
    limit: int,
) -> tuple[int, Build]:
    """One batch of the pass `each`: (events applied, the build moved past them)."""
    if not each.by_stream:
        span = (build.after_position, build.target)
        applied, reached = apply_in_order(
            connection, projection, keys, types=each.event_types, span=span, limit=limit
        )
        build = replace(build, after_position=reached, applied=build.applied + applied)
        return applied, _next_pass(build) if reached >= build.target else build
    # Stream by stream: whole streams, the last one read completed.
    first, rest = _stream_queries(each.event_types)
    after = build.after_stream or each.streams  # no stream id equals a prefix: none is skipped
    params = {"after_stream": after, "until": build.target, "limit": limit}
    rows = list(connection.execute(first, params).all())
    if not rows:
        return 0, _next_pass(build)
    last_stream, last_version = rows[-1][1], rows[-1][2]
    exhausted = len(rows) < limit  # no stream after the last one read
    rows += connection.execute(
        rest, {"stream": last_stream, "version": last_version, "until": build.target}
    ).all()
    changes = decode_rows(rows, personal=projection.personal_types, keys=keys)
    projection.shadow.apply(connection, changes, fresh=True)
    build = replace(build, after_stream=last_stream, applied=build.applied + len(changes))
    return len(changes), _next_pass(build) if exhausted else build


def _next_pass(build: Build) -> Build:
    return replace(build, pass_index=build.pass_index + 1, after_stream="", after_position=0)


def _finish(connection: Connection, projection: Projection) -> None:
    """After the fill: settle what `fresh` batches left aside; on PostgreSQL build the deferred
    indexes here, outside the swap's transaction (the swap renames them to the live names)."""
    shadow = projection.shadow
    shadow.finish(connection)
    if projection.defer_indexes and connection.dialect.name == "postgresql":
        for table in shadow.tables:
            for index in table.indexes:
                index.create(connection)


def _swap_in(
    connection: Connection,
    projection: Projection,
    keys: KeyRing,
    build: Build,
    *,
    head: int,
    limit: int,
) -> int:
    """Catch the shadow up from the build's target to `head`, swap it in, end the build; returns
    the events caught up."""
    position, applied = build.target, 0
    while position < head:
        count, position = apply_in_order(
            connection,
            projection,
            keys,
            types=projection.event_types,
            span=(position, head),
            limit=limit,
        )
        applied += count
    # SQLite cannot rename an index: deferred ones are built once, under their live names.
    postgres = connection.dialect.name == "postgresql"
    swap(
        connection,
        projection.live,
        projection.shadow,
        shadow_indexed=postgres or not projection.defer_indexes,
    )
    move_checkpoint(connection, projection.name, head)
    connection.execute(delete(builds_table).where(_build.name == projection.name))
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
