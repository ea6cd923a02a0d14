"""The rules of the POP cycle: given the state and a command, which events happen.

`decide` is pure: no clock, no I/O. It refuses an illegal step with a `DomainError` that says
what may be done instead (the same table that judges the step writes the hint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from events.domain import (
    CycleCancelled,
    CycleEvent,
    CycleManagerChanged,
    CycleRestarted,
    CycleStarted,
    EvaluationDue,
    EvaluationRecorded,
    FollowUpFired,
    Goal,
    InterviewHeld,
    InterviewScheduled,
    PlanDrafted,
    PlanSigned,
    PreparationSubmitted,
    ProgressReviewed,
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
from workflow.errors import DomainError
from workflow.phases import Phase
from workflow.smart import check_goals
from workflow.state import CycleState, evolve

_P = Phase
_ALWAYS_OPEN = (CancelCycle, ChangeCycleManager, RecordFollowUp)
_BEFORE_TALK = (SubmitPreparation, ScheduleInterview, RecordInterviewHeld)
# Which command each phase admits: the single source for both refusals and their hints.
ALLOWED: dict[Phase, tuple[type[Any], ...]] = {
    _P.INVITATION: (*_BEFORE_TALK, *_ALWAYS_OPEN),
    _P.PREPARATION: (*_BEFORE_TALK, *_ALWAYS_OPEN),
    _P.INTERVIEW: (*_BEFORE_TALK, *_ALWAYS_OPEN),
    _P.AGREEMENT: (DraftPlan, SignPlan, *_ALWAYS_OPEN),
    _P.PROGRESS_REVIEW: (
        ReviewProgress,
        DraftPlan,
        MarkEvaluationDue,
        RecordEvaluation,
        *_ALWAYS_OPEN,
    ),
    _P.EVALUATION: (RecordEvaluation, *_ALWAYS_OPEN),
    _P.COMPLETED: (RestartCycle, RecordFollowUp),
    _P.CANCELLED: (),
}

COMMAND_NAMES: dict[type[Any], str] = {
    StartCycle: "start",
    SubmitPreparation: "prepare",
    ScheduleInterview: "schedule interview",
    RecordInterviewHeld: "record interview held",
    DraftPlan: "draft plan",
    SignPlan: "sign",
    ReviewProgress: "review",
    MarkEvaluationDue: "mark evaluation due",
    RecordEvaluation: "evaluate",
    RestartCycle: "restart",
    CancelCycle: "cancel",
    RecordFollowUp: "record follow-up",
    ChangeCycleManager: "change manager",
}


def allowed_commands(state: CycleState) -> tuple[str, ...]:
    """The names of what may be done in the cycle's current phase."""
    kinds = ALLOWED[state.phase]
    if state.next_cycle_id is not None:
        kinds = tuple(kind for kind in kinds if kind is not RestartCycle)
    return tuple(COMMAND_NAMES[kind] for kind in kinds)


def decide(state: CycleState | None, command: CycleCommand, now: datetime) -> list[CycleEvent]:
    """The events a command produces, or a `DomainError` saying why not and what instead."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if isinstance(command, StartCycle):
        if state is not None:
            raise DomainError(
                f"cycle {state.cycle_id} already exists",
                field="cycle_id",
                allowed=allowed_commands(state),
            )
        try:
            return _start(command, now)
        except DomainError as refused:
            raise refused.offering(("start, with the field corrected",)) from None
    if state is None:
        raise DomainError("the cycle does not exist; start it first", allowed=("start",))
    if not isinstance(command, ALLOWED[state.phase]):
        raise DomainError(
            f"cannot {COMMAND_NAMES[type(command)]} while the cycle is in phase "
            f"{state.phase.value}{_why_not(state, command)}",
            allowed=allowed_commands(state),
        )
    handler = _HANDLERS[type(command)]
    try:
        return handler(state, command, now)
    except DomainError as refused:
        if refused.allowed:
            raise
        # Every refusal says what may be done instead: here, what this phase admits.
        raise refused.offering(allowed_commands(state)) from None


def _why_not(state: CycleState, command: CycleCommand) -> str:
    """The domain reason behind a refusal, where the phase alone does not say it."""
    if isinstance(command, ReviewProgress) and state.phase is Phase.AGREEMENT:
        return (
            ": A (acceptable): the plan is not in force until both employee and manager "
            "have signed it"
        )
    if isinstance(command, SignPlan) and state.phase is Phase.PROGRESS_REVIEW:
        return ": both sides already signed this plan version"
    if isinstance(command, RestartCycle) and state.next_cycle_id is None:
        return ": a cycle restarts once its evaluation is recorded"
    return ""


def _start(command: StartCycle, now: datetime) -> list[CycleEvent]:
    for name in ("cycle_id", "employee_id", "manager_id"):
        if not getattr(command, name).strip():
            raise DomainError("must not be empty", field=name)
    if command.employee_id == command.manager_id:
        raise DomainError("an employee cannot be his own manager", field="manager_id")
    events: list[CycleEvent] = [
        CycleStarted(
            cycle_id=command.cycle_id,
            employee_id=command.employee_id,
            manager_id=command.manager_id,
            reason=command.reason,
            invited_at=now,
        )
    ]
    if command.interview_at is not None:
        _require_future(command.interview_at, now, "interview_at")
        events.append(InterviewScheduled(command.interview_at))
    return events


def start_next_cycle(
    previous: CycleState, new_cycle_id: str, now: datetime
) -> tuple[list[CycleEvent], list[CycleEvent]]:
    """Restart: events for the old cycle and for the new one, linked both ways.

    Goals that were not achieved come along as proposals, each pointing to where it came from.
    """
    old_events = decide(previous, RestartCycle(new_cycle_id), now)
    missed = {result.goal_id for result in previous.results if not result.achieved}
    proposals = tuple(
        _carried(goal, previous.cycle_id) for goal in previous.goals if goal.goal_id in missed
    )
    started = CycleStarted(
        cycle_id=new_cycle_id,
        employee_id=previous.employee_id,
        manager_id=previous.manager_id,
        reason=previous.reason,
        invited_at=now,
        previous_cycle_id=previous.cycle_id,
        proposals=proposals,
    )
    return old_events, [started]


def _carried(goal: Goal, cycle_id: str) -> Goal:
    return replace(goal, carried_from=f"{cycle_id}/{goal.goal_id}")


def _require_future(at: datetime, now: datetime, field: str) -> None:
    if at.tzinfo is None:
        raise DomainError("give a time with a time zone", field=field)
    if at < now:
        raise DomainError(f"{at.isoformat()} lies in the past", field=field)


def _prepare(state: CycleState, command: SubmitPreparation, now: datetime) -> list[CycleEvent]:
    points = tuple(point.strip() for point in command.talking_points)
    if not points or any(not point for point in points):
        raise DomainError(
            "give at least one talking point, none of them empty", field="talking_points"
        )
    return [PreparationSubmitted(command.author, points, now)]


def _schedule(state: CycleState, command: ScheduleInterview, now: datetime) -> list[CycleEvent]:
    _require_future(command.scheduled_at, now, "scheduled_at")
    if state.interview_at == command.scheduled_at:
        raise DomainError("the interview is already scheduled at that time", field="scheduled_at")
    return [InterviewScheduled(command.scheduled_at)]


def _held(state: CycleState, command: RecordInterviewHeld, now: datetime) -> list[CycleEvent]:
    if state.interview_at is None:
        raise DomainError(
            "schedule the interview before recording it as held",
            allowed=("schedule interview", "cancel"),
        )
    held_at = command.held_at or now
    if held_at.tzinfo is None:
        raise DomainError("give a time with a time zone", field="held_at")
    if held_at > now:
        raise DomainError("an interview cannot be held in the future", field="held_at")
    if held_at < state.invited_at:
        raise DomainError("the interview cannot precede the invitation", field="held_at")
    if command.follow_up_at is not None and command.follow_up_at.tzinfo is None:
        raise DomainError("give a time with a time zone", field="follow_up_at")
    if command.follow_up_at is not None and command.follow_up_at <= held_at:
        raise DomainError("the follow-up talk must come after this one", field="follow_up_at")
    if command.follow_up_at is not None:
        _require_future(command.follow_up_at, now, "follow_up_at")
    return [InterviewHeld(held_at, command.summary, command.follow_up_at)]


def _draft(state: CycleState, command: DraftPlan, now: datetime) -> list[CycleEvent]:
    goals = check_goals(command.goals, now.date(), state.used_goal_ids)
    return [PlanDrafted(state.plan_version + 1, goals, now)]


def _sign(state: CycleState, command: SignPlan, now: datetime) -> list[CycleEvent]:
    if state.plan_version == 0:
        raise DomainError("there is no plan to sign yet", allowed=("draft plan",))
    if command.plan_version is not None and command.plan_version != state.plan_version:
        raise DomainError(
            f"the plan is at version {state.plan_version}, not {command.plan_version}: "
            "read the current version before signing",
            field="plan_version",
        )
    if command.signer in state.signatures:
        raise DomainError(
            f"the {command.signer.value} already signed plan version {state.plan_version}; "
            f"waiting for the {command.signer.other.value}'s signature",
            field="signer",
        )
    return [PlanSigned(command.signer, state.plan_version, now)]


def _review(state: CycleState, command: ReviewProgress, now: datetime) -> list[CycleEvent]:
    if command.goal_id is not None and state.goal(command.goal_id) is None:
        raise DomainError(
            f"no goal {command.goal_id!r} in this plan "
            f"(goals: {', '.join(g.goal_id for g in state.goals)})",
            field="goal_id",
        )
    if not command.note.strip():
        raise DomainError("say how it is going in a note", field="note")
    review = ProgressReviewed(command.goal_id, command.progress, command.note.strip(), now)
    events: list[CycleEvent] = [review]
    after = evolve(state, review)
    if all(after.goal_status(goal.goal_id) == "done" for goal in after.goals):
        events.append(EvaluationDue("all_done", now))
    return events


def _evaluation_due(
    state: CycleState, command: MarkEvaluationDue, now: datetime
) -> list[CycleEvent]:
    last = state.last_deadline
    if last is None or now.date() < last:
        raise DomainError(
            f"the last goal deadline is {last.isoformat() if last else 'not set'}; "
            "the evaluation is due from then",
            allowed=allowed_commands(state),
        )
    return [EvaluationDue("deadline", now)]


def _evaluate(state: CycleState, command: RecordEvaluation, now: datetime) -> list[CycleEvent]:
    goal_ids = [goal.goal_id for goal in state.goals]
    given = [result.goal_id for result in command.results]
    for index, goal_id in enumerate(given):
        if goal_id not in goal_ids:
            raise DomainError(
                f"no goal {goal_id!r} in this plan", field=f"results[{index}].goal_id"
            )
        if given.count(goal_id) > 1:
            raise DomainError(
                f"goal {goal_id!r} evaluated twice", field=f"results[{index}].goal_id"
            )
    missing = [goal_id for goal_id in goal_ids if goal_id not in given]
    if missing:
        raise DomainError(
            f"give a result for every goal; missing: {', '.join(missing)}", field="results"
        )
    order = {goal_id: index for index, goal_id in enumerate(goal_ids)}
    results = tuple(sorted(command.results, key=lambda result: order[result.goal_id]))
    return [EvaluationRecorded(results, now, command.summary)]


def _restart(state: CycleState, command: RestartCycle, now: datetime) -> list[CycleEvent]:
    if state.next_cycle_id is not None:
        raise DomainError(f"the cycle was already restarted as {state.next_cycle_id}")
    return [CycleRestarted(command.new_cycle_id, now)]


def _cancel(state: CycleState, command: CancelCycle, now: datetime) -> list[CycleEvent]:
    if not command.reason.strip():
        raise DomainError("say why the cycle is cancelled", field="reason")
    return [CycleCancelled(command.reason.strip(), now)]


def _follow_up(state: CycleState, command: RecordFollowUp, now: datetime) -> list[CycleEvent]:
    if command.followup_key in state.fired_followups:
        raise DomainError(f"follow-up {command.followup_key} already fired", field="followup_key")
    if command.due_at.tzinfo is None:
        raise DomainError("give a time with a time zone", field="due_at")
    late = max(0, int((now - command.due_at).total_seconds()))
    return [
        FollowUpFired(
            command.followup_key, command.kind, command.due_at, now, late, command.recipients
        )
    ]


def _change_manager(
    state: CycleState, command: ChangeCycleManager, now: datetime
) -> list[CycleEvent]:
    if not command.manager_id.strip():
        raise DomainError("must not be empty", field="manager_id")
    if command.manager_id == state.manager_id:
        raise DomainError(f"{command.manager_id} is already the manager", field="manager_id")
    if command.manager_id == state.employee_id:
        raise DomainError("an employee cannot be his own manager", field="manager_id")
    return [CycleManagerChanged(command.manager_id, state.manager_id, now)]


_Handler = Callable[[CycleState, Any, datetime], list[CycleEvent]]
_HANDLERS: dict[type[Any], _Handler] = {
    SubmitPreparation: _prepare,
    ScheduleInterview: _schedule,
    RecordInterviewHeld: _held,
    DraftPlan: _draft,
    SignPlan: _sign,
    ReviewProgress: _review,
    MarkEvaluationDue: _evaluation_due,
    RecordEvaluation: _evaluate,
    RestartCycle: _restart,
    CancelCycle: _cancel,
    RecordFollowUp: _follow_up,
    ChangeCycleManager: _change_manager,
}
