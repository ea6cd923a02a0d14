"""What a projection is: a name, the events it reads, and tables it keeps from them.

A `Projection` is bound to a set of tables (`bind(metadata, suffix)`): the live ones, or the
shadow copies a rebuild fills. The bound projection's `apply` folds one batch of events into its
tables on the connection it is given, inside the caller's transaction; it never commits, never
reads the clock and never looks at other projections' tables, so that the same events give the
same rows however they are cut into batches — which is what makes a rebuild equal the live
tables row for row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from sqlalchemy import Connection, MetaData, Table

from handlers.projections.cache import ProjectionCache
from handlers.projections.changes import Change
from handlers.projections.schema import SHADOW_SUFFIX, read_model_metadata, shadow_metadata


class BoundProjection(Protocol):
    """A projection on concrete tables."""

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table it writes, parents before children."""
        ...

    def apply(
        self,
        connection: Connection,
        changes: Sequence[Change],
        *,
        fresh: bool = False,
        cache: ProjectionCache | None = None,
    ) -> None:
        """Fold the batch into the tables; the caller commits.

        Batches come in position order, or — in a rebuild's pass `by_stream` — as whole
        streams in stream order, and then `fresh` says that no row of those streams exists yet
        (nothing to load). `cache`: the rows as the previous batch left them (a live
        catch-up's, `cache.py`), to look rows up in before the database, and to stage the
        batch's rows in.
        """
        ...

    def finish(self, connection: Connection) -> None:
        """After a rebuild's fill, before its swap: settle what `fresh` batches left aside."""
        ...


@dataclass(frozen=True, slots=True)
class RebuildPass:
    """One pass of a rebuild over the log: some event types, in stream or in position order.

    In stream order each batch holds whole streams, and `apply` is told the batch is `fresh`
    (none of its streams has rows yet): each row is inserted once, complete, instead of being
    loaded and rewritten by every batch it appears in. Only for rows that depend on their own
    stream alone (and for parts, such as sums, that do not depend on the order of streams).
    """

    event_types: frozenset[str]
    by_stream: bool
    #: By stream: the start of the stream ids that hold every event of `event_types` (e.g.
    #: "employee-"); the pass starts reading there instead of walking (and reading the rows of)
    #: every stream that sorts before. Only a lower bound, so any collation is safe with it.
    streams: str = ""


@dataclass(frozen=True)
class Projection:
    """A named projection: one checkpoint, the event types it reads, its tables."""

    name: str
    #: Only these event types are read (the checkpoint still moves past all others).
    event_types: frozenset[str]
    #: Event types whose personal fields it shows (names, goal titles): those are unsealed.
    personal_types: frozenset[str]
    bind: Callable[[MetaData, str], BoundProjection] = field(repr=False)
    #: How a rebuild reads the log; by default one pass over `event_types` in position order,
    #: exactly as a catch-up does. Whatever the passes, the result must equal the live tables.
    rebuild_passes: tuple[RebuildPass, ...] = ()
    #: Build the shadow tables' secondary indexes after the fill rather than during it (one
    #: sorted build instead of a random-order insert per row and index): for projections whose
    #: own lookups use primary keys only.
    defer_indexes: bool = False

    @property
    def passes(self) -> tuple[RebuildPass, ...]:
        return self.rebuild_passes or (RebuildPass(self.event_types, by_stream=False),)

    @cached_property
    def live(self) -> BoundProjection:
        """The projection on its live tables."""
        return self.bind(read_model_metadata, "")

    @cached_property
    def shadow(self) -> BoundProjection:
        """The projection on the shadow tables a build aside fills (`rebuild.py`)."""
        return self.bind(shadow_metadata(), SHADOW_SUFFIX)
