"""Notifications leave through the outbox and the dramatiq `deliver_notifications` actor.

- Embedded (`pop serve`): a firing nudges the in-process worker, which mails each reminder
  once; an outbox row whose nudge never came is delivered by the worker's sweep.
- Production: a real redis-server, two real worker processes (`pop worker` and `dramatiq
  handlers.workers`) and a real SMTP server: each mail arrives exactly once; a mail server that
  refuses for a while is retried with back-off and delivers once; one that keeps refusing
  ends in a dead letter that `pop outbox list` shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from events.domain import Reason
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from handlers.broker import delivery_nudge_for
from handlers.workers import RunningWorker, start_in_process
from scheduler.delivery import MAX_ATTEMPTS
from scheduler.runner import SchedulerService, build_scheduler
from scheduler.senders import message_id_header
from scheduler.tables import outbox_table
from tests.integration.conftest import SQL_KINDS
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from tests.support.smtp import Inbox, running_smtp
from tests.support.workers import DRAMATIQ, POP_WORKER, ROOT, Processes, wait_until, worker_env
from workflow.employee import RegisterEmployee

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
DUE = START + timedelta(days=7, hours=1)  # the invitation reminders are due


class RefusingInbox(Inbox):
    """An SMTP server that refuses each message its first `refusals` times (451: try later)."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.tries: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        message_id = _message_id(envelope.content)
        self.tries[message_id] += 1
        if self.tries[message_id] <= self.refusals:
            return "451 4.3.0 mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


def _message_id(content: bytes) -> str:
    for line in content.decode("utf-8", "replace").splitlines():
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("a mail without a Message-ID")


def invite(app: Popcycle, clock: FakeClock, employees: int) -> list[str]:
    """`employees` people invited at START, their reminders in the table (due at DUE)."""
    app.commands.register_employee(HR, RegisterEmployee("M1", "Mia Manager", "mia@example.nl"))
    for n in range(employees):
        app.commands.register_employee(
            HR, RegisterEmployee(f"E{n}", f"Emma {n}", f"e{n}@example.com", "M1", language="en")
        )
        app.commands.start_cycle(HR, f"E{n}", "M1", Reason.PERIODIC)
    build_scheduler(app).tick()
    clock.set(DUE)
    return [f"e{n}@example.com" for n in range(employees)]


def outbox(app: Popcycle) -> list[Any]:
    with app.engine.connect() as connection:
        return list(connection.execute(select(outbox_table)).all())


def statuses(app: Popcycle) -> Counter[str]:
    return Counter(row.status for row in outbox(app))


def assert_each_mailed_once(app: Popcycle, inbox: Inbox, addresses: list[str]) -> None:
    received = [(rcpt, mail) for rcpt, mail in inbox.messages]
    assert sorted(rcpt[0] for rcpt, _mail in received) == sorted(addresses)
    ids = Counter(mail["Message-ID"] for _rcpt, mail in received)
    assert set(ids.values()) == {1}
    assert set(ids) == {message_id_header(row.message_id) for row in outbox(app)}
    subjects = {mail["Subject"] for _rcpt, mail in received}
    assert subjects == {"Reminder: invitation to your POP interview"}  # English, as asked
    assert all(isinstance(mail, EmailMessage) for _rcpt, mail in received)


# --- embedded: the in-process worker of `pop serve` ---------------------------------------


@contextmanager
def embedded(tmp_path: Path, employees: int) -> Iterator[tuple[Popcycle, Inbox, list[str]]]:
    """An app on SQLite mailing to a test SMTP server, `employees` people invited (see `invite`)."""
    clock = FakeClock(START)
    with (
        running_smtp() as (smtp_url, inbox),
        wired(database_url("sqlite", tmp_path, None), clock, POP_SMTP_URL=smtp_url) as app,
    ):
        yield app, inbox, invite(app, clock, employees)


def test_a_firing_nudges_the_in_process_worker_which_mails_once(
    tmp_path: Path, started: list[RunningWorker]
) -> None:
    with embedded(tmp_path, 5) as (app, inbox, addresses):
        # Given the worker of `pop serve`, whose sweep would only come after an hour
        started.append(start_in_process(app, threads=2, sweep_seconds=3600))
        # When the scheduler fires (a tick never delivers: it only nudges the worker)
        scheduler = build_scheduler(app)
        scheduler.on_queued = delivery_nudge_for(app.settings)
        assert scheduler.tick() == 5
        # Then the nudge alone gets every mail out, once
        wait_until(lambda: statuses(app) == {"sent": 5}, 20, "the worker delivered")
        assert_each_mailed_once(app, inbox, addresses)


def test_an_outbox_row_without_its_nudge_is_delivered_by_the_sweep(
    tmp_path: Path, started: list[RunningWorker]
) -> None:
    with embedded(tmp_path, 3) as (app, inbox, addresses):
        # Given reminders fired by a scheduler that died before it could nudge anyone
        assert build_scheduler(app).tick() == 3  # no `on_queued`: no nudge at all
        assert statuses(app) == {"pending": 3}
        # When a worker runs, sweeping every half second
        started.append(start_in_process(app, threads=1, sweep_seconds=0.5))
        # Then its sweep finds the due rows and has them delivered
        wait_until(lambda: statuses(app) == {"sent": 3}, 20, "the sweep delivered")
        assert_each_mailed_once(app, inbox, addresses)


# --- production: redis-server and real worker processes -----------------------------------


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_two_worker_processes_mail_each_reminder_exactly_once(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    flushed_redis: str,
    processes: Processes,
) -> None:
    postgres = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    url = database_url(kind, tmp_path, postgres)
    clock = FakeClock(START)
    with (
        running_smtp() as (smtp_url, inbox),
        wired(url, clock, POP_BROKER_URL=flushed_redis) as app,
    ):
        addresses = invite(app, clock, 24)
        env = worker_env(url, flushed_redis, POP_SMTP_URL=smtp_url, POP_SWEEP_SECONDS="0.5")
        processes.start(POP_WORKER, env)
        processes.start(DRAMATIQ, env)
        # When the reminders fire: each batch's commit nudges the workers through Redis,
        # and both workers' sweeps keep asking for the same rows while they are due
        assert SchedulerService(app).run_once() == 24
        wait_until(lambda: statuses(app) == {"sent": 24}, 60, "the workers delivered")
        # Then every reminder arrived once, whoever sent it
        assert_each_mailed_once(app, inbox, addresses)
        assert all(row.attempts == 1 for row in outbox(app))


@dataclass(frozen=True)
class RefusedRun:
    """A `pop worker` delivering fired reminders to a mail server that refuses at first."""

    app: Popcycle
    inbox: RefusingInbox
    env: dict[str, str]
    addresses: list[str]


@contextmanager
def refused_delivery(
    tmp_path: Path,
    broker: str,
    processes: Processes,
    *,
    refusals: int,
    employees: int,
    backoff: str,
) -> Iterator[RefusedRun]:
    """Reminders of `employees` people fired, one worker mailing them to a server that refuses
    each message its first `refusals` times (back-off `backoff` seconds between tries)."""
    url = database_url("sqlite", tmp_path, None)
    clock = FakeClock(START)
    refusing = RefusingInbox(refusals)
    with (
        running_smtp(refusing) as (smtp_url, _inbox),
        wired(url, clock, POP_BROKER_URL=broker) as app,
    ):
        addresses = invite(app, clock, employees)
        env = worker_env(
            url,
            broker,
            POP_SMTP_URL=smtp_url,
            POP_SWEEP_SECONDS="0.3",
            POP_DELIVERY_BACKOFF_SECONDS=backoff,
        )
        processes.start(POP_WORKER, env)
        assert SchedulerService(app).run_once() == employees
        yield RefusedRun(app, refusing, env, addresses)


def test_a_mail_server_that_refuses_for_a_while_gets_each_mail_once_after_retries(
    tmp_path: Path, flushed_redis: str, processes: Processes
) -> None:
    with refused_delivery(
        tmp_path, flushed_redis, processes, refusals=2, employees=3, backoff="0.2"
    ) as run:
        app = run.app
        wait_until(lambda: statuses(app) == {"sent": 3}, 60, "delivered after the refusals")
        assert_each_mailed_once(app, run.inbox, run.addresses)
        assert set(run.inbox.tries.values()) == {3}  # two refusals, then accepted
        assert all(row.attempts == 3 for row in outbox(app))


def test_a_mail_server_that_keeps_refusing_leaves_a_visible_dead_letter(
    tmp_path: Path, flushed_redis: str, processes: Processes
) -> None:
    with refused_delivery(
        tmp_path, flushed_redis, processes, refusals=1_000, employees=1, backoff="0.1"
    ) as run:
        app = run.app
        wait_until(lambda: statuses(app) == {"dead": 1}, 90, "given up as a dead letter")
        (row,) = outbox(app)
        assert row.attempts == MAX_ATTEMPTS
        assert list(run.inbox.tries.values()) == [MAX_ATTEMPTS]  # retried, then no more
        assert "451" in (row.last_error or "")
        assert run.inbox.messages == []
        # And the dead letter is listed for an operator
        listed = subprocess.run(
            [sys.executable, "-m", "handlers", "outbox", "list"],
            env={**os.environ, **run.env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split("\t")[:3] == [row.message_id, "email", str(MAX_ATTEMPTS)]
        assert "1 dead notifications" in listed.stderr
