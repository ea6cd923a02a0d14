"""Projection lag: how far each projection is behind the log, in events and in seconds.

`events_behind` is the log head minus the checkpoint (positions are gapless). `seconds_behind`
is how long the oldest event not yet applied has been waiting: the time of asking minus its
`recorded_at` (0 when caught up). Both come from one read transaction, so they agree. A
projection being built aside (`rebuild.py`) also says how far the build got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from events.database import read_transaction
from events.schema import events_table
from handlers.projections.base import Projection
from handlers.projections.changes import HEAD_QUERY
from handlers.projections.checkpoints import read_checkpoints
from handlers.projections.rebuild import Build, read_build

_events = events_table.c


@dataclass(frozen=True, slots=True)
class Lag:
    """Where one projection stands against the log."""

    name: str
    position: int
    head: int
    seconds_behind: float
    building: Build | None = None  # a build aside under way

    @property
    def events_behind(self) -> int:
        return max(0, self.head - self.position)

    @property
    def caught_up(self) -> bool:
        return self.events_behind == 0

    def to_json(self) -> dict[str, object]:
        return {
            "projection": self.name,
            "position": self.position,
            "head": self.head,
            "events_behind": self.events_behind,
            "seconds_behind": round(self.seconds_behind, 3),
            "building": None if self.building is None else self.building.progress(),
        }


def lag(engine: Engine, projections: Sequence[Projection], now: datetime) -> list[Lag]:
    """Each projection's lag at `now` (a projection never run counts from position 0)."""
    with read_transaction(engine) as connection:
        head = int(connection.execute(HEAD_QUERY).scalar() or 0)
        positions = read_checkpoints(connection)
        found: list[Lag] = []
        for projection in projections:
            position = positions.get(projection.name, 0)
            seconds = 0.0
            if position < head:
                oldest = connection.execute(
                    select(_events.recorded_at)
                    .where(_events.position > position)
                    .order_by(_events.position)
                    .limit(1)
                ).scalar()
                if oldest is not None:
                    seconds = max(0.0, (now - oldest).total_seconds())
            building = read_build(connection, projection.name)
            found.append(Lag(projection.name, position, head, seconds, building))
    return found
