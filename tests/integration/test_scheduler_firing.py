"""Follow-ups fire exactly once in effect: on time, late after downtime, never when moot."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from events.domain import Reason, Side
from events.records import StoredEvent
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from handlers.repository import Repository
from scheduler import firing
from scheduler.claims import claim_due
from scheduler.cycles import read_cycles
from scheduler.firing import FollowUpScheduler
from scheduler.runner import build_scheduler
from scheduler.tables import followups_table, outbox_table
from tests.integration.conftest import SQL_KINDS
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from workflow.commands import RecordFollowUp, SubmitPreparation
from workflow.employee import RegisterEmployee
from workflow.state import CycleState

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(params=SQL_KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return database_url(request.param, tmp_path, postgres)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def app(url: str, clock: FakeClock) -> Iterator[Popcycle]:
    with wired(url, clock) as popcycle:
        popcycle.commands.register_employee(HR, RegisterEmployee("M1", "Mia", "m@example.nl"))
        yield popcycle


def _invite(app: Popcycle, employee: str, interview_in_days: int = 21) -> str:
    app.commands.register_employee(
        HR, RegisterEmployee(employee, f"Naam {employee}", f"{employee.lower()}@example.nl", "M1")
    )
    interview = app.clock() + timedelta(days=interview_in_days)
    cycle = app.commands.start_cycle(HR, employee, "M1", Reason.PERIODIC, interview).cycle_id
    assert cycle is not None
    return cycle


def _fired(app: Popcycle, cycle_id: str) -> list[tuple[str, int]]:
    """(kind, late_seconds) of every FollowUpFired on the cycle's stream."""
    return [
        (data["kind"], data["late_seconds"])
        for event, data in app.repository.unsealed(app.store.read_stream(f"cycle-{cycle_id}"))
        if event.type == "FollowUpFired"
    ]


def test_reminders_fire_on_time_and_once(app: Popcycle, clock: FakeClock) -> None:
    cycle = _invite(app, "E1")
    scheduler = build_scheduler(app)
    assert scheduler.tick() == 0  # nothing due yet
    # When the clock reaches the invitation reminder (7 days later, 09:00 Amsterdam = 08:00 UTC)
    clock.set(START + timedelta(days=7))
    assert scheduler.tick() == 1
    assert scheduler.tick() == 0  # and a second tick fires nothing again
    assert _fired(app, cycle) == [("invitation.reminder", 0)]


def test_after_downtime_each_due_followup_fires_once_marked_late(
    app: Popcycle, clock: FakeClock
) -> None:
    cycle = _invite(app, "E1")
    scheduler = build_scheduler(app)
    scheduler.tick()
    # Given nothing ran for three weeks: reminder, escalation, preparation reminders all passed
    clock.set(START + timedelta(days=20))
    fired = scheduler.tick()
    kinds = Counter(kind for kind, _late in _fired(app, cycle))
    assert fired == len(_fired(app, cycle)) >= 3
    assert kinds["invitation.reminder"] == 1
    assert kinds["invitation.escalation"] == 1
    assert all(late > 0 for _kind, late in _fired(app, cycle))
    assert scheduler.tick() == 0


def test_a_followup_made_moot_meanwhile_does_not_fire(app: Popcycle, clock: FakeClock) -> None:
    cycle = _invite(app, "E1")
    scheduler = build_scheduler(app)
    scheduler.tick()  # the invitation reminder is in the table, pending
    # When the employee answers the invitation before the reminder is due
    clock.set(START + timedelta(days=2))
    app.commands.handle(HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("groeien",)))
    clock.set(START + timedelta(days=8))
    scheduler.tick()
    assert "invitation.reminder" not in [kind for kind, _ in _fired(app, cycle)]


def test_a_dead_schedulers_claim_is_taken_over_after_its_lease(
    app: Popcycle, clock: FakeClock
) -> None:
    cycle = _invite(app, "E1")
    build_scheduler(app).tick()
    clock.set(START + timedelta(days=7, hours=1))
    # Given a scheduler that claimed the reminder and was killed before firing it
    (claim,) = claim_due(app.engine, "killed-scheduler", clock(), timedelta(minutes=5))
    assert claim.kind == "invitation.reminder"
    other = build_scheduler(app)
    assert other.tick() == 0  # still leased: not fired twice
    # When the lease runs out, another scheduler fires it, once
    clock.advance(timedelta(minutes=6))
    assert other.tick() == 1
    assert [kind for kind, _ in _fired(app, cycle)] == ["invitation.reminder"]


def test_several_schedulers_at_once_fire_each_followup_once(
    app: Popcycle, clock: FakeClock
) -> None:
    cycles = [_invite(app, f"E{n}") for n in range(12)]
    schedulers = [build_scheduler(app) for _ in range(3)]
    schedulers[0].tick()
    clock.set(START + timedelta(days=30))
    barrier = threading.Barrier(len(schedulers))
    errors: list[BaseException] = []

    def run(scheduler: FollowUpScheduler) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                scheduler.tick()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for cycle in cycles:
        kinds = [kind for kind, _ in _fired(app, cycle)]
        assert kinds, cycle
        assert len(kinds) == len(set(kinds)), f"{cycle} fired twice: {kinds}"


def _fired_events(app: Popcycle, cycles: list[str]) -> list[StoredEvent]:
    return [
        event
        for cycle in cycles
        for event in app.store.read_stream(f"cycle-{cycle}")
        if event.type == "FollowUpFired"
    ]


def test_a_batch_of_reminders_is_one_append_and_its_notifications_one_close(
    app: Popcycle, clock: FakeClock
) -> None:
    cycles = [_invite(app, f"E{n}") for n in range(7)]
    scheduler = build_scheduler(app)
    scheduler.batch_size = 5
    scheduler.tick()
    clock.set(START + timedelta(days=7, hours=1))
    assert scheduler.tick() == 7  # a batch of 5, then one of 2
    fired = _fired_events(app, cycles)
    assert len(fired) == 7
    # Then each batch was one append (one command: one causation id for all its events)
    batches = Counter(event.metadata.causation_id for event in fired)
    assert sorted(batches.values()) == [2, 5]
    with app.engine.connect() as connection:
        statuses = Counter(connection.execute(select(followups_table.c.status)).scalars())
        queued = connection.execute(select(outbox_table.c.message_id)).scalars().all()
    assert statuses["claimed"] == 0
    assert sorted(queued) == sorted(
        f"{c}:invitation.reminder:2026-03-02:E{n}" for n, c in enumerate(cycles)
    )


def test_a_batch_takes_over_a_followup_fired_by_a_scheduler_that_died_before_closing(
    app: Popcycle, clock: FakeClock
) -> None:
    cycles = [_invite(app, f"E{n}") for n in range(3)]
    build_scheduler(app).tick()
    clock.set(START + timedelta(days=7, hours=1))
    # Given a scheduler that claimed everything, recorded the first firing, and was killed
    claims = claim_due(app.engine, "killed-scheduler", clock(), timedelta(minutes=5))
    first = claims[0]
    app.commands.handle(
        Actor("scheduler", Role.SYSTEM),
        first.cycle_id,
        RecordFollowUp(first.key, first.kind, first.due_at, ("E0",)),
    )
    clock.advance(timedelta(minutes=6))
    # When another scheduler takes the claims over: two fire now, the first is not fired again
    assert build_scheduler(app).tick() == 2
    assert len(_fired_events(app, cycles)) == 3
    with app.engine.connect() as connection:
        queued = connection.execute(select(outbox_table.c.followup_key)).scalars().all()
    assert sorted(queued) == sorted(claim.key for claim in claims)  # its mail still goes out


def test_a_cycle_changed_while_its_batch_was_judged_is_judged_again_alone(
    app: Popcycle, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycles = [_invite(app, f"E{n}") for n in range(4)]
    scheduler = build_scheduler(app)
    scheduler.tick()
    clock.set(START + timedelta(days=7, hours=1))
    victim = cycles[2]
    raced: list[str] = []

    def read_then_race(
        engine: Engine, repository: Repository, cycle_ids: Iterable[str]
    ) -> dict[str, CycleState]:
        states = read_cycles(engine, repository, cycle_ids)
        if victim in states and not raced:
            # Another process: the employee answers right after the batch read the cycle
            raced.append(victim)
            app.commands.handle(HR, victim, SubmitPreparation(Side.EMPLOYEE, ("groeien",)))
        return states

    monkeypatch.setattr(firing, "read_cycles", read_then_race)
    # Then the batch's append conflicts on that cycle alone, judged again on its own
    assert scheduler.tick() == 3
    assert raced == [victim]
    assert _fired(app, victim) == []  # the answered invitation is not reminded
    others = [cycle for cycle in cycles if cycle != victim]
    for cycle in others:
        assert [kind for kind, _ in _fired(app, cycle)] == ["invitation.reminder"]
    # while the others still fired together, in one append
    assert len({event.metadata.causation_id for event in _fired_events(app, others)}) == 1


def test_reading_many_cycles_at_once_equals_reading_each(app: Popcycle) -> None:
    cycles = [_invite(app, f"E{n}") for n in range(3)]
    # one with sealed personal data (talking points) and more than one event
    app.commands.handle(HR, cycles[1], SubmitPreparation(Side.EMPLOYEE, ("Excel leren",)))
    states = read_cycles(app.engine, app.repository, [*cycles, "no-such-cycle"])
    assert states == {cycle: app.repository.cycle(cycle) for cycle in cycles}
    assert states[cycles[1]].version > states[cycles[0]].version
