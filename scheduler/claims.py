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

from sqlalchemy import ColumnElement, Engine, and_, insert, or_, select, update

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
    """Close a claim (fired or moot) and queue its notifications, in one transaction.

    False if the lease was lost to another scheduler meanwhile: then nothing is written, and
    the other scheduler (which finds the follow-up already fired) queues the notifications.
    Outbox rows are keyed by follow-up and recipient, so queueing twice sends once.
    """
    with write_transaction(engine) as connection:
        done = connection.execute(
            update(followups_table)
            .where(_f.key == claim.key, _f.lease_owner == owner, _f.status == CLAIMED)
            .values(status=status, fired_at=fired_at, late_seconds=late_seconds, lease_until=None)
        )
        if not done.rowcount:
            return False
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
    return True
