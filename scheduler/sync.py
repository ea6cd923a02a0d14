"""Keeping `followups` in step with the log: a checkpointed catch-up owned by the scheduler.

For every cycle touched by new events, the follow-ups its current state implies are written
as rows (new keys pending, keys already fired marked fired) and pending rows the state no
longer implies become moot. The checkpoint moves in the same transaction as the rows, so a
crash redoes a batch with the same effect. The scheduler runs this before each claim, so a
follow-up is due in the table as soon as the event that implies it is in the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from events.database import write_transaction
from events.schema import events_table
from handlers.repository import Repository
from scheduler.cycles import CHUNK, read_cycles
from scheduler.tables import FIRED, MOOT, PENDING, followups_table, scheduler_checkpoints_table
from workflow.followups import Calendar, FollowUp, followups_for
from workflow.phases import Phase
from workflow.policy import Policy
from workflow.state import CycleState

log = structlog.get_logger(__name__)
CHECKPOINT = "followups"
CYCLE_PREFIX = "cycle-"


@dataclass(frozen=True, slots=True)
class SyncResult:
    """How far a sync got."""

    position: int
    cycles: int
    events: int


def _checkpoint(connection: Connection) -> int:
    table = scheduler_checkpoints_table
    query = select(table.c.position).where(table.c.name == CHECKPOINT)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    position = connection.execute(query).scalar()
    if position is None:
        connection.execute(insert(table).values(name=CHECKPOINT, position=0))
        return 0
    return int(position)


def sync_batch(
    engine: Engine,
    repository: Repository,
    policy: Policy,
    calendar: Calendar,
    batch_size: int = 2000,
) -> SyncResult:
    """Bring the follow-ups of one batch of new events up to date; returns the new position."""
    with write_transaction(engine) as connection:
        position = _checkpoint(connection)
        rows = connection.execute(
            select(events_table.c.position, events_table.c.stream_id)
            .where(events_table.c.position > position)
            .order_by(events_table.c.position)
            .limit(batch_size)
        ).all()
        if not rows:
            return SyncResult(position, 0, 0)
        cycles = sorted({s[len(CYCLE_PREFIX) :] for _p, s in rows if s.startswith(CYCLE_PREFIX)})
        for start in range(0, len(cycles), CHUNK):
            chunk = cycles[start : start + CHUNK]
            states = read_cycles(engine, repository, chunk)
            _refresh(connection, repository, policy, calendar, list(states.values()))
        new_position = int(rows[-1][0])
        connection.execute(
            update(scheduler_checkpoints_table)
            .where(scheduler_checkpoints_table.c.name == CHECKPOINT)
            .values(position=new_position)
        )
    return SyncResult(new_position, len(cycles), len(rows))


def sync_all(
    engine: Engine,
    repository: Repository,
    policy: Policy,
    calendar: Calendar,
    batch_size: int = 2000,
) -> int:
    """Catch up to the end of the log; returns the number of events looked at."""
    total = 0
    while True:
        result = sync_batch(engine, repository, policy, calendar, batch_size)
        if result.events == 0:
            return total
        total += result.events
        log.info("followups.synced", position=result.position, cycles=result.cycles)


def _refresh(
    connection: Connection,
    repository: Repository,
    policy: Policy,
    calendar: Calendar,
    states: list[CycleState],
) -> None:
    """Make the rows of these cycles what their states imply, in a few statements for all."""
    table = followups_table
    wanted: dict[str, dict[str, FollowUp]] = {}
    for state in states:
        quadrant = None
        if state.phase is Phase.COMPLETED:
            quadrant = repository.employee(state.employee_id).quadrant
        implied = followups_for(state, policy, calendar, quadrant)
        wanted[state.cycle_id] = {f.key: f for f in implied}
    rows = connection.execute(
        select(table.c.key, table.c.cycle_id, table.c.status, table.c.recipients).where(
            table.c.cycle_id.in_(list(wanted))
        )
    ).all()
    fired = {key for state in states for key in state.fired_followups}
    for row in rows:
        followup = wanted[row.cycle_id].get(row.key)
        if followup is None:
            continue
        if row.status == MOOT and row.key not in fired:
            # Implied again: a revised plan, signed anew, keeps its last deadline (the same
            # evaluation.due key) and goals; a moot row would never fire.
            connection.execute(
                update(table)
                .where(table.c.key == row.key, table.c.status == MOOT)
                .values(
                    status=PENDING, due_at=followup.due_at, recipients=list(followup.recipients)
                )
            )
        elif row.status == PENDING and list(followup.recipients) != row.recipients:
            # who is to be reminded can change (a new manager must sign too)
            connection.execute(
                update(table)
                .where(table.c.key == row.key)
                .values(recipients=list(followup.recipients))
            )
    existing = {row.key for row in rows}
    new_rows = [
        {
            "key": f.key,
            "cycle_id": f.cycle_id,
            "kind": f.kind,
            "action": f.action,
            "due_at": f.due_at,
            "recipients": list(f.recipients),
            "status": FIRED if f.key in fired else PENDING,
            "attempts": 0,
        }
        for implied in wanted.values()
        for key, f in implied.items()
        if key not in existing
    ]
    if new_rows:
        connection.execute(insert(table), new_rows)
    keep = {key for implied in wanted.values() for key in implied}
    gone = _moot(((row.key, row.status) for row in rows), keep)
    if gone:
        connection.execute(
            update(table)
            .where(table.c.key.in_(gone), table.c.status == PENDING)
            .values(status=MOOT)
        )


def _moot(existing: Iterable[tuple[str, str]], wanted: Iterable[str]) -> list[str]:
    keep = set(wanted)
    return [key for key, status in existing if status == PENDING and key not in keep]
