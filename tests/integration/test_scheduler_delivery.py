"""Reminders reach people: real SMTP (aiosmtpd), in their language; failures end as dead letters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from events.database import write_transaction
from events.domain import Reason
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from scheduler.delivery import MAX_ATTEMPTS, DeliveryReport, deliver_due
from scheduler.runner import build_scheduler
from scheduler.senders import message_id_header
from scheduler.tables import outbox_table
from tests.integration.conftest import SQL_KINDS
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from tests.support.postgres import free_port
from tests.support.smtp import Inbox, running_smtp
from workflow.employee import RegisterEmployee

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    with running_smtp() as server:
        yield server


def _cycle_with_due_reminder(app: Popcycle, clock: FakeClock) -> str:
    commands = app.commands
    commands.register_employee(HR, RegisterEmployee("M1", "Mia Manager", "mia@example.nl"))
    commands.register_employee(
        HR, RegisterEmployee("E1", "Emma English", "emma@example.com", "M1", language="en")
    )
    cycle = commands.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
    assert cycle is not None
    build_scheduler(app).tick()
    clock.set(START + timedelta(days=14))  # reminder (employee) and escalation (manager) due
    assert build_scheduler(app).tick() == 2
    return cycle


@contextmanager
def due_reminders(tmp_path: Path, smtp_url: str) -> Iterator[tuple[Popcycle, FakeClock, str]]:
    """An app on SQLite mailing through `smtp_url`: its clock, and the cycle whose reminder and
    escalation are queued and due (see `_cycle_with_due_reminder`)."""
    clock = FakeClock(START)
    with wired(database_url("sqlite", tmp_path, None), clock, POP_SMTP_URL=smtp_url) as app:
        yield app, clock, _cycle_with_due_reminder(app, clock)


def test_reminders_are_mailed_in_each_recipients_language(
    tmp_path: Path, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    with due_reminders(tmp_path, url) as (app, _clock, cycle):
        report = deliver_due(app)
        assert (report.sent, report.dead) == (2, 0)
        assert deliver_due(app).sent == 0  # nothing is sent twice
    by_rcpt = {rcpt[0]: mail for rcpt, mail in inbox.messages}
    assert set(by_rcpt) == {"emma@example.com", "mia@example.nl"}
    english, dutch = by_rcpt["emma@example.com"], by_rcpt["mia@example.nl"]
    assert english["Subject"] == "Reminder: invitation to your POP interview"
    assert dutch["Subject"] == "Uitnodiging POP nog niet opgepakt"
    key = f"{cycle}:invitation.reminder:2026-03-02:E1"
    assert english["Message-ID"] == message_id_header(key)
    plain = english.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Dear Emma English" in text
    assert "later than planned" in text  # it was a week late
    assert english.get_body(("html",)) is not None


def test_a_mail_server_that_stays_down_ends_in_a_dead_letter(tmp_path: Path) -> None:
    closed = f"smtp://127.0.0.1:{free_port()}"
    with due_reminders(tmp_path, closed) as (app, clock, _cycle):
        for _attempt in range(MAX_ATTEMPTS):
            deliver_due(app)
            clock.advance(timedelta(hours=7))  # past every back-off
        with app.engine.connect() as connection:
            rows = connection.execute(
                select(outbox_table.c.status, outbox_table.c.attempts, outbox_table.c.last_error)
            ).all()
    assert [row.status for row in rows] == ["dead", "dead"]
    assert all(row.attempts == MAX_ATTEMPTS for row in rows)
    assert all("smtp" in (row.last_error or "") for row in rows)


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_deliverers_running_at_once_send_each_mail_once(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    postgres = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    clock = FakeClock(START)
    with wired(database_url(kind, tmp_path, postgres), clock, POP_SMTP_URL=url) as app:
        app.commands.register_employee(HR, RegisterEmployee("M1", "Mia", "mia@example.nl"))
        for n in range(20):
            app.commands.register_employee(
                HR, RegisterEmployee(f"E{n}", f"E {n}", f"e{n}@example.com", "M1")
            )
            app.commands.start_cycle(HR, f"E{n}", "M1", Reason.PERIODIC)
        build_scheduler(app).tick()
        clock.set(START + timedelta(days=7, hours=1))
        assert build_scheduler(app).tick() == 20
        # When four deliverers (workers) work through the outbox at the same moment
        barrier = threading.Barrier(4)
        reports: list[DeliveryReport] = []

        def deliver() -> None:
            barrier.wait()
            reports.append(deliver_due(app, limit=2))

        threads = [threading.Thread(target=deliver) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        # Then each row was leased by one of them: every mail went out once
        assert sum(report.sent for report in reports) == 20
        ids = Counter(mail["Message-ID"] for _rcpt, mail in inbox.messages)
        assert len(ids) == 20
        assert set(ids.values()) == {1}


def test_a_row_whose_deliverers_all_died_is_given_up_visibly(
    tmp_path: Path, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    with due_reminders(tmp_path, url) as (app, _clock, _cycle):
        # Given rows taken MAX_ATTEMPTS times by deliverers that were killed before recording
        # an outcome (each take counts the attempt and leases the row)
        with write_transaction(app.engine) as connection:
            connection.execute(update(outbox_table).values(attempts=MAX_ATTEMPTS))
        # When a deliverer finds them due again, it gives them up instead of sending
        report = deliver_due(app)
        with app.engine.connect() as connection:
            rows = connection.execute(
                select(outbox_table.c.status, outbox_table.c.last_error)
            ).all()
    assert report.sent == 0
    assert inbox.messages == []
    assert [row.status for row in rows] == ["dead", "dead"]
    assert all("died" in (row.last_error or "") for row in rows)
