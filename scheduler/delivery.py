"""Working through the outbox: deliver, retry with back-off, and give up visibly.

The outbox is the truth; the dramatiq `deliver_notifications` actor (scheduler/actors.py)
only runs this. A row is taken by moving its `next_attempt_at` one lease into the future in
the same transaction that counts the attempt, so two deliverers never send the same row at
once; the attempt count is the lease's fencing token, so a deliverer that overran its lease
cannot overwrite the outcome of the one that took the row over. A failure sets the next
attempt after a back-off. After `MAX_ATTEMPTS` failures the row is a dead letter: still in the
table, with its last error, listed by `pop outbox list --status dead` — never silently lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, Row, bindparam, select, update

from events.database import write_transaction
from events.personal import ERASED
from handlers.bootstrap import Popcycle
from handlers.settings import SettingsError
from scheduler.messages import compose
from scheduler.senders import DeliveryError, SmtpSender, WebhookSender
from scheduler.tables import DEAD, PENDING, SENT, outbox_table
from workflow.errors import NotFound

log = structlog.get_logger(__name__)
_o = outbox_table.c
MAX_ATTEMPTS = 6
BASE_BACKOFF = timedelta(seconds=30)
#: How long a deliverer holds the rows it took. Each send times out after 15 s
#: (`senders.TIMEOUT_SECONDS`), so `TAKE_AT_ONCE` sends end well within one lease.
LEASE = timedelta(minutes=5)
TAKE_AT_ONCE = 10


def base_backoff() -> timedelta:
    """The first retry's delay: POP_DELIVERY_BACKOFF_SECONDS, 30 s by default."""
    raw = os.environ.get("POP_DELIVERY_BACKOFF_SECONDS")
    if not raw:
        return BASE_BACKOFF
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise SettingsError(
            f"POP_DELIVERY_BACKOFF_SECONDS: a number of seconds (0-3600], not {raw!r}"
        )
    return timedelta(seconds=seconds)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at 6 h: quick for a hiccup, patient for an outage."""
    factor: int = 2 ** max(0, attempts - 1)
    return min(base_backoff() * factor, timedelta(hours=6))


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int
    retried: int
    dead: int
    more: bool = False  # stopped at the time budget with rows perhaps still due


@dataclass(frozen=True, slots=True)
class _Taken:
    """An outbox row this deliverer holds: `attempt` is its fencing token."""

    row: Row[Any]
    attempt: int


def _take(engine: Engine, now: datetime, limit: int) -> tuple[list[_Taken], int]:
    """Lease up to `limit` due rows: count the attempt and move `next_attempt_at` a lease on;
    returns them and how many rows were due (some may have been given up).

    PostgreSQL skips rows another deliverer has locked; SQLite holds the write lock
    (`BEGIN IMMEDIATE`) from the SELECT on. Either way a row is taken by one deliverer only.
    """
    due = (_o.status == PENDING) & (_o.next_attempt_at <= now)
    with write_transaction(engine) as connection:
        query = select(outbox_table).where(due).order_by(_o.next_attempt_at).limit(limit)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        found = connection.execute(query).all()
        # Every attempt so far ended without an outcome (its deliverer died each time, perhaps
        # on this very row): give up visibly rather than take it forever.
        lost = [row.message_id for row in found if row.attempts >= MAX_ATTEMPTS]
        if lost:
            connection.execute(
                update(outbox_table)
                .where(_o.message_id.in_(lost))
                .values(status=DEAD, last_error="no outcome recorded: the deliverer died")
            )
        rows = [row for row in found if row.attempts < MAX_ATTEMPTS]
        if rows:
            connection.execute(
                _LEASE,
                [
                    {"b_id": row.message_id, "b_attempts": row.attempts + 1, "b_until": now + LEASE}
                    for row in rows
                ],
            )
    if lost:
        log.warning("notification.abandoned", message_ids=lost)
    return [_Taken(row, row.attempts + 1) for row in rows], len(found)


_LEASE = (
    update(outbox_table)
    .where(_o.message_id == bindparam("b_id"))
    .values(attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_until"))
)


def deliver_due(
    app: Popcycle, limit: int = TAKE_AT_ONCE, budget_seconds: float | None = None
) -> DeliveryReport:
    """Send what is due in the outbox now, `limit` rows per lease, until none is left (or the
    time budget is spent); returns what happened."""
    started = time.monotonic()
    sent = retried = dead = 0
    while True:
        taken, found = _take(app.engine, app.clock(), limit)
        for held in taken:
            outcome = _attempt(app, held)
            sent += outcome == SENT
            retried += outcome == PENDING
            dead += outcome == DEAD
        if found < limit:
            break
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            return DeliveryReport(sent, retried, dead, more=True)
    return DeliveryReport(sent, retried, dead)


def _attempt(app: Popcycle, held: _Taken) -> str:
    """Send one held row and record the outcome: sent, pending again (back-off), or dead."""
    row = held.row
    try:
        _send(app, row)
    except Exception as error:  # a refusal, or a bug: retried, then a visible dead letter
        status = DEAD if held.attempt >= MAX_ATTEMPTS else PENDING
        why = str(error) if isinstance(error, DeliveryError) else type(error).__name__
        _mark(
            app.engine,
            held,
            status=status,
            last_error=why[:500],
            next_attempt_at=app.clock() + backoff(held.attempt),
        )
        log.warning(
            "notification.failed",
            message_id=row.message_id,
            attempts=held.attempt,
            status=status,
            channel=row.channel,
        )
        return status
    _mark(app.engine, held, status=SENT, last_error=None, sent_at=app.clock())
    log.info("notification.sent", message_id=row.message_id, channel=row.channel)
    return SENT


def _mark(engine: Engine, held: _Taken, **values: Any) -> None:
    """Record an outcome, unless the lease ran out and another deliverer took the row over."""
    with write_transaction(engine) as connection:
        connection.execute(
            update(outbox_table)
            .where(_o.message_id == held.row.message_id, _o.attempts == held.attempt)
            .values(**values)
        )


def has_due(engine: Engine, now: datetime) -> bool:
    """Whether any notification is due now (the safety sweep's cheap question)."""
    due = (_o.status == PENDING) & (_o.next_attempt_at <= now)
    with engine.connect() as connection:
        return connection.execute(select(_o.message_id).where(due).limit(1)).first() is not None


def _send(app: Popcycle, row: Row[Any]) -> None:
    settings = app.settings
    if row.channel == "webhook":
        if not settings.webhook_url:
            raise DeliveryError("webhook: POP_WEBHOOK_URL is not set")
        payload = {
            "message_id": row.message_id,
            "kind": row.kind,
            "cycle_id": row.cycle_id,
            "due_at": row.due_at.isoformat(),
            "late_seconds": row.late_seconds,
        }
        WebhookSender(settings.webhook_url, settings.webhook_secret).send(row.message_id, payload)
        return
    if not settings.smtp_url:
        raise DeliveryError("email: POP_SMTP_URL is not set")
    address, name, language = _recipient(app, row.recipient)
    message = compose(row.kind, language, name, row.cycle_id, row.late_seconds)
    SmtpSender(settings.smtp_url, settings.mail_from).send(row.message_id, address, message)


def _recipient(app: Popcycle, recipient: str) -> tuple[str, str, str]:
    """Address, name and language of a recipient ("hr": the configured HR mailbox)."""
    if recipient == "hr":
        if not app.settings.hr_email:
            raise DeliveryError("email: POP_HR_EMAIL is not set")
        return app.settings.hr_email, "HR", app.settings.language
    try:
        person = app.repository.employee(recipient)
    except NotFound as error:
        raise DeliveryError(f"email: {error.message}") from error
    if person.forgotten or person.email == ERASED:
        raise DeliveryError("email: the recipient was forgotten (GDPR erasure)")
    return person.email, person.name, person.language


def list_outbox(engine: Engine, status: str, limit: int) -> list[Row[Any]]:
    """Notifications in one status, oldest first (`pop outbox list`)."""
    query = (
        select(outbox_table)
        .where(_o.status == status)
        .order_by(_o.next_attempt_at, _o.message_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).all())


def retry_dead(engine: Engine, now: datetime, message_ids: Sequence[str] | None) -> int:
    """Queue dead letters again with fresh attempts (all, or the named ones: all or none of
    them); returns how many."""
    dead = _o.status == DEAD
    if message_ids is not None:
        dead = dead & _o.message_id.in_(list(message_ids))
    with write_transaction(engine) as connection:
        found = connection.execute(select(_o.message_id).where(dead)).scalars().all()
        if message_ids is not None and len(found) < len(set(message_ids)):
            return len(found)
        connection.execute(
            update(outbox_table)
            .where(dead)
            .values(status=PENDING, attempts=0, next_attempt_at=now, last_error=None)
        )
    return len(found)
