"""The POP cycle's event types: what can happen to a cycle and to an employee, in past tense.

Plain frozen dataclasses with no I/O, so the pure `workflow/` can produce them. Each type has a
stable name and a schema version (`events/codec.py` turns them into JSON and back, upcasting
old versions on the way in). Never change a stored type in place: add a version and an upcaster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Side(StrEnum):
    """The two parties of a POP: the employee owns the plan, the manager coaches and co-signs."""

    EMPLOYEE = "employee"
    MANAGER = "manager"

    @property
    def other(self) -> Side:
        return Side.MANAGER if self is Side.EMPLOYEE else Side.EMPLOYEE


class Reason(StrEnum):
    """Why a cycle starts (seed 004 §2.9: periodic maintenance, problem signalling, on demand)."""

    PERIODIC = "periodic"
    PROBLEM = "problem"
    ON_DEMAND = "on_demand"


class Term(StrEnum):
    """Short term: up to a year; medium term: one to five years (seed 004 §2.3.1 tip)."""

    SHORT = "short"
    MEDIUM = "medium"


class Progress(StrEnum):
    """The answer of a progress review (voortgangsgesprek)."""

    ON_TRACK = "on_track"
    STALLED = "stalled"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Support:
    """Needed support and facilities (benodigde ondersteuning en faciliteiten)."""

    own_hours: float | None = None
    coach_hours: float | None = None
    budget_eur: float | None = None
    coach: str | None = None
    materials: tuple[str, ...] = ()  # v2: a list of learning materials (v1: one free text)

    def is_declared(self) -> bool:
        return any(
            bool(value.strip()) if isinstance(value, str) else bool(value)
            for value in (
                self.own_hours,
                self.coach_hours,
                self.budget_eur,
                self.coach,
                "".join(self.materials),
            )
        )


@dataclass(frozen=True, slots=True)
class Goal:
    """One SMART development goal (ontwikkelingsdoel) as agreed in a plan version."""

    goal_id: str
    title: str
    activity: str
    result: str
    deadline: date
    support: Support
    term: Term
    starting_level: str | None = None
    reward: str | None = None
    carried_from: str | None = None  # "cycle_id/goal_id" of an unreached goal carried over


@dataclass(frozen=True, slots=True)
class GoalResult:
    """Whether a goal was reached, and its effect on the work and on career prospects."""

    goal_id: str
    achieved: bool
    effect: str | None = None


# --- the cycle's stream --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleStarted:
    """The invitation: HR or the manager opens a POP cycle for an employee."""

    cycle_id: str
    employee_id: str
    manager_id: str
    reason: Reason
    invited_at: datetime
    previous_cycle_id: str | None = None
    proposals: tuple[Goal, ...] = ()  # unreached goals of the previous cycle, as proposals


@dataclass(frozen=True, slots=True)
class PreparationSubmitted:
    """One side's talking points (gespreksonderwerpen); private until the exchange."""

    author: Side
    talking_points: tuple[str, ...]
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class InterviewScheduled:
    """The POP-gesprek is planned (or moved)."""

    scheduled_at: datetime


@dataclass(frozen=True, slots=True)
class InterviewHeld:
    """The POP-gesprek took place; `follow_up_at` plans a second talk when one was not enough."""

    held_at: datetime
    summary: str | None = None
    follow_up_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlanDrafted:
    """The employee wrote (a new version of) the plan; every earlier signature lapses."""

    plan_version: int
    goals: tuple[Goal, ...]
    drafted_at: datetime


@dataclass(frozen=True, slots=True)
class PlanSigned:
    """One side signed one plan version; with both signatures the contract is in force."""

    signer: Side
    plan_version: int
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class ProgressReviewed:
    """A progress review (voortgang) of one goal, or of the whole plan when goal_id is None."""

    goal_id: str | None
    progress: Progress
    note: str
    reviewed_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationDue:
    """The SMART deadline arrived (or every goal is done): time to evaluate."""

    reason: str  # "deadline" | "all_done"
    due_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationRecorded:
    """The evaluation: per goal whether it was reached and what effect it had."""

    results: tuple[GoalResult, ...]
    evaluated_at: datetime
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class CycleRestarted:
    """The cycle was followed by a new one (its first event names this one as previous)."""

    new_cycle_id: str
    restarted_at: datetime


@dataclass(frozen=True, slots=True)
class CycleCancelled:
    """The cycle ended without evaluation (e.g. the employee left the organisation)."""

    reason: str
    cancelled_at: datetime


@dataclass(frozen=True, slots=True)
class CycleManagerChanged:
    """The employee got a new manager mid-cycle: from now on his signature and reminders count."""

    manager_id: str
    previous_manager_id: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class FollowUpFired:
    """A reminder or escalation went out (once: `followup_key` is unique per follow-up)."""

    followup_key: str
    kind: str
    due_at: datetime
    fired_at: datetime
    late_seconds: int = 0
    recipients: tuple[str, ...] = ()


# --- the employee's stream -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmployeeRegistered:
    """A person the organisation runs POP cycles for (employees and managers alike)."""

    employee_id: str
    name: str
    email: str
    registered_at: datetime
    manager_id: str | None = None
    language: str = "nl"
    department: str | None = None
    function: str | None = None
    start_date: date | None = None


@dataclass(frozen=True, slots=True)
class CycleOpened:
    """Recorded on the employee's stream so that one employee never has two open cycles."""

    cycle_id: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class EmployeeDetailsChanged:
    """Name, e-mail, language, department or function changed (None: unchanged)."""

    changed_at: datetime
    name: str | None = None
    email: str | None = None
    language: str | None = None
    department: str | None = None
    function: str | None = None


@dataclass(frozen=True, slots=True)
class ManagerChanged:
    """The person now reports to another manager (None: to nobody)."""

    manager_id: str | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class EmployeeLeft:
    """The person left the organisation on `left_on`."""

    left_on: date
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class QuadrantRecorded:
    """HR placed the person in the performance/potential matrix (seed 004 §1.3)."""

    quadrant: str  # solid_citizen | high_potential | learner | breaksman
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class BudgetAllowanceSet:
    """The personal development budget (POB) granted for one year."""

    year: int
    amount_eur: float
    set_at: datetime


@dataclass(frozen=True, slots=True)
class EmployeeForgotten:
    """GDPR erasure: the person's key was destroyed; their personal fields read as erased."""

    forgotten_at: datetime


CycleEvent = (
    CycleStarted
    | PreparationSubmitted
    | InterviewScheduled
    | InterviewHeld
    | PlanDrafted
    | PlanSigned
    | ProgressReviewed
    | EvaluationDue
    | EvaluationRecorded
    | CycleRestarted
    | CycleCancelled
    | CycleManagerChanged
    | FollowUpFired
)
EmployeeEvent = (
    EmployeeRegistered
    | CycleOpened
    | EmployeeDetailsChanged
    | ManagerChanged
    | EmployeeLeft
    | QuadrantRecorded
    | BudgetAllowanceSet
    | EmployeeForgotten
)
DomainEvent = CycleEvent | EmployeeEvent

CYCLE_EVENT_TYPES: tuple[type[CycleEvent], ...] = (
    CycleStarted,
    PreparationSubmitted,
    InterviewScheduled,
    InterviewHeld,
    PlanDrafted,
    PlanSigned,
    ProgressReviewed,
    EvaluationDue,
    EvaluationRecorded,
    CycleRestarted,
    CycleCancelled,
    CycleManagerChanged,
    FollowUpFired,
)
EMPLOYEE_EVENT_TYPES: tuple[type[EmployeeEvent], ...] = (
    EmployeeRegistered,
    CycleOpened,
    EmployeeDetailsChanged,
    ManagerChanged,
    EmployeeLeft,
    QuadrantRecorded,
    BudgetAllowanceSet,
    EmployeeForgotten,
)
EVENT_TYPES: tuple[type[DomainEvent], ...] = CYCLE_EVENT_TYPES + EMPLOYEE_EVENT_TYPES
