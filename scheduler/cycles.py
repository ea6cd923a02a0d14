"""Reading many cycles at once: one query for a batch's streams instead of one per cycle.

Firing judges each claim on its cycle's current state; read stream by stream, that was a round
trip (on SQLite a transaction) per follow-up, the largest part of firing a batch. The rows are
the event store's own, unsealed and folded by the repository like any other read; the append
that follows names the versions read here, so a cycle that moves on meanwhile conflicts.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, select

from events.domain import CYCLE_EVENT_TYPES
from events.schema import events_table
from events.sqlstore import EVENT_COLUMNS, stored_event
from handlers.repository import Repository, cycle_stream
from workflow.state import CycleState, evolve

_e = events_table.c
#: Streams per query: bounded IN lists (SQLite's and PostgreSQL's parameter limits are far).
CHUNK = 500


def read_cycles(
    engine: Engine, repository: Repository, cycle_ids: Iterable[str]
) -> dict[str, CycleState]:
    """The current state of every existing cycle among `cycle_ids` (unknown ones are left out)."""
    wanted = list(dict.fromkeys(cycle_ids))
    states: dict[str, CycleState] = {}
    for start in range(0, len(wanted), CHUNK):
        streams = [cycle_stream(cycle_id) for cycle_id in wanted[start : start + CHUNK]]
        query = (
            select(*EVENT_COLUMNS)
            .where(_e.stream_id.in_(streams))
            .order_by(_e.stream_id, _e.version)
        )
        with engine.connect() as connection:
            stored = [stored_event(row) for row in connection.execute(query)]
        folded: dict[str, CycleState] = {}
        for event, decoded in zip(stored, repository.decoded(stored), strict=True):
            if not isinstance(decoded, CYCLE_EVENT_TYPES):
                raise TypeError(f"{type(decoded).__name__} is not a cycle event")
            folded[event.stream_id] = evolve(folded.get(event.stream_id), decoded)
        states.update({state.cycle_id: state for state in folded.values()})
    return states
