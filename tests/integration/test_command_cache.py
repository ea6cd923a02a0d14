"""The command handler's state cache can save reads but never make a stale decision stick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from events.domain import Reason, Side
from events.keyring import InMemoryKeyRing
from events.memory import InMemoryEventStore
from handlers.actor import Actor, Role
from handlers.commands import CommandHandler
from handlers.repository import Repository
from tests.support.clock import FakeClock
from workflow.commands import RecordInterviewHeld, ScheduleInterview, SubmitPreparation
from workflow.employee import RegisterEmployee
from workflow.errors import DomainError

HR = Actor("hr", Role.HR)


@pytest.fixture
def two_processes() -> tuple[CommandHandler, CommandHandler, FakeClock, str]:
    """Two handlers on one log, as two worker processes would be."""
    clock = FakeClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    repository = Repository(InMemoryEventStore(clock), InMemoryKeyRing())
    first, second = CommandHandler(repository, clock), CommandHandler(repository, clock)
    first.register_employee(HR, RegisterEmployee("M1", "M", "m@example.nl"))
    first.register_employee(HR, RegisterEmployee("E1", "E", "e@example.nl", "M1"))
    cycle = first.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
    assert cycle is not None
    return first, second, clock, cycle


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
