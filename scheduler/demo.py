"""The scheduler on the demo's clock: follow-ups fire at their times as `pop demo` runs.

`pop demo` (handlers/demo.py) moves a clock through years of history; before each step it
calls this tick with the step's time. Whenever that time has passed a moment at which
follow-ups fall due, the tick brings the follow-ups in step with the log, then moves the
clock to each due follow-up in turn and runs the real scheduler tick there: reminders,
escalations and the evaluation on the last deadline are fired by the same code, at the same
times and with the same `FollowUpFired` events as in production. Only their notifications
are not kept: they belong to the demo's past.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import delete, func, select

from events.database import write_transaction
from handlers.bootstrap import Popcycle
from handlers.clock import MovableClock
from handlers.demo import Tick
from scheduler.runner import build_scheduler
from scheduler.sync import sync_all
from scheduler.tables import PENDING, followups_table, outbox_table
from workflow.followups import Calendar

_f = followups_table.c


def demo_tick(app: Popcycle, clock: MovableClock) -> Tick:
    """A tick for the demo: fire, in due order, every follow-up due up to a moment."""
    followups = build_scheduler(app)
    calendar = followups.calendar
    after = datetime.min.replace(tzinfo=UTC)  # nothing can fall due before this

    def tick(until: datetime) -> int:
        nonlocal after
        if until < after:  # spares a sync per step: thousands of steps a day at scale
            return 0
        fired = 0
        sync_all(app.engine, app.repository, followups.policy, calendar)
        while (due := _next_due(app, until)) is not None:
            clock.set(due)  # one that fell due before `until`'s moment (just implied): late
            fired += followups.tick()
        if fired:
            _drop_notifications(app, followups.owner)
        after = _next_moment(until, calendar)
        return fired

    return tick


def _next_moment(now: datetime, calendar: Calendar) -> datetime:
    """The next moment after `now` at which a follow-up can fall due (workflow.followups):
    the send hour of a working day, or the start of a day (an evaluation: local midnight, or
    UTC midnight where that comes later)."""
    local = now.astimezone(calendar.zone).date()
    candidates: list[datetime] = []
    for day in (local, local + timedelta(days=1)):
        midnight = datetime.combine(day, time(0), calendar.zone)
        candidates.append(max(midnight, datetime.combine(day, time(0), UTC)))
        if calendar.is_working_day(day):
            candidates.append(datetime.combine(day, time(calendar.send_hour), calendar.zone))
    return min(moment for moment in candidates if moment > now)


def _next_due(app: Popcycle, until: datetime) -> datetime | None:
    """The earliest pending follow-up due by `until`."""
    query = select(func.min(_f.due_at)).where(_f.status == PENDING, _f.due_at <= until)
    with app.engine.connect() as connection:
        due: datetime | None = connection.execute(query).scalar()
    return due


def _drop_notifications(app: Popcycle, owner: str) -> None:
    """The demo's follow-ups fired in its past: their `FollowUpFired` events record that, but
    nobody is to be mailed years later about them, so their queued notifications go."""
    _o = outbox_table.c
    mine = select(_f.key).where(_f.key == _o.followup_key, _f.lease_owner == owner)
    with write_transaction(app.engine) as connection:  # the outbox holds this tick's rows only
        connection.execute(delete(outbox_table).where(mine.exists()))
