"""Claiming due follow-ups with a lease, so that several schedulers fire each one once.

PostgreSQL: one `UPDATE … WHERE key IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`, so two
schedulers take disjoint rows without waiting on each other. SQLite: SQLAlchemy silently drops
`skip_locked` there (DESIGN.md, Known traps), so the claim runs under `BEGIN IMMEDIATE` (the
database write lock) with a conditional UPDATE that only takes rows still free. A claim whose
lease ran out (its scheduler died) is free again: nothing waits longer than one lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, bindparam, insert, or_, select, update

from events.database import write_transaction
from scheduler.tables import CLAIMED, PENDING, followups_table, outbox_table

_f = followups_table.c


@dataclass(frozen=True, slots=True)
class Claim:
    """A follow-up this scheduler holds until `lease_until`."""

    key: str
    cycle_id: str
    kind: str
    action: str
    due_at: datetime
    recipients: tuple[str, ...]


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        _f.due_at <= now,
        or_(_f.status == PENDING, and_(_f.status == CLAIMED, _f.lease_until < now)),
    )


def claim_due(
    engine: Engine, owner: str, now: datetime, lease: timedelta, limit: int = 100
) -> list[Claim]:
    """Take up to `limit` due follow-ups (oldest first) for `owner` until `now + lease`."""
    free = _claimable(now)
    values = {
        "status": CLAIMED,
        "lease_owner": owner,
        "lease_until": now + lease,
        "attempts": _f.attempts + 1,
    }
    returning = (_f.key, _f.cycle_id, _f.kind, _f.action, _f.due_at, _f.recipients)
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            candidates = (
                select(_f.key)
                .where(free)
                .order_by(_f.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            rows = connection.execute(
                update(followups_table)
                .where(_f.key.in_(candidates))
                .values(**values)
                .returning(*returning)
            ).all()
        else:
            keys = (
                connection.execute(select(_f.key).where(free).order_by(_f.due_at).limit(limit))
                .scalars()
                .all()
            )
            if not keys:
                return []
            connection.execute(
                update(followups_table).where(_f.key.in_(keys), free).values(**values)
            )
            rows = connection.execute(
                select(*returning).where(
                    _f.key.in_(keys), _f.lease_owner == owner, _f.status == CLAIMED
                )
            ).all()
    return sorted(
        (Claim(r.key, r.cycle_id, r.kind, r.action, r.due_at, tuple(r.recipients)) for r in rows),
        key=lambda claim: (claim.due_at, claim.key),
    )


@dataclass(frozen=True, slots=True)
class Closing:
    """How one claim ends: fired or moot, when and how late, and the notifications it sends."""

    claim: Claim
    status: str
    fired_at: datetime | None = None
    late_seconds: int | None = None
    outbox: tuple[dict[str, Any], ...] = ()


_CLOSE = (
    update(followups_table)
    .where(_f.key == bindparam("b_key"))
    .values(
        status=bindparam("b_status"),
        fired_at=bindparam("b_fired_at"),
        late_seconds=bindparam("b_late_seconds"),
        lease_until=None,
    )
)


def finish_all(engine: Engine, owner: str, closings: Sequence[Closing]) -> set[str]:
    """Close many claims and queue their notifications, in one transaction; returns the keys
    closed.

    A claim whose lease was lost to another scheduler meanwhile is left alone, and its
    notifications are not queued here: the other scheduler, which finds the follow-up already
    fired, queues them. Outbox rows are keyed by follow-up and recipient, so queueing twice
    sends once.
    """
    if not closings:
        return set()
    with write_transaction(engine) as connection:
        held_query = select(_f.key).where(
            _f.key.in_([c.claim.key for c in closings]),
            _f.lease_owner == owner,
            _f.status == CLAIMED,
        )
        if connection.dialect.name == "postgresql":
            held_query = held_query.with_for_update()  # SQLite: the write lock is already ours
        held = set(connection.execute(held_query).scalars())
        mine = [c for c in closings if c.claim.key in held]
        if not mine:
            return held
        connection.execute(
            _CLOSE,
            [
                {
                    "b_key": c.claim.key,
                    "b_status": c.status,
                    "b_fired_at": c.fired_at,
                    "b_late_seconds": c.late_seconds,
                }
                for c in mine
            ],
        )
        outbox = [row for c in mine for row in c.outbox]
        ids = [row["message_id"] for row in outbox]
        known = (
            set(
                connection.execute(
                    select(outbox_table.c.message_id).where(outbox_table.c.message_id.in_(ids))
                ).scalars()
            )
            if ids
            else set()
        )
        fresh = [row for row in outbox if row["message_id"] not in known]
        if fresh:
            connection.execute(insert(outbox_table), fresh)
    return held


def finish(
    engine: Engine,
    claim: Claim,
    owner: str,
    status: str,
    *,
    fired_at: datetime | None = None,
    late_seconds: int | None = None,
    outbox: Sequence[dict[str, Any]] = (),
) -> bool:
    """Close one claim (see `finish_all`); False if its lease was lost (nothing written)."""
    closing = Closing(claim, status, fired_at, late_seconds, tuple(outbox))
    return claim.key in finish_all(engine, owner, [closing])
