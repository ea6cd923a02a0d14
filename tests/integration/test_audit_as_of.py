"""As of: the plan as it stood at any past moment equals replaying the log up to that moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.domain import GoalResult, Progress, Reason, Side, Support
from events.keyring import InMemoryKeyRing
from events.memory import InMemoryEventStore
from handlers.actor import Actor, Role
from handlers.commands import CommandHandler
from handlers.repository import Repository
from tests.support.clock import FakeClock
from workflow.commands import (
    CancelCycle,
    CycleCommand,
    DraftPlan,
    GoalDraft,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    ScheduleInterview,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import RegisterEmployee
from workflow.errors import DomainError
from workflow.state import CycleState

HR = Actor("hr", Role.HR)
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _commands(now: datetime) -> list[CycleCommand]:
    goal = GoalDraft(
        "Excel",
        "Cursus volgen",
        "Zelfstandig rapporten maken",
        now.date() + timedelta(days=200),
        Support(own_hours=8),
    )
    return [
        SubmitPreparation(Side.EMPLOYEE, ("groeien",)),
        SubmitPreparation(Side.MANAGER, ("planning",)),
        ScheduleInterview(now + timedelta(days=3)),
        RecordInterviewHeld(summary="goed"),
        DraftPlan((goal,)),
        SignPlan(Side.EMPLOYEE),
        SignPlan(Side.MANAGER),
        ReviewProgress(Progress.ON_TRACK, "loopt", "g1"),
        ReviewProgress(Progress.DONE, "klaar", "g1"),
        RecordEvaluation((GoalResult("g1", True, "beter"),)),
        CancelCycle("vertrokken"),
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10), st.integers(1, 20 * 24 * 60)), max_size=25))
def test_state_as_of_each_moment_equals_the_state_then(steps: list[tuple[int, int]]) -> None:
    clock = FakeClock(START)
    repository = Repository(InMemoryEventStore(clock), InMemoryKeyRing())
    commands = CommandHandler(repository, clock)
    commands.register_employee(HR, RegisterEmployee("M1", "M", "m@example.nl"))
    commands.register_employee(HR, RegisterEmployee("E1", "E", "e@example.nl", "M1"))
    cycle = commands.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
    assert cycle is not None
    seen: list[tuple[datetime, CycleState]] = [(clock(), repository.cycle(cycle))]
    for choice, minutes in steps:
        clock.advance(timedelta(minutes=minutes))
        try:
            commands.handle(HR, cycle, _commands(clock())[choice])
        except DomainError:
            continue
        seen.append((clock(), repository.cycle(cycle)))
    for moment, state in seen:
        assert repository.cycle(cycle, as_of=moment) == state
        # a moment just before the next step still shows the same state
        assert repository.cycle(cycle, as_of=moment + timedelta(seconds=30)) == state
    assert seen[0][1].phase.value == "invitation"
