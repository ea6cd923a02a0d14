"""The command handler's state cache can save reads but never make a stale decision stick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from events.domain import Reason, Side
from events.keyring import InMemoryKeyRing
from events.memory import InMemoryEventStore
from events.records import StoredEvent
from handlers.actor import Actor, Role
from handlers.commands import CommandHandler
from handlers.repository import Repository
from tests.support.clock import FakeClock
from workflow.commands import RecordInterviewHeld, ScheduleInterview, SubmitPreparation
from workflow.employee import RegisterEmployee
from workflow.errors import DomainError

HR = Actor("hr", Role.HR)


def test_a_refusal_on_a_stale_cached_state_is_decided_again_on_the_log(
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, second, clock, cycle = two_processes
    first.handle(HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)))  # first caches the cycle
    # Given the other process schedules the interview (first's cache still has none)
    second.handle(HR, cycle, ScheduleInterview(clock() + timedelta(days=1)))
    clock.advance(timedelta(days=2))
    # When first records the talk as held, which its stale state would refuse
    result = first.handle(HR, cycle, RecordInterviewHeld())
    # Then it is decided on the fresh state and accepted
    assert result.phase == "agreement"


def test_a_stale_cached_version_never_overwrites(
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, second, _clock, cycle = two_processes
    first.handle(HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)))
    second.handle(HR, cycle, SubmitPreparation(Side.MANAGER, ("b",)))
    result = first.handle(HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("c",)))
    assert result.version == 4  # started, prepared, prepared: appended after the other one
    state = first._repository.cycle(cycle)
    assert state.preparations[Side.MANAGER].talking_points == ("b",)
    assert state.preparations[Side.EMPLOYEE].talking_points == ("c",)


def test_a_real_refusal_still_refuses(
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, _second, _clock, cycle = two_processes
    with pytest.raises(DomainError, match="schedule the interview before"):
        first.handle(HR, cycle, RecordInterviewHeld())


def test_a_stale_cached_person_cannot_open_a_second_cycle(
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, second, _clock, _cycle = two_processes
    first.register_employee(HR, RegisterEmployee("E2", "F", "f@example.nl", "M1"))  # cached
    # Given the other process opens E2's cycle (first's cached E2 still has none)
    opened = second.start_cycle(HR, "E2", "M1", Reason.PERIODIC).cycle_id
    # When first starts one too, its cached version conflicts and it judges on the log
    with pytest.raises(DomainError, match=f"already has an open cycle {opened}"):
        first.start_cycle(HR, "E2", "M1", Reason.PERIODIC)


class CountingStore(InMemoryEventStore):
    """Counts the streams read, to see what the handler's caches spare."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.reads: list[str] = []

    def read_stream(self, stream_id: str) -> list[StoredEvent]:
        self.reads.append(stream_id)
        return super().read_stream(stream_id)


def test_a_warm_handler_starts_and_drives_a_cycle_without_reading_the_log() -> None:
    clock = FakeClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    store = CountingStore(clock)
    repository = Repository(store, InMemoryKeyRing())
    handler = CommandHandler(repository, clock)
    handler.register_employee(HR, RegisterEmployee("M1", "M", "m@example.nl"))
    handler.register_employee(HR, RegisterEmployee("E1", "E", "e@example.nl", "M1"))
    store.reads.clear()

    cycle = handler.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
    assert cycle is not None
    handler.handle(HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)))

    assert store.reads == []
    # The log agrees with what the handler kept: a second handler loads the same cycle.
    fresh = CommandHandler(repository, clock)
    assert fresh.handle(HR, cycle, SubmitPreparation(Side.MANAGER, ("b",))).version == 3
