"""Working through the outbox: deliver, retry with back-off, and give up visibly.

A row is taken by moving its `next_attempt_at` into the future (its lease) in the same
transaction that counts the attempt, so two deliverers never send the same row at once. After
`MAX_ATTEMPTS` failures the row is a dead letter: still in the table, with its last error,
listed by `pop scheduler status` — never silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, Row, select, update

from events.database import write_transaction
from events.personal import ERASED
from handlers.bootstrap import Popcycle
from scheduler.messages import compose
from scheduler.senders import DeliveryError, SmtpSender, WebhookSender
from scheduler.tables import DEAD, PENDING, SENT, outbox_table
from workflow.errors import NotFound

log = structlog.get_logger(__name__)
_o = outbox_table.c
MAX_ATTEMPTS = 6
BASE_BACKOFF = timedelta(seconds=30)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at 6 h: quick for a hiccup, patient for an outage."""
    factor: int = 2 ** max(0, attempts - 1)
    return min(BASE_BACKOFF * factor, timedelta(hours=6))


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int
    retried: int
    dead: int


def _take(engine: Engine, now: datetime, limit: int) -> list[Row[Any]]:
    due = (_o.status == PENDING) & (_o.next_attempt_at <= now)
    with write_transaction(engine) as connection:
        query = select(outbox_table).where(due).order_by(_o.next_attempt_at).limit(limit)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = connection.execute(query).all()
        for row in rows:
            connection.execute(
                update(outbox_table)
                .where(_o.message_id == row.message_id)
                .values(attempts=row.attempts + 1, next_attempt_at=now + backoff(row.attempts + 1))
            )
    return list(rows)


def deliver_due(app: Popcycle, limit: int = 200) -> DeliveryReport:
    """Send what is due in the outbox now; returns what happened."""
    now = app.clock()
    sent = retried = dead = 0
    for row in _take(app.engine, now, limit):
        try:
            _send(app, row)
        except DeliveryError as error:
            attempts = row.attempts + 1
            status = DEAD if attempts >= MAX_ATTEMPTS else PENDING
            _mark(app.engine, row.message_id, status, error=str(error)[:500])
            dead += status == DEAD
            retried += status == PENDING
            log.warning(
                "notification.failed",
                message_id=row.message_id,
                attempts=attempts,
                status=status,
                channel=row.channel,
            )
            continue
        _mark(app.engine, row.message_id, SENT, sent_at=app.clock())
        sent += 1
        log.info("notification.sent", message_id=row.message_id, channel=row.channel)
    return DeliveryReport(sent, retried, dead)


def _mark(
    engine: Engine,
    message_id: str,
    status: str,
    *,
    error: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            update(outbox_table)
            .where(_o.message_id == message_id)
            .values(status=status, last_error=error, sent_at=sent_at)
        )


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
