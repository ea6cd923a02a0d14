"""Catching a projection up: batches of events applied under its checkpoint, exactly once.

Each batch is one write transaction that

1. locks the projection's checkpoint row (`checkpoints.py`),
2. reads the log head, then the next events after the checkpoint up to that head, on the same
   connection,
3. applies them to the read-model tables,
4. moves the checkpoint, and commits.

Two workers on one projection therefore serialise on the checkpoint row: the second one waits,
then sees the moved checkpoint and continues after it; no event is applied twice, and a worker
killed mid-batch rolls the batch back entirely. No event is skipped either: appends are
serialised on the log head (`events/sqlstore.py`), so every position up to the head read in
step 2 is committed and visible.

The batch is bounded (`batch_size` events), so memory stays flat however long the log is, and a
transaction never holds SQLite's write lock for long.

Between its batches a runner keeps the rows they touched (`cache.py`), tagged with the
checkpoint (position and `updated_at`) its last batch committed: a batch that finds the
checkpoint locked at exactly that tag reads rows from memory instead of the database; any
other tag (another worker, a rebuild's swap, a reset) and the cache is emptied first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from events.database import read_transaction, write_transaction
from events.sealing import KeyRing
from handlers.projections.base import BoundProjection, Projection
from handlers.projections.cache import DEFAULT_CAPACITY, ProjectionCache
from handlers.projections.changes import HEAD_QUERY, Change, changes_query, read_changes
from handlers.projections.checkpoints import (
    lock_checkpoint_tag,
    move_checkpoint,
    read_checkpoints,
)
from handlers.projections.rebuild import apply_in_order, build_step, read_build, start_build

#: Events per catch-up transaction: big enough to amortise the commit and the writing of the
#: rows a batch touches (a cycle whose events span several batches is written once per batch,
#: and without the runner's cache read back once per batch too: 5000 catches up 1.6x faster
#: than 1000, `bench.projections`), small enough to keep memory flat and SQLite's write lock
#: short (appends wait for it: about 0.25 s per full batch, and only while a projection is far
#: behind; live nudges carry a few events).
DEFAULT_BATCH_SIZE = 5000

#: Events behind the head from which a catch-up builds aside (`rebuild.py`) instead of catching
#: up in place — if that is also at least half the log: the build reads the whole log, but
#: stream by stream, writing each row once, where catching up in position order rewrites a
#: cycle's rows in every batch that touches it. At 100k events behind from position 0 the
#: build is about twice as fast, at 1M about six times (`bench.projections`).
DEFAULT_ASIDE_AFTER = 50_000


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one catch-up transaction did."""

    applied: int  # events applied (of the projection's types)
    position: int  # the checkpoint after the batch
    head: int  # the log head the batch read up to
    aside: bool = False  # the projection is (to be) built aside: nothing applied in place

    @property
    def caught_up(self) -> bool:
        return self.position >= self.head


@dataclass(frozen=True, slots=True)
class CatchUpOutcome:
    """What a catch-up (several batches) did."""

    name: str
    applied: int
    batches: int
    position: int
    head: int
    seconds: float
    aside: bool = False  # it stepped a build aside (`applied` went to the shadow tables)

    @property
    def caught_up(self) -> bool:
        return self.position >= self.head


class Runner:
    """Applies one projection's batches on one engine.

    Thread-safe: its batches take turns on a lock (they would wait for each other on the
    checkpoint's lock anyway), so the row cache is only ever used by one batch at a time.
    """

    def __init__(
        self,
        engine: Engine,
        projection: Projection,
        keys: KeyRing,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_rows: int = DEFAULT_CAPACITY,
        aside_after: int | None = DEFAULT_ASIDE_AFTER,
    ) -> None:
        """`aside_after`: events behind from which a catch-up builds aside (None: never; a
        build under way is stepped all the same)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if aside_after is not None and aside_after < 1:
            raise ValueError("aside_after must be at least 1")
        self.engine = engine
        self.projection = projection
        self.keys = keys
        self.batch_size = batch_size
        self.aside_after = aside_after
        self._cache = ProjectionCache(cache_rows)
        self._turn = threading.Lock()

    def apply_next(
        self,
        connection: Connection,
        bound: BoundProjection,
        after: int,
        until: int,
        cache: ProjectionCache | None = None,
    ) -> tuple[int, int]:
        """Apply the next batch after `after` (≤ `until`) on `bound`: (applied, new position).

        The caller holds the transaction; the new position is `until` once nothing is left.
        `cache`: the live tables' row cache, begun at the checkpoint `after`.
        """
        return apply_in_order(
            connection,
            self.projection,
            self.keys,
            types=self.projection.event_types,
            span=(after, until),
            limit=self.batch_size,
            bound=bound,
            cache=cache,
        )

    def apply_share(
        self,
        connection: Connection,
        changes: Sequence[Change],
        *,
        after: int,
        end: int,
        cache: ProjectionCache,
    ) -> int | None:
        """Apply this projection's share of a group's batch (events up to `end`): those of its
        types after its checkpoint `after`. None: the checkpoint is at or past `end` already."""
        if after >= end:
            return None
        types = self.projection.event_types
        mine = [c for c in changes if c.position > after and c.type in types]
        if mine:
            self.projection.live.apply(connection, mine, cache=cache)
        return len(mine)

    def run_batch(self) -> BatchOutcome:
        """One transaction: lock the checkpoint, apply the next batch, move the checkpoint."""
        name = self.projection.name
        with self._turn:
            try:
                with write_transaction(self.engine) as connection:
                    tag = lock_checkpoint_tag(connection, name)
                    cache = self._cache.begin(tag)
                    position = tag[0]
                    head = int(connection.execute(HEAD_QUERY).scalar() or 0)
                    if self._aside(connection, position, head):
                        return BatchOutcome(0, position, head, aside=True)
                    if position >= head:
                        return BatchOutcome(0, position, head)
                    live = self.projection.live
                    applied, moved = self.apply_next(connection, live, position, head, cache)
                    tag = move_checkpoint(connection, name, moved)
            except BaseException:
                self._cache.clear()  # rolled back, or not known to have committed
                raise
            self._cache.commit(tag)  # only now are the batch's rows the database's
        return BatchOutcome(applied, moved, head)

    def _aside(self, connection: Connection, position: int, head: int) -> bool:
        """Whether the projection is being built aside, or should be: so far behind that a
        build is cheaper than catching up in place."""
        if read_build(connection, self.projection.name) is not None:
            return True
        behind = head - position
        return self.aside_after is not None and behind >= self.aside_after and 2 * behind >= head

    def needs_build(self) -> bool:
        """`_aside` as of now, without locking anything (for callers choosing a path)."""
        with read_transaction(self.engine) as connection:
            position = read_checkpoints(connection).get(self.projection.name, 0)
            head = int(connection.execute(HEAD_QUERY).scalar() or 0)
            return self._aside(connection, position, head)

    def build_step(self) -> BatchOutcome | None:
        """One step of the build aside, started if none is under way (the live checkpoint moves
        only with the last step, the swap). None: another process swapped it in meanwhile."""
        step = build_step(self.engine, self.projection, self.keys, batch_size=self.batch_size)
        if step is None:
            start_build(self.engine, self.projection, restart=False)
            step = build_step(self.engine, self.projection, self.keys, batch_size=self.batch_size)
        if step is None:
            return None
        return BatchOutcome(step.applied, step.position, step.head, aside=True)

    def catch_up(self, *, budget_seconds: float | None = None) -> CatchUpOutcome:
        """Run batches until the projection is at the head (or the time budget is spent);
        steps of a build aside instead, while one is under way or due (`_aside`)."""
        started = time.monotonic()
        applied = batches = 0
        building = False
        while True:
            outcome = self.build_step() if building else self.run_batch()
            if outcome is None or outcome.aside != building:
                building = outcome is not None  # to build aside, or live again: on in place
                continue
            batches += 1
            applied += outcome.applied
            spent = time.monotonic() - started
            if outcome.caught_up or (budget_seconds is not None and spent >= budget_seconds):
                return CatchUpOutcome(
                    self.projection.name,
                    applied,
                    batches,
                    outcome.position,
                    outcome.head,
                    spent,
                    aside=building,
                )


class RunnerGroup:
    """Catches several projections up with one read of the log per batch.

    Each projection keeps its own checkpoint. One transaction locks them all (in name order, so
    two groups never wait for each other crosswise), reads the events after the lowest one up
    to the head once — decoded and unsealed once — hands each projection the events of its
    types after its own checkpoint, and moves every checkpoint to the end of the batch. Exactly
    once holds as for one runner: each checkpoint moves in the transaction that applied its
    events, under its lock; the runners' caches follow the same rules (`Runner.run_batch`).
    The price: one transaction does every projection's share, so it holds SQLite's write lock
    longer than one runner's batch (about twice, far behind the head).
    """

    def __init__(self, runners: Sequence[Runner]) -> None:
        if not runners:
            raise ValueError("a group needs at least one runner")
        self.runners = sorted(runners, key=lambda runner: runner.projection.name)
        first = self.runners[0]
        self.engine, self.keys = first.engine, first.keys
        self.batch_size = min(runner.batch_size for runner in runners)
        #: Events read per batch: enough that the projection with the largest share of them
        #: applies about `batch_size` (what it would apply alone), at most twice `batch_size`.
        self._limit = self.batch_size
        projections = [runner.projection for runner in self.runners]
        self._query = changes_query(frozenset().union(*(p.event_types for p in projections)))
        self._personal = frozenset().union(*(p.personal_types for p in projections))

    def run_batch(self) -> list[BatchOutcome]:
        """One transaction for every projection of the group (outcomes in name order)."""
        runners = self.runners
        with ExitStack() as turns:
            for runner in runners:
                turns.enter_context(runner._turn)  # the group drives its runners' batches
            try:
                with write_transaction(self.engine) as connection:
                    tags = [lock_checkpoint_tag(connection, r.projection.name) for r in runners]
                    caches = [r._cache.begin(tag) for r, tag in zip(runners, tags, strict=True)]
                    head = int(connection.execute(HEAD_QUERY).scalar() or 0)
                    low = min(position for position, _at in tags)
                    if low >= head:
                        return [BatchOutcome(0, position, head) for position, _at in tags]
                    limit = self._limit
                    changes = read_changes(
                        connection,
                        self._query,
                        {"after": low, "until": head, "limit": limit},
                        personal=self._personal,
                        keys=self.keys,
                    )
                    end = head if len(changes) < limit else changes[-1].position
                    outcomes = []
                    for index, runner in enumerate(runners):
                        applied = runner.apply_share(
                            connection, changes, after=tags[index][0], end=end, cache=caches[index]
                        )
                        if applied is not None:
                            tags[index] = move_checkpoint(connection, runner.projection.name, end)
                        outcomes.append(BatchOutcome(applied or 0, max(end, tags[index][0]), head))
            except BaseException:
                for runner in runners:
                    runner._cache.clear()
                raise
            for runner, tag in zip(runners, tags, strict=True):
                runner._cache.commit(tag)
        largest = max(outcome.applied for outcome in outcomes)
        if largest and len(changes) == limit:
            share = self.batch_size * limit // largest
            self._limit = min(max(share, self.batch_size), 2 * self.batch_size)
        return outcomes

    def catch_up(self, *, budget_seconds: float | None = None) -> list[CatchUpOutcome]:
        """Run batches until every projection is at the head (or the time budget is spent)."""
        started = time.monotonic()
        applied = [0] * len(self.runners)
        batches = 0
        while True:
            outcomes = self.run_batch()
            batches += 1
            for index, outcome in enumerate(outcomes):
                applied[index] += outcome.applied
            spent = time.monotonic() - started
            done = all(outcome.caught_up for outcome in outcomes)
            if done or (budget_seconds is not None and spent >= budget_seconds):
                return [
                    CatchUpOutcome(
                        runner.projection.name,
                        count,
                        batches,
                        outcome.position,
                        outcome.head,
                        spent,
                    )
                    for runner, count, outcome in zip(self.runners, applied, outcomes, strict=True)
                ]
