"""Test builders for the pure workflow: a fixed clock, valid commands, and `drive`.

A `Cycle` folds the events `decide` returns through `evolve`, exactly as a command handler
would, so a test reads as a list of commands at given moments. `at_phase` builds a cycle that
walked the ordinary path up to a phase.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from events.codec import decode, encode
from events.domain import CycleEvent, DomainEvent, GoalResult, Progress, Reason, Side, Support
from events.records import JSON, Metadata, StoredEvent
from workflow.commands import (
    CancelCycle,
    ChangeCycleManager,
    CycleCommand,
    DraftPlan,
    GoalDraft,
    MarkEvaluationDue,
    RecordEvaluation,
    RecordFollowUp,
    RecordInterviewHeld,
    RestartCycle,
    ReviewProgress,
    ScheduleInterview,
    SignPlan,
    StartCycle,
    SubmitPreparation,
)
from workflow.decide import decide
from workflow.errors import DomainError
from workflow.phases import Phase
from workflow.state import CycleState, evolve

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The fixed moment every scenario starts at (a Monday morning, UTC)."""

CYCLE_ID = "c1"
EMPLOYEE_ID = "e1"
MANAGER_ID = "m1"

# The ordinary path's calendar, in days after T0.
INTERVIEW_DAY = 14
AGREEMENT_DAY = 15
SIGN_DAY = 16
FIRST_DEADLINE = date(2026, 6, 30)
LAST_DEADLINE = date(2026, 12, 31)


def at(days: float = 0, hours: float = 0) -> datetime:
    """A moment `days` and `hours` after T0."""
    return T0 + timedelta(days=days, hours=hours)


def start(interview_at: datetime | None = None, cycle_id: str = CYCLE_ID) -> StartCycle:
    return StartCycle(cycle_id, EMPLOYEE_ID, MANAGER_ID, Reason.PERIODIC, interview_at)


def prepare(author: Side, *points: str) -> SubmitPreparation:
    return SubmitPreparation(author, points or (f"talking point of the {author.value}",))


def goal(
    title: str = "Excel",
    deadline: date = LAST_DEADLINE,
    goal_id: str | None = None,
    **overrides: Any,
) -> GoalDraft:
    """A SMART goal draft (seed 004 §4.11's Excel example); override any field to break it."""
    draft = GoalDraft(
        title=title,
        activity=f"Follow a ten-lesson course on {title}",
        result=f"Works independently with {title}",
        deadline=deadline,
        support=Support(own_hours=20, budget_eur=500),
        goal_id=goal_id,
    )
    return replace(draft, **overrides)


def two_goals() -> DraftPlan:
    """The ordinary plan: g1 due mid-year, g2 at the end of the year."""
    return DraftPlan((goal("Excel", FIRST_DEADLINE), goal("Customer focus", LAST_DEADLINE)))


def results(*achieved: tuple[str, bool]) -> RecordEvaluation:
    return RecordEvaluation(
        tuple(GoalResult(goal_id, ok, f"effect of {goal_id}") for goal_id, ok in achieved),
        summary="evaluated",
    )


@dataclass
class Cycle:
    """One cycle's stream in memory: its events and the state they fold to."""

    state: CycleState | None = None
    events: list[CycleEvent] = field(default_factory=list)

    @property
    def now(self) -> CycleState:
        """The current state; the cycle must have been started."""
        assert self.state is not None, "the cycle was never started"
        return self.state

    @property
    def phase(self) -> Phase:
        return self.now.phase

    def apply(self, events: Iterable[CycleEvent]) -> None:
        """Append events that were decided elsewhere (e.g. by `start_next_cycle`)."""
        for event in events:
            self.state = evolve(self.state, event)
            self.events.append(event)

    def run(self, command: CycleCommand, when: datetime) -> list[CycleEvent]:
        """Decide and apply one command; a refusal raises and leaves the cycle unchanged."""
        new = decide(self.state, command, when)
        self.apply(new)
        return new

    def refuse(self, command: CycleCommand, when: datetime) -> DomainError:
        """Assert that `command` is refused and that nothing was recorded; return the error."""
        before = (self.state, len(self.events))
        with pytest.raises(DomainError) as caught:
            self.run(command, when)
        assert (self.state, len(self.events)) == before
        return caught.value


def stored(type_name: str, data: JSON, schema_version: int = 1) -> StoredEvent:
    """A stored event as the database gives it back: its data went through strict JSON text."""
    data = json.loads(json.dumps(data, allow_nan=False))
    return StoredEvent(1, "cycle-c1", 1, type_name, schema_version, data, Metadata(), T0, "h")


def round_trip(event: DomainEvent) -> DomainEvent:
    """`event` encoded, stored as JSON, read back and decoded."""
    new = encode(event)
    return decode(stored(new.type, new.data, new.schema_version))


Step = tuple[CycleCommand, datetime]


def drive(steps: Iterable[Step], cycle: Cycle | None = None) -> Cycle:
    """Run each (command, moment) in order on a new (or the given) cycle."""
    cycle = cycle if cycle is not None else Cycle()
    for command, when in steps:
        cycle.run(command, when)
    return cycle


ORDINARY_PATH: dict[Phase, list[Step]] = {
    Phase.INVITATION: [(start(at(INTERVIEW_DAY)), T0)],
    Phase.PREPARATION: [(prepare(Side.EMPLOYEE, "grow into a senior role"), at(1))],
    Phase.INTERVIEW: [(prepare(Side.MANAGER, "learn Excel"), at(2))],
    Phase.AGREEMENT: [(RecordInterviewHeld(summary="good talk"), at(INTERVIEW_DAY))],
    Phase.PROGRESS_REVIEW: [
        (two_goals(), at(AGREEMENT_DAY)),
        (SignPlan(Side.EMPLOYEE, 1), at(SIGN_DAY)),
        (SignPlan(Side.MANAGER, 1), at(SIGN_DAY)),
    ],
    Phase.EVALUATION: [
        (MarkEvaluationDue(), datetime.combine(LAST_DEADLINE, datetime.min.time(), UTC))
    ],
    Phase.COMPLETED: [(results(("g1", True), ("g2", False)), datetime(2027, 1, 10, tzinfo=UTC))],
}
"""The steps that lead into each phase from the one before it, along the ordinary path."""

OPEN_PHASES = tuple(phase for phase in Phase if not phase.is_closed)


def at_phase(phase: Phase) -> Cycle:
    """A cycle that walked the ordinary path into `phase` (cancelled: from preparation)."""
    if phase is Phase.CANCELLED:
        cycle = at_phase(Phase.PREPARATION)
        cycle.run(CancelCycle("the employee left"), at(3))
        return cycle
    cycle = Cycle()
    for step_phase, steps in ORDINARY_PATH.items():
        drive(steps, cycle)
        if step_phase is phase:
            break
    assert cycle.phase is phase
    return cycle


def one_of_each_command(new_cycle_id: str = "c2") -> list[CycleCommand]:
    """A well-formed instance of every cycle command kind except StartCycle."""
    return [
        prepare(Side.EMPLOYEE, "more"),
        ScheduleInterview(at(400)),
        RecordInterviewHeld(),
        two_goals(),
        SignPlan(Side.EMPLOYEE),
        ReviewProgress(Progress.ON_TRACK, "fine", "g1"),
        MarkEvaluationDue(),
        results(("g1", True), ("g2", True)),
        RestartCycle(new_cycle_id),
        CancelCycle("the employee left"),
        RecordFollowUp("c1/reminder/1", "reminder", at(20), ("e1",)),
        ChangeCycleManager("m2"),
    ]


def phase_of(cycle: Cycle) -> Phase:
    """The cycle's phase as of now; unlike `cycle.phase`, mypy does not narrow it to the phase
    asserted before the last command."""
    return cycle.phase
