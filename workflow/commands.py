"""What people ask of a POP cycle. Plain data; `workflow.decide` judges them.

Times are timezone-aware UTC datetimes; goal deadlines are dates. Commands that happen "now"
carry no time of their own: the caller passes `now` to `decide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from events.domain import GoalResult, Progress, Reason, Side, Support, Term


@dataclass(frozen=True, slots=True)
class StartCycle:
    """Invite an employee to a POP cycle (optionally with the interview date already set)."""

    cycle_id: str
    employee_id: str
    manager_id: str
    reason: Reason
    interview_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubmitPreparation:
    """One side's talking points; may be replaced until the interview is held."""

    author: Side
    talking_points: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScheduleInterview:
    """Set or move the date of the POP-gesprek."""

    scheduled_at: datetime


@dataclass(frozen=True, slots=True)
class RecordInterviewHeld:
    """The talk took place (at `held_at`, default now); plan a second one with `follow_up_at`."""

    held_at: datetime | None = None
    summary: str | None = None
    follow_up_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GoalDraft:
    """A goal as the employee writes it; `goal_id` keeps identity across plan versions."""

    title: str
    activity: str
    result: str
    deadline: date
    support: Support
    term: Term | None = None
    starting_level: str | None = None
    reward: str | None = None
    goal_id: str | None = None
    carried_from: str | None = None


@dataclass(frozen=True, slots=True)
class DraftPlan:
    """Write the plan (agreement), or revise a signed one: both must sign the new version."""

    goals: tuple[GoalDraft, ...]


@dataclass(frozen=True, slots=True)
class SignPlan:
    """Sign the current plan version; `plan_version` guards against signing an unread one."""

    signer: Side
    plan_version: int | None = None


@dataclass(frozen=True, slots=True)
class ReviewProgress:
    """A progress review of one goal, or of the whole plan when `goal_id` is None."""

    progress: Progress
    note: str
    goal_id: str | None = None


@dataclass(frozen=True, slots=True)
class MarkEvaluationDue:
    """Sent by the scheduler when the last SMART deadline arrives."""


@dataclass(frozen=True, slots=True)
class RecordEvaluation:
    """The evaluation: a result for every goal."""

    results: tuple[GoalResult, ...]
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class RestartCycle:
    """Open the next cycle; unreached goals are carried into it as proposals."""

    new_cycle_id: str


@dataclass(frozen=True, slots=True)
class CancelCycle:
    """End the cycle without evaluation (e.g. the employee left)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RecordFollowUp:
    """The scheduler sends a reminder: recorded once per `followup_key`, late if `now > due_at`."""

    followup_key: str
    kind: str
    due_at: datetime
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangeCycleManager:
    """The employee's manager changed: the open cycle moves to the new manager."""

    manager_id: str


CycleCommand = (
    StartCycle
    | SubmitPreparation
    | ScheduleInterview
    | RecordInterviewHeld
    | DraftPlan
    | SignPlan
    | ReviewProgress
    | MarkEvaluationDue
    | RecordEvaluation
    | RestartCycle
    | CancelCycle
    | RecordFollowUp
    | ChangeCycleManager
)
