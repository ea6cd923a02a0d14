"""The whole POP cycle, phase by phase, as DESIGN.md §5 describes it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from events.domain import (
    CycleRestarted,
    CycleStarted,
    EvaluationDue,
    EvaluationRecorded,
    InterviewHeld,
    InterviewScheduled,
    Progress,
    Reason,
    Side,
)
from tests.unit.builders import (
    CYCLE_ID,
    EMPLOYEE_ID,
    INTERVIEW_DAY,
    LAST_DEADLINE,
    MANAGER_ID,
    OPEN_PHASES,
    T0,
    at,
    at_phase,
    drive,
    one_of_each_command,
    phase_of,
    prepare,
    results,
    start,
    two_goals,
)
from workflow.commands import (
    CancelCycle,
    CycleCommand,
    MarkEvaluationDue,
    RecordFollowUp,
    RecordInterviewHeld,
    RestartCycle,
    ReviewProgress,
    ScheduleInterview,
    SignPlan,
)
from workflow.decide import allowed_commands, decide, start_next_cycle
from workflow.errors import DomainError
from workflow.phases import Phase
from workflow.state import replay

EVALUATION_DAY = datetime(2027, 1, 10, tzinfo=UTC)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


# --- invitation -----------------------------------------------------------------------------


def test_start_invites_the_employee() -> None:
    # Given no cycle yet
    # When HR starts one without an interview date
    cycle = drive([(start(), T0)])
    # Then the cycle is in the invitation phase with one event, and nothing is scheduled
    state = cycle.now
    assert (state.cycle_id, state.employee_id, state.manager_id) == (
        CYCLE_ID,
        EMPLOYEE_ID,
        MANAGER_ID,
    )
    assert state.phase is Phase.INVITATION
    assert state.reason is Reason.PERIODIC
    assert state.invited_at == T0
    assert state.version == 1
    assert state.interview_at is None
    assert state.previous_cycle_id is None
    assert cycle.events == [CycleStarted(CYCLE_ID, EMPLOYEE_ID, MANAGER_ID, Reason.PERIODIC, T0)]


def test_interview_at_given_at_start_schedules_it() -> None:
    # Given no cycle yet
    # When HR starts one with the interview date already set
    cycle = drive([(start(at(INTERVIEW_DAY)), T0)])
    # Then the start records the schedule too, and the cycle still waits for preparation
    assert [type(event) for event in cycle.events] == [CycleStarted, InterviewScheduled]
    assert cycle.now.interview_at == at(INTERVIEW_DAY)
    assert cycle.phase is Phase.INVITATION
    assert cycle.now.version == 2


# --- preparation ----------------------------------------------------------------------------


@pytest.mark.parametrize("side", list(Side))
def test_first_talking_points_of_either_side_start_the_preparation(side: Side) -> None:
    # Given an invited cycle with the interview scheduled
    cycle = at_phase(Phase.INVITATION)
    # When one side (either one) submits talking points
    cycle.run(prepare(side, "  ambition: team lead  "), at(1))
    # Then the cycle is in preparation, with only that side's (trimmed) points recorded
    assert cycle.phase is Phase.PREPARATION
    assert set(cycle.now.preparations) == {side}
    assert cycle.now.preparations[side].talking_points == ("ambition: team lead",)
    assert cycle.now.preparations[side].submitted_at == at(1)


def test_preparation_may_be_replaced_before_the_interview() -> None:
    # Given the employee prepared
    cycle = at_phase(Phase.PREPARATION)
    # When the employee submits new talking points
    cycle.run(prepare(Side.EMPLOYEE, "second thoughts"), at(3))
    # Then the latest points replace the earlier ones and the phase stays
    assert cycle.now.preparations[Side.EMPLOYEE].talking_points == ("second thoughts",)
    assert cycle.phase is Phase.PREPARATION


# --- interview ------------------------------------------------------------------------------


def test_interview_once_scheduled_and_both_prepared_schedule_first() -> None:
    # Given a cycle whose interview was scheduled at the start
    cycle = drive([(start(at(INTERVIEW_DAY)), T0), (prepare(Side.EMPLOYEE), at(1))])
    assert phase_of(cycle) is Phase.PREPARATION
    # When the second side prepares too
    cycle.run(prepare(Side.MANAGER), at(2))
    # Then the cycle moves to the interview phase
    assert phase_of(cycle) is Phase.INTERVIEW


def test_interview_once_scheduled_and_both_prepared_prepare_first() -> None:
    # Given both sides prepared but no interview date yet
    cycle = drive([(start(), T0), (prepare(Side.MANAGER), at(1)), (prepare(Side.EMPLOYEE), at(2))])
    assert phase_of(cycle) is Phase.PREPARATION
    # When the interview is scheduled
    cycle.run(ScheduleInterview(at(INTERVIEW_DAY)), at(3))
    # Then the cycle moves to the interview phase at that date
    assert phase_of(cycle) is Phase.INTERVIEW
    assert cycle.now.interview_at == at(INTERVIEW_DAY)


def test_moving_the_interview_keeps_the_phase() -> None:
    # Given a cycle in the interview phase
    cycle = at_phase(Phase.INTERVIEW)
    # When the interview is moved
    cycle.run(ScheduleInterview(at(INTERVIEW_DAY + 7)), at(5))
    # Then only the date changes
    assert cycle.phase is Phase.INTERVIEW
    assert cycle.now.interview_at == at(INTERVIEW_DAY + 7)


# --- agreement ------------------------------------------------------------------------------


def test_held_interview_moves_to_agreement() -> None:
    # Given a cycle in the interview phase
    cycle = at_phase(Phase.INTERVIEW)
    # When the interview is recorded as held, at a given time with a summary
    cycle.run(RecordInterviewHeld(at(INTERVIEW_DAY), "open talk"), at(INTERVIEW_DAY, 2))
    # Then the cycle waits for the plan
    assert cycle.phase is Phase.AGREEMENT
    assert cycle.now.interview_held_at == at(INTERVIEW_DAY)
    assert cycle.now.interview_summary == "open talk"
    assert cycle.now.interviews_held == 1


def test_held_at_defaults_to_now() -> None:
    # Given a cycle in the interview phase
    cycle = at_phase(Phase.INTERVIEW)
    # When the interview is recorded as held without a time
    events = cycle.run(RecordInterviewHeld(), at(INTERVIEW_DAY, 1))
    # Then it was held at the moment it was recorded
    assert events == [InterviewHeld(at(INTERVIEW_DAY, 1))]
    assert cycle.now.interview_held_at == at(INTERVIEW_DAY, 1)


def test_held_earlier_than_planned_is_fine() -> None:
    # Given an interview planned on day 14
    cycle = at_phase(Phase.INTERVIEW)
    # When it is recorded as held on day 10
    cycle.run(RecordInterviewHeld(at(10)), at(10, 1))
    # Then it simply happened earlier
    assert cycle.phase is Phase.AGREEMENT
    assert cycle.now.interview_held_at == at(10)


def test_held_with_a_follow_up_stays_in_interview_at_the_new_date() -> None:
    # Given a cycle in the interview phase
    cycle = at_phase(Phase.INTERVIEW)
    # When the talk was held but needs a second appointment
    follow_up = at(INTERVIEW_DAY + 7)
    cycle.run(RecordInterviewHeld(follow_up_at=follow_up), at(INTERVIEW_DAY))
    # Then the cycle stays in the interview phase, scheduled at the follow-up
    assert phase_of(cycle) is Phase.INTERVIEW
    assert cycle.now.interview_at == follow_up
    assert cycle.now.interviews_held == 1
    # When the follow-up is held
    cycle.run(RecordInterviewHeld(), follow_up)
    # Then the cycle moves on to the agreement
    assert phase_of(cycle) is Phase.AGREEMENT
    assert cycle.now.interviews_held == 2


def test_held_in_the_future_is_refused() -> None:
    # Given a cycle in the interview phase
    cycle = at_phase(Phase.INTERVIEW)
    # When someone records the talk as held tomorrow
    error = cycle.refuse(RecordInterviewHeld(at(INTERVIEW_DAY + 1)), at(INTERVIEW_DAY))
    # Then it is refused on held_at
    assert error.field == "held_at"
    assert "future" in error.message


def test_held_before_the_invitation_is_refused() -> None:
    # Given a cycle in the interview phase
    cycle = at_phase(Phase.INTERVIEW)
    # When someone records the talk as held before the cycle was started
    error = cycle.refuse(RecordInterviewHeld(T0 - timedelta(seconds=1)), at(INTERVIEW_DAY))
    # Then it is refused on held_at
    assert error.field == "held_at"
    assert "invitation" in error.message


def test_held_may_be_recorded_any_time_once_scheduled() -> None:
    # Given an invited cycle with the interview scheduled but no preparation yet
    cycle = at_phase(Phase.INVITATION)
    # When the interview is recorded as held
    cycle.run(RecordInterviewHeld(), at(INTERVIEW_DAY))
    # Then the cycle moves on to the agreement (DESIGN §5: held "any time once scheduled")
    assert cycle.phase is Phase.AGREEMENT


# --- progress review ------------------------------------------------------------------------


def test_both_signatures_put_the_plan_in_force() -> None:
    # Given a drafted plan
    cycle = at_phase(Phase.AGREEMENT)
    cycle.run(two_goals(), at(15))
    assert cycle.now.plan_version == 1
    assert [g.goal_id for g in cycle.now.goals] == ["g1", "g2"]
    # When the employee signs
    cycle.run(SignPlan(Side.EMPLOYEE, 1), at(16))
    # Then the plan is not acceptable yet
    assert phase_of(cycle) is Phase.AGREEMENT
    assert not cycle.now.in_force
    # When the manager signs too
    cycle.run(SignPlan(Side.MANAGER), at(17))
    # Then the contract is in force and the progress reviews begin
    assert phase_of(cycle) is Phase.PROGRESS_REVIEW
    assert cycle.now.in_force
    assert [(p.plan_version, p.signed_at) for p in cycle.now.signed_plans] == [(1, at(17))]


def test_review_records_progress_and_stays_in_progress_review() -> None:
    # Given a plan in force
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    # When a goal is reported stalled, then the whole plan on track
    cycle.run(ReviewProgress(Progress.STALLED, "no time", "g1"), at(60))
    cycle.run(ReviewProgress(Progress.ON_TRACK, "overall fine"), at(90))
    # Then the goal review stands (a plan-wide on_track does not overrule it)
    assert cycle.phase is Phase.PROGRESS_REVIEW
    assert dict(cycle.now.progress) == {"g1": Progress.STALLED}
    assert cycle.now.reviews == 2


# --- evaluation -----------------------------------------------------------------------------


def test_all_goals_done_makes_the_evaluation_due() -> None:
    # Given a plan in force with two goals, one of them already done
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    cycle.run(ReviewProgress(Progress.DONE, "course passed", "g1"), at(60))
    assert phase_of(cycle) is Phase.PROGRESS_REVIEW
    # When the last goal is reported done
    events = cycle.run(ReviewProgress(Progress.DONE, "customers happy", "g2"), at(90))
    # Then the evaluation is due because everything is done
    assert events[-1] == EvaluationDue("all_done", at(90))
    assert phase_of(cycle) is Phase.EVALUATION
    assert cycle.now.evaluation_due_at == at(90)


def test_plan_wide_done_marks_every_goal_done() -> None:
    # Given a plan in force
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    # When the whole plan is reported done
    cycle.run(ReviewProgress(Progress.DONE, "all finished"), at(90))
    # Then every goal is done and the evaluation is due
    assert [cycle.now.goal_status(g.goal_id) for g in cycle.now.goals] == ["done", "done"]
    assert cycle.phase is Phase.EVALUATION


def test_evaluation_due_on_the_last_deadline() -> None:
    # Given a plan in force whose last goal deadline is 31 December
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    # When the scheduler marks the evaluation due on that very day
    events = cycle.run(MarkEvaluationDue(), midnight(LAST_DEADLINE))
    # Then the evaluation is due by deadline
    assert events == [EvaluationDue("deadline", midnight(LAST_DEADLINE))]
    assert cycle.phase is Phase.EVALUATION


def test_evaluation_due_after_the_last_deadline() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    cycle.run(MarkEvaluationDue(), midnight(LAST_DEADLINE) + timedelta(days=30))
    assert cycle.phase is Phase.EVALUATION


def test_evaluation_due_before_the_last_deadline_is_refused() -> None:
    # Given a plan in force; the first deadline has passed, the last one not yet
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    # When the scheduler marks the evaluation due the evening before the last deadline
    error = cycle.refuse(MarkEvaluationDue(), midnight(LAST_DEADLINE) - timedelta(seconds=1))
    # Then it is refused, naming the deadline and what can be done now
    assert LAST_DEADLINE.isoformat() in error.message
    assert error.allowed == allowed_commands(cycle.now)
    assert "review" in error.allowed


# --- completed ------------------------------------------------------------------------------


def test_evaluation_completes_the_cycle() -> None:
    # Given a cycle whose evaluation is due
    cycle = at_phase(Phase.EVALUATION)
    # When the evaluation is recorded (results in any order)
    events = cycle.run(results(("g2", False), ("g1", True)), EVALUATION_DAY)
    # Then the cycle is completed, results in plan order
    assert cycle.phase is Phase.COMPLETED
    assert isinstance(events[0], EvaluationRecorded)
    assert [r.goal_id for r in cycle.now.results] == ["g1", "g2"]
    assert cycle.now.closed_at == EVALUATION_DAY
    assert cycle.now.goal_status("g1") == "achieved"
    assert cycle.now.goal_status("g2") == "missed"


def test_evaluation_during_progress_review_completes_directly() -> None:
    # Given a plan in force, before any deadline
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    # When the evaluation is recorded early
    cycle.run(results(("g1", True), ("g2", True)), at(100))
    # Then the cycle is completed without passing through evaluation
    assert cycle.phase is Phase.COMPLETED
    assert cycle.now.evaluation_due_at is None


# --- restart --------------------------------------------------------------------------------


def test_restart_opens_a_linked_cycle_with_unreached_goals_as_proposals() -> None:
    # Given a completed cycle where g1 was achieved and g2 missed
    old = at_phase(Phase.COMPLETED)
    # When it is restarted
    old_events, new_events = start_next_cycle(old.now, "c2", EVALUATION_DAY + timedelta(days=1))
    old.apply(old_events)
    new = replay(new_events)
    # Then the old cycle names its successor and stays completed
    assert old_events == [CycleRestarted("c2", EVALUATION_DAY + timedelta(days=1))]
    assert old.now.next_cycle_id == "c2"
    assert old.phase is Phase.COMPLETED
    # And the new cycle is invited, linked back, with the same people and reason
    assert new is not None
    assert new.phase is Phase.INVITATION
    assert new.previous_cycle_id == CYCLE_ID
    assert (new.employee_id, new.manager_id, new.reason) == (
        EMPLOYEE_ID,
        MANAGER_ID,
        Reason.PERIODIC,
    )
    # And only the missed goal comes along, pointing to where it came from
    assert [(p.title, p.carried_from) for p in new.proposals] == [("Customer focus", "c1/g2")]


def test_restart_carries_nothing_when_every_goal_was_reached() -> None:
    cycle = at_phase(Phase.EVALUATION)
    cycle.run(results(("g1", True), ("g2", True)), EVALUATION_DAY)
    _, new_events = start_next_cycle(cycle.now, "c2", EVALUATION_DAY)
    new = replay(new_events)
    assert new is not None
    assert new.proposals == ()
    assert new.previous_cycle_id == CYCLE_ID


def test_restarting_twice_is_refused() -> None:
    # Given a completed cycle that was restarted once
    cycle = at_phase(Phase.COMPLETED)
    cycle.run(RestartCycle("c2"), EVALUATION_DAY)
    # When it is restarted again (directly or through start_next_cycle)
    error = cycle.refuse(RestartCycle("c3"), EVALUATION_DAY)
    # Then both are refused, naming the successor
    assert "c2" in error.message
    with pytest.raises(DomainError, match="already restarted"):
        start_next_cycle(cycle.now, "c3", EVALUATION_DAY)


# --- cancellation and closed cycles ---------------------------------------------------------


@pytest.mark.parametrize("phase", OPEN_PHASES)
def test_cancel_from_each_open_phase(phase: Phase) -> None:
    # Given a cycle in an open phase
    cycle = at_phase(phase)
    now = max(at(400), datetime(2027, 2, 1, tzinfo=UTC))
    # When it is cancelled (the reason is trimmed)
    cycle.run(CancelCycle("  the employee left  "), now)
    # Then it is closed as cancelled
    assert cycle.phase is Phase.CANCELLED
    assert cycle.now.cancelled_reason == "the employee left"
    assert cycle.now.closed_at == now
    assert allowed_commands(cycle.now) == ()


@pytest.mark.parametrize(
    "command",
    [c for c in one_of_each_command() if not isinstance(c, RestartCycle | RecordFollowUp)],
)
def test_only_restart_after_completion(command: CycleCommand) -> None:
    # Given a completed cycle
    cycle = at_phase(Phase.COMPLETED)
    # When any step of the cycle but a restart is asked
    error = cycle.refuse(command, EVALUATION_DAY)
    # Then it is refused, pointing to the restart (and reminders, which the scheduler records)
    assert error.allowed == ("restart", "record follow-up")
    assert "completed" in error.message


def test_a_reminder_may_still_be_recorded_after_completion() -> None:
    # Given a completed cycle
    cycle = at_phase(Phase.COMPLETED)
    # When the scheduler records a reminder (e.g. to start the next cycle)
    cycle.run(RecordFollowUp("c1/restart", "restart_reminder", EVALUATION_DAY), EVALUATION_DAY)
    # Then it is recorded and the cycle stays completed
    assert cycle.phase is Phase.COMPLETED
    assert cycle.now.fired_followups == {"c1/restart"}


@pytest.mark.parametrize("command", [*one_of_each_command(), start()])
def test_nothing_after_cancellation(command: CycleCommand) -> None:
    # Given a cancelled cycle
    cycle = at_phase(Phase.CANCELLED)
    # When anything at all is asked
    error = cycle.refuse(command, at(30))
    # Then it is refused (a start because the cycle exists, the rest by phase)
    assert error.allowed == ()


def test_a_cancelled_cycle_cannot_be_restarted() -> None:
    cycle = at_phase(Phase.CANCELLED)
    with pytest.raises(DomainError, match="cancelled"):
        start_next_cycle(cycle.now, "c2", at(30))


def test_the_ordinary_path_replays_to_the_same_state() -> None:
    # Given a cycle that walked every phase
    cycle = at_phase(Phase.COMPLETED)
    # Then replaying its log gives the same state, at one version per event
    assert replay(cycle.events) == cycle.now
    assert cycle.now.version == len(cycle.events)


def test_decide_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(None, start(), datetime(2026, 1, 5, 9))
