"""Random command sequences never break the cycle's invariants (hypothesis).

Each example starts at T0 and runs a random sequence of commands, moving time forward by
random steps. Most commands are plausible for the current phase (so the sequences reach deep
phases); the rest are any kind, with any arguments. A refusal must be a DomainError; any other
exception fails the test. After every step the invariants of DESIGN.md §5 must hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.domain import (
    CycleEvent,
    CycleRestarted,
    FollowUpFired,
    GoalResult,
    PlanDrafted,
    Progress,
    Reason,
    Side,
    Support,
    Term,
)
from tests.unit.builders import T0, round_trip
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
from workflow.decide import ALLOWED, decide, start_next_cycle
from workflow.errors import DomainError
from workflow.phases import Phase
from workflow.state import CycleState, evolve, replay

P = Phase
T = TypeVar("T")
DESIGN_PHASES = (
    "invitation",
    "preparation",
    "interview",
    "agreement",
    "progress_review",
    "evaluation",
    "completed",
    "cancelled",
)
OPEN = (P.INVITATION, P.PREPARATION, P.INTERVIEW, P.AGREEMENT, P.PROGRESS_REVIEW, P.EVALUATION)

LEGAL_TRANSITIONS: frozenset[tuple[Phase | None, Phase]] = frozenset(
    {
        (None, P.INVITATION),  # start
        (P.INVITATION, P.INVITATION),  # interview scheduled or moved
        (P.INVITATION, P.PREPARATION),  # first talking points, either side
        (P.INVITATION, P.INTERVIEW),  # held (any time once scheduled), with a follow-up
        (P.INVITATION, P.AGREEMENT),  # held (any time once scheduled)
        (P.PREPARATION, P.PREPARATION),  # more points, scheduled with one side prepared
        (P.PREPARATION, P.INTERVIEW),  # scheduled and both prepared; or held with a follow-up
        (P.PREPARATION, P.AGREEMENT),  # held
        (P.INTERVIEW, P.INTERVIEW),  # moved, points replaced, held with a follow-up
        (P.INTERVIEW, P.AGREEMENT),  # held
        (P.AGREEMENT, P.AGREEMENT),  # plan drafted or redrafted, one signature
        (P.AGREEMENT, P.PROGRESS_REVIEW),  # both signed
        (P.PROGRESS_REVIEW, P.PROGRESS_REVIEW),  # a review
        (P.PROGRESS_REVIEW, P.AGREEMENT),  # the signed plan revised: both must sign again
        (P.PROGRESS_REVIEW, P.EVALUATION),  # last deadline arrived, or every goal done
        (P.PROGRESS_REVIEW, P.COMPLETED),  # an evaluation recorded directly
        (P.EVALUATION, P.EVALUATION),  # a reminder fired, or the manager changed
        (P.EVALUATION, P.COMPLETED),  # the evaluation recorded
        (P.COMPLETED, P.COMPLETED),  # the restart recorded on the old cycle, or a reminder
        *((phase, P.CANCELLED) for phase in OPEN),  # cancelled from any open phase
    }
)

ALL_KINDS: tuple[type[Any], ...] = (
    StartCycle,
    SubmitPreparation,
    ScheduleInterview,
    RecordInterviewHeld,
    DraftPlan,
    SignPlan,
    ReviewProgress,
    MarkEvaluationDue,
    RecordEvaluation,
    RestartCycle,
    CancelCycle,
    RecordFollowUp,
    ChangeCycleManager,
)
TITLES = ("Excel", "Planning", "Presenting", "Coaching", "Klantgericht werken")
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
OTHER_ZONE = timezone(timedelta(hours=2))


# --- drawing commands -----------------------------------------------------------------------


def _maybe(data: st.DataObject, value: T) -> T | None:
    return value if data.draw(st.booleans()) else None


def _later(data: st.DataObject, now: datetime, days: int = 60) -> datetime:
    return now + data.draw(st.timedeltas(timedelta(minutes=1), timedelta(days=days)))


def _odd_time(data: st.DataObject, now: datetime) -> datetime:
    """A time a careless client might send: past, naive, another zone, or just now."""
    delta = data.draw(st.timedeltas(-timedelta(days=30), timedelta(days=30)))
    shapes = [now + delta, (now + delta).replace(tzinfo=None), (now + delta).astimezone(OTHER_ZONE)]
    return data.draw(st.sampled_from([*shapes, now]))


def _goal(
    data: st.DataObject, now: datetime, sane: bool, goal_id: str | None, ids: list[str]
) -> GoalDraft:
    """A goal draft: SMART when `sane` (revising `goal_id` if given), anything otherwise."""
    if sane:
        title = data.draw(st.sampled_from(TITLES))
        days = data.draw(st.integers(1, 5 * 365))
        return GoalDraft(
            title=title,
            activity=f"Follow a course on {title}",
            result=f"Works with {title} independently",
            deadline=now.date() + timedelta(days=days),
            support=Support(own_hours=data.draw(st.floats(0.5, 200)), coach="Corrie"),
            term=data.draw(st.sampled_from([None, None, None, Term.SHORT, Term.MEDIUM])),
            goal_id=goal_id,
            carried_from=data.draw(st.none() | st.just("c0/g1")),
        )
    number = st.none() | st.floats(-10, 1e6) | st.sampled_from([float("nan"), float("inf")])
    return GoalDraft(
        title=data.draw(ANY_TEXT),
        activity=data.draw(ANY_TEXT),
        result=data.draw(ANY_TEXT),
        deadline=data.draw(st.dates(date(2020, 1, 1), date(2040, 12, 31))),
        support=Support(
            own_hours=data.draw(number),
            coach_hours=data.draw(number),
            budget_eur=data.draw(number),
            coach=data.draw(st.none() | ANY_TEXT),
            materials=tuple(data.draw(st.lists(ANY_TEXT, max_size=2))),
        ),
        term=data.draw(st.none() | st.sampled_from(Term)),
        goal_id=data.draw(st.none() | st.sampled_from([*ids, "g1", "g99", ""])),
    )


def draw_command(
    data: st.DataObject, state: CycleState | None, now: datetime
) -> tuple[CycleCommand, datetime]:
    """A command (plausible for the phase most of the time) and the moment it is given."""
    fitting = data.draw(st.integers(0, 4)) > 0  # a kind the phase admits
    sane = data.draw(st.integers(0, 3)) > 0  # plausible arguments
    if state is None:
        kinds: tuple[type[Any], ...] = (StartCycle,) if fitting else ALL_KINDS
    elif state.phase.is_closed:
        kinds = ALL_KINDS  # try everything on a closed cycle: only a first restart may pass
    elif fitting:
        # What the phase admits; cancelling only now and then, so that cycles get far.
        kinds = tuple(kind for kind in ALLOWED[state.phase] if kind is not CancelCycle)
        if not kinds or data.draw(st.integers(0, 14)) == 0:
            kinds = ALLOWED[state.phase] or ALL_KINDS
    else:
        kinds = ALL_KINDS
    kind = data.draw(st.sampled_from(kinds))
    goal_ids = [goal.goal_id for goal in state.goals] if state else []
    some_ids = st.sampled_from([*goal_ids, "g1", "g2", "g42"])

    if kind is StartCycle:
        interview_at = _maybe(data, _later(data, now))
        if sane:
            return StartCycle(
                "c1", "e1", "m1", data.draw(st.sampled_from(Reason)), interview_at
            ), now
        return StartCycle(
            "c1",
            "e1",
            data.draw(st.sampled_from(["e1", "m1"])),
            Reason.PROBLEM,
            _odd_time(data, now),
        ), now
    if kind is SubmitPreparation:
        points = (
            st.lists(st.sampled_from(["grow", "planning", " Excel "]), min_size=1, max_size=3)
            if sane
            else st.lists(ANY_TEXT, max_size=3)
        )
        return SubmitPreparation(data.draw(st.sampled_from(Side)), tuple(data.draw(points))), now
    if kind is ScheduleInterview:
        return ScheduleInterview(_later(data, now) if sane else _odd_time(data, now)), now
    if kind is RecordInterviewHeld:
        if sane:
            ago = data.draw(st.timedeltas(timedelta(0), timedelta(days=20)))
            held_at = _maybe(data, now - ago)
            follow_up = _maybe(data, _later(data, now, days=30))
        else:
            held_at = _maybe(data, _odd_time(data, now))
            follow_up = _maybe(data, _odd_time(data, now))
        return RecordInterviewHeld(held_at, _maybe(data, data.draw(ANY_TEXT)), follow_up), now
    if kind is DraftPlan:
        size = data.draw(st.integers(1, 3) if sane else st.integers(0, 3))
        revised: list[str | None] = []
        if sane and goal_ids:
            revised += data.draw(st.lists(st.sampled_from(goal_ids), unique=True, max_size=size))
        revised += [None] * (size - len(revised))
        goals = tuple(_goal(data, now, sane, goal_id, goal_ids) for goal_id in revised)
        return DraftPlan(goals), now
    if kind is SignPlan:
        current = state.plan_version if state else 0
        version = st.sampled_from([None, current]) if sane else st.none() | st.integers(-1, 5)
        return SignPlan(data.draw(st.sampled_from(Side)), data.draw(version)), now
    if kind is ReviewProgress:
        goal_id = data.draw(
            st.none() | (st.sampled_from(goal_ids) if sane and goal_ids else some_ids)
        )
        note = "how it goes" if sane else data.draw(ANY_TEXT)
        return ReviewProgress(data.draw(st.sampled_from(Progress)), note, goal_id), now
    if kind is MarkEvaluationDue:
        last = state.last_deadline if state else None
        if sane and last is not None:
            due = datetime.combine(last, datetime.min.time(), UTC)
            now = max(now, due + data.draw(st.timedeltas(timedelta(0), timedelta(days=3))))
        return MarkEvaluationDue(), now
    if kind is RecordEvaluation:
        if sane:
            order = data.draw(st.permutations(goal_ids))
            chosen = [(goal_id, data.draw(st.booleans())) for goal_id in order]
        else:
            chosen = data.draw(st.lists(st.tuples(some_ids, st.booleans()), max_size=4))
        results = tuple(
            GoalResult(goal_id, ok, data.draw(st.none() | ANY_TEXT)) for goal_id, ok in chosen
        )
        return RecordEvaluation(results, data.draw(st.none() | ANY_TEXT)), now
    if kind is RestartCycle:
        return RestartCycle(data.draw(st.sampled_from(["c2", "c3"]))), now
    if kind is RecordFollowUp:
        key = data.draw(st.sampled_from(["c1/reminder/1", "c1/reminder/2", "c1/escalation"]))
        due = now - data.draw(st.timedeltas(timedelta(0), timedelta(days=3)))
        recipients = tuple(data.draw(st.lists(st.sampled_from(["e1", "m1", "hr"]), max_size=2)))
        return RecordFollowUp(
            key, "reminder", due if sane else _odd_time(data, now), recipients
        ), now
    if kind is ChangeCycleManager:
        choices = ["m2", "m3"] if sane else ["m1", "m2", "e1", ""]
        return ChangeCycleManager(data.draw(st.sampled_from(choices))), now
    assert kind is CancelCycle
    return CancelCycle("the employee left" if sane else data.draw(ANY_TEXT)), now


# --- what must hold -------------------------------------------------------------------------


def check_invariants(state: CycleState, events: list[CycleEvent]) -> None:
    phase = state.phase
    assert phase.value in DESIGN_PHASES
    assert state.version == len(events)
    assert len({goal.goal_id for goal in state.goals}) == len(state.goals)
    assert state.manager_id != state.employee_id
    if phase in (P.PROGRESS_REVIEW, P.EVALUATION, P.COMPLETED):
        assert state.signed_plans, "a plan in force was signed by both at least once"
        assert state.goals
    if phase is P.PROGRESS_REVIEW:
        assert state.in_force
    if phase is P.AGREEMENT:
        assert state.interviews_held > 0
    if phase is P.INTERVIEW:
        assert state.interview_at is not None
        assert state.both_prepared or state.interviews_held > 0
    if phase is P.COMPLETED:
        assert sorted(r.goal_id for r in state.results) == sorted(g.goal_id for g in state.goals)
    if phase is P.CANCELLED:
        assert state.cancelled_reason
        assert state.closed_at is not None
    assert (state.closed_at is not None) == phase.is_closed


def check_new_goal_ids(command: DraftPlan, event: PlanDrafted, before: list[CycleEvent]) -> None:
    """Goals drafted without an id get one that no earlier plan version ever used."""
    used = {g.goal_id for e in before if isinstance(e, PlanDrafted) for g in e.goals}
    for draft, goal in zip(command.goals, event.goals, strict=True):
        if draft.goal_id is None:
            assert goal.goal_id not in used
        else:
            assert goal.goal_id == draft.goal_id


def check_restart(previous: CycleState, new_events: list[CycleEvent]) -> None:
    new = replay(new_events)
    assert new is not None
    assert new.phase is P.INVITATION
    assert new.previous_cycle_id == previous.cycle_id
    missed = [r.goal_id for r in previous.results if not r.achieved]
    assert [p.goal_id for p in new.proposals] == [
        g.goal_id for g in previous.goals if g.goal_id in missed
    ]
    assert all(p.carried_from == f"{previous.cycle_id}/{p.goal_id}" for p in new.proposals)
    assert [round_trip(event) for event in new_events] == new_events


def apply_step(
    state: CycleState | None, events: list[CycleEvent], command: CycleCommand, now: datetime
) -> CycleState | None:
    """Decide one command; check every event it yields; return the state after it."""
    try:
        if isinstance(command, RestartCycle) and state is not None and state.next_cycle_id is None:
            new, next_cycle = start_next_cycle(state, command.new_cycle_id, now)
            check_restart(state, next_cycle)
        else:
            new = decide(state, command, now)
    except DomainError:
        return state  # refused: nothing happens
    assert new, "an accepted command yields at least one event"
    if state is not None and state.phase.is_closed:
        # Closed: only a completed cycle takes its one restart, and reminders.
        assert state.phase is P.COMPLETED
        assert [type(event) for event in new] in ([CycleRestarted], [FollowUpFired])
        if isinstance(new[0], CycleRestarted):
            assert state.next_cycle_id is None
    if isinstance(command, DraftPlan):
        assert isinstance(new[0], PlanDrafted)
        check_new_goal_ids(command, new[0], events)
    for event in new:
        after = evolve(state, event)
        before_phase = state.phase if state is not None else None
        assert (before_phase, after.phase) in LEGAL_TRANSITIONS, (before_phase, after.phase, event)
        assert round_trip(event) == event
        events.append(event)
        state = after
        check_invariants(state, events)
    assert replay(events) == state
    return state


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_random_command_sequences_keep_the_invariants(data: st.DataObject) -> None:
    state: CycleState | None = None
    events: list[CycleEvent] = []
    now = T0
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        now += data.draw(st.timedeltas(timedelta(0), timedelta(days=45)))
        command, now = draw_command(data, state, now)
        state = apply_step(state, events, command, now)


def test_every_command_kind_is_generated() -> None:
    # A new command kind must be added to ALL_KINDS and to draw_command.
    assert set(ALL_KINDS) == set(get_args(CycleCommand))
