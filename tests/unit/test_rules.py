"""Every illegal step is refused with a DomainError that says what to fix or what to do instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from events.domain import FollowUpFired, GoalResult, Progress, Reason, Side
from tests.unit.builders import (
    AGREEMENT_DAY,
    INTERVIEW_DAY,
    LAST_DEADLINE,
    SIGN_DAY,
    T0,
    Cycle,
    at,
    at_phase,
    drive,
    goal,
    one_of_each_command,
    phase_of,
    prepare,
    results,
    start,
    two_goals,
)
from workflow.commands import (
    CancelCycle,
    ChangeCycleManager,
    CycleCommand,
    DraftPlan,
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
from workflow.decide import ALLOWED, allowed_commands, decide
from workflow.errors import DomainError, SmartError
from workflow.phases import Phase

LATER = at(100)


# --- refusals by phase: `allowed` lists what can be done instead ----------------------------


def test_evaluating_before_the_agreement_is_refused() -> None:
    cycle = at_phase(Phase.PREPARATION)
    error = cycle.refuse(results(("g1", True)), at(5))
    assert "cannot evaluate while the cycle is in phase preparation" in error.message
    assert error.allowed == allowed_commands(cycle.now)
    assert {"prepare", "schedule interview", "record interview held", "cancel"} <= set(
        error.allowed
    )
    assert "evaluate" not in error.allowed


@pytest.mark.parametrize("phase", [Phase.INVITATION, Phase.PREPARATION, Phase.INTERVIEW])
def test_drafting_the_plan_before_the_interview_is_refused(phase: Phase) -> None:
    cycle = at_phase(phase)
    error = cycle.refuse(two_goals(), at(5))
    assert "cannot draft plan" in error.message
    assert "record interview held" in error.allowed
    assert "draft plan" not in error.allowed


def test_review_before_both_signed_names_acceptable() -> None:
    cycle = at_phase(Phase.AGREEMENT)
    cycle.run(two_goals(), at(AGREEMENT_DAY))
    cycle.run(SignPlan(Side.EMPLOYEE), at(SIGN_DAY))
    error = cycle.refuse(ReviewProgress(Progress.ON_TRACK, "fine", "g1"), at(SIGN_DAY))
    assert "A (acceptable)" in error.message
    assert error.allowed == allowed_commands(cycle.now)
    assert {"draft plan", "sign", "cancel"} <= set(error.allowed)
    assert "review" not in error.allowed


def test_review_on_a_cancelled_cycle_is_refused_with_nothing_allowed() -> None:
    cycle = at_phase(Phase.CANCELLED)
    error = cycle.refuse(ReviewProgress(Progress.ON_TRACK, "fine"), LATER)
    assert "phase cancelled" in error.message
    assert error.allowed == ()


def test_signing_after_both_signed_is_refused() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    error = cycle.refuse(SignPlan(Side.MANAGER), LATER)
    assert "already signed" in error.message
    assert error.allowed == allowed_commands(cycle.now)
    assert "review" in error.allowed


def test_signing_without_a_plan_points_to_drafting() -> None:
    cycle = at_phase(Phase.AGREEMENT)
    error = cycle.refuse(SignPlan(Side.EMPLOYEE), at(AGREEMENT_DAY))
    assert error.allowed == ("draft plan",)


def test_recording_held_without_a_date_points_to_scheduling() -> None:
    cycle = drive([(start(), T0)])
    error = cycle.refuse(RecordInterviewHeld(), at(1))
    assert error.allowed == ("schedule interview", "cancel")


def test_restart_before_completion_explains_when_it_is_possible() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    error = cycle.refuse(RestartCycle("c2"), LATER)
    assert "once its evaluation is recorded" in error.message
    assert error.allowed == allowed_commands(cycle.now)


def test_a_command_on_a_missing_cycle_points_to_start() -> None:
    with pytest.raises(DomainError) as caught:
        decide(None, prepare(Side.EMPLOYEE), T0)
    assert caught.value.allowed == ("start",)


@pytest.mark.parametrize("phase", list(Phase))
def test_the_hint_of_a_phase_refusal_is_the_phase_table(phase: Phase) -> None:
    cycle = at_phase(phase)
    refused = next(c for c in one_of_each_command() if not isinstance(c, ALLOWED[phase]))
    error = cycle.refuse(refused, at(450))
    assert error.allowed == allowed_commands(cycle.now)
    assert error.message.startswith("cannot ")


# --- refusals of bad input: `field` names what to fix ---------------------------------------


@dataclass(frozen=True)
class Refusal:
    """An illegal step: a cycle at some phase, a command, and what the refusal must name."""

    name: str
    phase: Phase | None
    command: CycleCommand
    when: datetime
    field: str | None
    words: str
    setup: Callable[[Cycle], None] = lambda cycle: None


def _draft_and_sign_employee(cycle: Cycle) -> None:
    cycle.run(two_goals(), at(AGREEMENT_DAY))
    cycle.run(SignPlan(Side.EMPLOYEE), at(SIGN_DAY))


def _draft_twice(cycle: Cycle) -> None:
    cycle.run(two_goals(), at(AGREEMENT_DAY))
    cycle.run(two_goals(), at(AGREEMENT_DAY))


def _fire_reminder(cycle: Cycle) -> None:
    cycle.run(RecordFollowUp("c1/reminder", "reminder", at(2)), at(2))


EVALUATION_DAY = datetime(2027, 1, 10, tzinfo=UTC)

FIELD_REFUSALS = [
    Refusal(
        "signing twice",
        Phase.AGREEMENT,
        SignPlan(Side.EMPLOYEE),
        at(SIGN_DAY),
        "signer",
        "waiting for the manager's signature",
        _draft_and_sign_employee,
    ),
    Refusal(
        "signing a stale plan version",
        Phase.AGREEMENT,
        SignPlan(Side.MANAGER, plan_version=1),
        at(SIGN_DAY),
        "plan_version",
        "the plan is at version 2, not 1",
        _draft_twice,
    ),
    Refusal(
        "evaluation missing a goal",
        Phase.EVALUATION,
        results(("g1", True)),
        EVALUATION_DAY,
        "results",
        "missing: g2",
    ),
    Refusal(
        "evaluation of an unknown goal",
        Phase.EVALUATION,
        results(("g1", True), ("g9", True), ("g2", False)),
        EVALUATION_DAY,
        "results[1].goal_id",
        "no goal 'g9'",
    ),
    Refusal(
        "evaluation of a goal twice",
        Phase.EVALUATION,
        results(("g1", True), ("g2", True), ("g1", False)),
        EVALUATION_DAY,
        "results[0].goal_id",
        "evaluated twice",
    ),
    Refusal(
        "no talking points",
        Phase.INVITATION,
        SubmitPreparation(Side.EMPLOYEE, ()),
        at(1),
        "talking_points",
        "at least one talking point",
    ),
    Refusal(
        "an empty talking point",
        Phase.INVITATION,
        SubmitPreparation(Side.MANAGER, ("fine", "   ")),
        at(1),
        "talking_points",
        "none of them empty",
    ),
    Refusal(
        "an empty cancel reason",
        Phase.INTERVIEW,
        CancelCycle(" \t "),
        at(5),
        "reason",
        "why",
    ),
    Refusal(
        "start on an existing cycle",
        Phase.INVITATION,
        start(),
        at(1),
        "cycle_id",
        "already exists",
    ),
    Refusal(
        "employee is his own manager",
        None,
        StartCycle("c1", "e1", "e1", Reason.PROBLEM),
        T0,
        "manager_id",
        "own manager",
    ),
    Refusal(
        "review of an unknown goal",
        Phase.PROGRESS_REVIEW,
        ReviewProgress(Progress.DONE, "done", "g7"),
        LATER,
        "goal_id",
        "goals: g1, g2",
    ),
    Refusal(
        "review without a note",
        Phase.PROGRESS_REVIEW,
        ReviewProgress(Progress.STALLED, "  ", "g1"),
        LATER,
        "note",
        "note",
    ),
    Refusal(
        "interview scheduled in the past",
        Phase.PREPARATION,
        ScheduleInterview(at(1)),
        at(2),
        "scheduled_at",
        "in the past",
    ),
    Refusal(
        "interview scheduled without a time zone",
        Phase.PREPARATION,
        ScheduleInterview(datetime(2026, 3, 1, 10)),
        at(2),
        "scheduled_at",
        "time zone",
    ),
    Refusal(
        "interview scheduled at the time it already has",
        Phase.PREPARATION,
        ScheduleInterview(at(INTERVIEW_DAY)),
        at(2),
        "scheduled_at",
        "already scheduled",
    ),
    Refusal(
        "interview date in the past at the start",
        None,
        start(interview_at=T0 - timedelta(days=1)),
        T0,
        "interview_at",
        "in the past",
    ),
    Refusal(
        "follow-up before the talk itself",
        Phase.INTERVIEW,
        RecordInterviewHeld(at(INTERVIEW_DAY), follow_up_at=at(INTERVIEW_DAY)),
        at(INTERVIEW_DAY),
        "follow_up_at",
        "after this one",
    ),
    Refusal(
        "follow-up without a time zone",
        Phase.INTERVIEW,
        RecordInterviewHeld(follow_up_at=datetime(2026, 2, 1, 10)),
        at(INTERVIEW_DAY),
        "follow_up_at",
        "time zone",
    ),
    Refusal(
        "held without a time zone",
        Phase.INTERVIEW,
        RecordInterviewHeld(held_at=datetime(2026, 1, 19, 10)),
        at(INTERVIEW_DAY),
        "held_at",
        "time zone",
    ),
    Refusal(
        "a reminder due at a time without a time zone",
        Phase.PREPARATION,
        RecordFollowUp("c1/reminder", "reminder", datetime(2026, 1, 6, 9)),
        at(2),
        "due_at",
        "time zone",
    ),
    Refusal(
        "the same reminder fired twice",
        Phase.PREPARATION,
        RecordFollowUp("c1/reminder", "reminder", at(2)),
        at(3),
        "followup_key",
        "already fired",
        _fire_reminder,
    ),
    Refusal(
        "the manager changed to himself",
        Phase.AGREEMENT,
        ChangeCycleManager("m1"),
        at(AGREEMENT_DAY),
        "manager_id",
        "already the manager",
    ),
    Refusal(
        "the employee made his own manager",
        Phase.AGREEMENT,
        ChangeCycleManager("e1"),
        at(AGREEMENT_DAY),
        "manager_id",
        "own manager",
    ),
    Refusal(
        "a plan that is not SMART",
        Phase.AGREEMENT,
        DraftPlan((goal(result=""),)),
        at(AGREEMENT_DAY),
        "goals[0].result",
        "M (measurable)",
    ),
]


def _cycle_for(refusal: Refusal) -> Cycle:
    cycle = Cycle() if refusal.phase is None else at_phase(refusal.phase)
    refusal.setup(cycle)
    return cycle


@pytest.mark.parametrize("refusal", FIELD_REFUSALS, ids=lambda r: r.name)
def test_bad_input_is_refused_naming_the_field(refusal: Refusal) -> None:
    cycle = _cycle_for(refusal)
    error = cycle.refuse(refusal.command, refusal.when)
    assert error.field == refusal.field
    assert refusal.words in str(error)


def test_bad_input_refusals_also_list_what_is_allowed() -> None:
    without_hint = []
    for refusal in FIELD_REFUSALS:
        error = _cycle_for(refusal).refuse(refusal.command, refusal.when)
        if not error.allowed:
            without_hint.append(refusal.name)
    assert without_hint == []


def test_signing_the_current_version_by_number_works() -> None:
    cycle = at_phase(Phase.AGREEMENT)
    _draft_twice(cycle)
    cycle.run(SignPlan(Side.MANAGER, plan_version=2), at(SIGN_DAY))
    assert cycle.now.signatures == {Side.MANAGER}


def test_evaluation_with_no_results_names_every_missing_goal() -> None:
    cycle = at_phase(Phase.EVALUATION)
    error = cycle.refuse(RecordEvaluation(()), EVALUATION_DAY)
    assert error.field == "results"
    assert "g1, g2" in error.message


def test_a_result_with_an_effect_is_kept() -> None:
    cycle = at_phase(Phase.EVALUATION)
    given = (GoalResult("g1", True, "faster reports"), GoalResult("g2", False))
    cycle.run(RecordEvaluation(given, "good year"), EVALUATION_DAY)
    assert cycle.now.results == given


# --- a signed plan is a contract: revising it ------------------------------------------------


def test_revising_a_signed_plan_needs_new_signatures() -> None:
    # Given a plan in force with goals g1 (Excel) and g2 (Customer focus)
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    first = cycle.now.signed_plans[0]
    # When the employee drafts version 2: Excel revised, Customer focus dropped, a new goal
    revision = DraftPlan(
        (
            goal("Excel advanced", LAST_DEADLINE, goal_id="g1"),
            goal("Presenting", LAST_DEADLINE),
        )
    )
    cycle.run(revision, LATER)
    # Then the cycle is back in agreement, unsigned, at version 2
    state = cycle.now
    assert state.phase is Phase.AGREEMENT
    assert state.plan_version == 2
    assert state.signatures == frozenset()
    assert not state.in_force
    # And the earlier signed version is kept as it was signed
    assert state.signed_plans == (first,)
    assert [g.title for g in first.goals] == ["Excel", "Customer focus"]
    # And the revised goal kept its id; the new goal did not take the removed goal's id
    assert [(g.goal_id, g.title) for g in state.goals] == [
        ("g1", "Excel advanced"),
        ("g3", "Presenting"),
    ]
    # And no review is possible until both sign again
    error = cycle.refuse(ReviewProgress(Progress.ON_TRACK, "ok", "g1"), LATER)
    assert "A (acceptable)" in error.message
    # When both sign version 2
    cycle.run(SignPlan(Side.MANAGER, 2), LATER)
    cycle.run(SignPlan(Side.EMPLOYEE, 2), LATER)
    # Then the new contract is in force and both versions are on record
    assert cycle.phase is Phase.PROGRESS_REVIEW
    assert [p.plan_version for p in cycle.now.signed_plans] == [1, 2]


def test_signing_the_old_version_after_a_revision_is_refused() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    cycle.run(two_goals(), LATER)
    error = cycle.refuse(SignPlan(Side.EMPLOYEE, plan_version=1), LATER)
    assert error.field == "plan_version"


def test_revision_keeps_progress_of_kept_goals_only() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    cycle.run(ReviewProgress(Progress.DONE, "passed", "g1"), at(60))
    cycle.run(ReviewProgress(Progress.STALLED, "busy", "g2"), at(60))
    cycle.run(DraftPlan((goal("Excel", goal_id="g1"), goal("Planning"))), LATER)
    assert dict(cycle.now.progress) == {"g1": Progress.DONE}
    assert cycle.now.goal_status("g3") == "open"


def test_a_goal_removed_from_an_unsigned_draft_keeps_its_id_retired() -> None:
    # Given a first draft g1, g2 that was never signed
    cycle = at_phase(Phase.AGREEMENT)
    cycle.run(two_goals(), at(AGREEMENT_DAY))
    # When a second draft drops g2, and a third adds a new goal
    cycle.run(DraftPlan((goal("Excel", goal_id="g1"),)), at(AGREEMENT_DAY))
    cycle.run(DraftPlan((goal("Excel", goal_id="g1"), goal("Planning"))), at(AGREEMENT_DAY))
    # Then the new goal gets a fresh id: g2 meant "Customer focus" in version 1
    assert [g.goal_id for g in cycle.now.goals] == ["g1", "g3"]


def test_revising_an_unknown_goal_id_is_refused() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    error = cycle.refuse(DraftPlan((goal(goal_id="g9"),)), LATER)
    assert isinstance(error, SmartError)
    assert [(v.letter, v.field) for v in error.violations] == [("S", "goals[0].goal_id")]


def test_revising_one_goal_twice_in_a_draft_is_refused() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    error = cycle.refuse(DraftPlan((goal(goal_id="g1"), goal("Other", goal_id="g1"))), LATER)
    assert isinstance(error, SmartError)
    assert [v.field for v in error.violations] == ["goals[1].goal_id"]
    assert "given twice" in error.message


def test_the_evaluation_due_date_follows_the_revised_plan() -> None:
    # Given a plan in force whose last deadline is 31 December, revised to end in March 2027
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    later_deadline = LAST_DEADLINE + timedelta(days=90)
    cycle.run(DraftPlan((goal("Excel", later_deadline, goal_id="g1"),)), LATER)
    cycle.run(SignPlan(Side.EMPLOYEE), LATER)
    cycle.run(SignPlan(Side.MANAGER), LATER)
    # Then the old last deadline no longer makes the evaluation due
    old_deadline = datetime.combine(LAST_DEADLINE, datetime.min.time(), UTC)
    error = cycle.refuse(MarkEvaluationDue(), old_deadline)
    assert later_deadline.isoformat() in error.message


# --- reminders and a new manager during the cycle -------------------------------------------


def test_a_reminder_is_recorded_once_with_its_lateness() -> None:
    cycle = at_phase(Phase.PREPARATION)
    events = cycle.run(RecordFollowUp("c1/prep", "preparation_reminder", at(2), ("e1",)), at(2, 1))
    (fired,) = events
    assert isinstance(fired, FollowUpFired)
    assert (fired.late_seconds, fired.recipients) == (3600, ("e1",))
    assert cycle.now.fired_followups == {"c1/prep"}
    assert cycle.phase is Phase.PREPARATION


def test_a_reminder_fired_early_is_not_late() -> None:
    cycle = at_phase(Phase.INTERVIEW)
    (fired,) = cycle.run(RecordFollowUp("c1/talk", "interview_reminder", at(5)), at(4))
    assert isinstance(fired, FollowUpFired)
    assert fired.late_seconds == 0


def test_a_new_manager_replaces_a_pending_manager_signature() -> None:
    # Given a drafted plan the old manager signed, the employee not yet
    cycle = at_phase(Phase.AGREEMENT)
    cycle.run(two_goals(), at(AGREEMENT_DAY))
    cycle.run(SignPlan(Side.MANAGER), at(SIGN_DAY))
    # When the employee gets a new manager
    cycle.run(ChangeCycleManager("m2"), at(SIGN_DAY))
    # Then the new manager's signature is the one still needed
    assert cycle.now.manager_id == "m2"
    assert cycle.now.signatures == frozenset()
    cycle.run(SignPlan(Side.EMPLOYEE), at(SIGN_DAY))
    assert phase_of(cycle) is Phase.AGREEMENT
    cycle.run(SignPlan(Side.MANAGER), at(SIGN_DAY))
    assert phase_of(cycle) is Phase.PROGRESS_REVIEW


def test_a_new_manager_keeps_a_plan_in_force() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    cycle.run(ChangeCycleManager("m2"), LATER)
    assert cycle.now.in_force
    assert cycle.phase is Phase.PROGRESS_REVIEW
