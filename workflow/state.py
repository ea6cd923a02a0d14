"""The state of one POP cycle, rebuilt by folding its events (`evolve`).

`evolve` never refuses: every event in the log already happened. All judging is in
`workflow.decide`, which reads this state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType

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
    GoalResult,
    InterviewHeld,
    InterviewScheduled,
    PlanDrafted,
    PlanSigned,
    PreparationSubmitted,
    Progress,
    ProgressReviewed,
    Reason,
    Side,
)
from workflow.phases import Phase


@dataclass(frozen=True, slots=True)
class Preparation:
    """One side's talking points and when they were (last) submitted."""

    talking_points: tuple[str, ...]
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class SignedPlan:
    """A plan version both sides signed: the development contract, kept when revised."""

    plan_version: int
    goals: tuple[Goal, ...]
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class CycleState:
    """Everything the rules need to know about a cycle, and what the read side shows."""

    cycle_id: str
    employee_id: str
    manager_id: str
    reason: Reason
    invited_at: datetime
    phase: Phase = Phase.INVITATION
    version: int = 0
    previous_cycle_id: str | None = None
    proposals: tuple[Goal, ...] = ()
    preparations: Mapping[Side, Preparation] = field(default_factory=lambda: MappingProxyType({}))
    interview_at: datetime | None = None
    interviews_held: int = 0
    interview_held_at: datetime | None = None
    interview_summary: str | None = None
    plan_version: int = 0
    goals: tuple[Goal, ...] = ()
    drafted_at: datetime | None = None
    signatures: frozenset[Side] = frozenset()
    signed_plans: tuple[SignedPlan, ...] = ()
    used_goal_ids: tuple[str, ...] = ()  # every goal id any plan version ever had: never reused
    progress: Mapping[str, Progress] = field(default_factory=lambda: MappingProxyType({}))
    reviews: int = 0
    evaluation_due_at: datetime | None = None
    results: tuple[GoalResult, ...] = ()
    evaluated_at: datetime | None = None
    next_cycle_id: str | None = None
    fired_followups: frozenset[str] = frozenset()
    cancelled_reason: str | None = None
    closed_at: datetime | None = None

    @property
    def both_prepared(self) -> bool:
        return len(self.preparations) == 2

    @property
    def in_force(self) -> bool:
        """Acceptable: the current plan version is signed by both sides."""
        return self.plan_version > 0 and self.signatures == {Side.EMPLOYEE, Side.MANAGER}

    @property
    def last_deadline(self) -> date | None:
        return max((goal.deadline for goal in self.goals), default=None)

    def goal(self, goal_id: str) -> Goal | None:
        return next((goal for goal in self.goals if goal.goal_id == goal_id), None)

    def goal_status(self, goal_id: str) -> str:
        """open, done (reported in a review), achieved or missed (after the evaluation)."""
        for result in self.results:
            if result.goal_id == goal_id:
                return "achieved" if result.achieved else "missed"
        return "done" if self.progress.get(goal_id) is Progress.DONE else "open"


def _after_preparation(
    phase: Phase, preparations: Mapping[Side, Preparation], interview_at: datetime | None
) -> Phase:
    """Invitation → preparation at the first talking points; → interview when also scheduled."""
    if phase not in (Phase.INVITATION, Phase.PREPARATION):
        return phase
    if len(preparations) == 2 and interview_at is not None:
        return Phase.INTERVIEW
    return Phase.PREPARATION if preparations else Phase.INVITATION


def evolve(state: CycleState | None, event: CycleEvent) -> CycleState:
    """The state after one more event (the first must be `CycleStarted`)."""
    if isinstance(event, CycleStarted):
        return CycleState(
            cycle_id=event.cycle_id,
            employee_id=event.employee_id,
            manager_id=event.manager_id,
            reason=event.reason,
            invited_at=event.invited_at,
            previous_cycle_id=event.previous_cycle_id,
            proposals=event.proposals,
            version=1,
        )
    if state is None:
        raise ValueError(f"a cycle's first event must be CycleStarted, not {type(event).__name__}")
    # One `replace` per event: it copies all of the state's fields, and folding a stream is on
    # every command's path.
    version = state.version + 1
    match event:
        case PreparationSubmitted(author, points, at):
            preparations = {**state.preparations, author: Preparation(points, at)}
            return replace(
                state,
                version=version,
                preparations=MappingProxyType(preparations),
                phase=_after_preparation(state.phase, preparations, state.interview_at),
            )
        case InterviewScheduled(at):
            phase = _after_preparation(state.phase, state.preparations, at)
            return replace(state, version=version, interview_at=at, phase=phase)
        case InterviewHeld(held_at, summary, follow_up_at):
            return replace(
                state,
                version=version,
                interviews_held=state.interviews_held + 1,
                interview_held_at=held_at,
                interview_summary=summary,
                interview_at=state.interview_at if follow_up_at is None else follow_up_at,
                phase=Phase.AGREEMENT if follow_up_at is None else Phase.INTERVIEW,
            )
        case PlanDrafted(plan_version, goals, at):
            known = {goal.goal_id for goal in goals}
            progress = {k: v for k, v in state.progress.items() if k in known}
            used = (*state.used_goal_ids, *(goal.goal_id for goal in goals))
            return replace(
                state,
                version=version,
                plan_version=plan_version,
                goals=goals,
                used_goal_ids=tuple(dict.fromkeys(used)),
                drafted_at=at,
                signatures=frozenset(),
                progress=MappingProxyType(progress),
                phase=Phase.AGREEMENT,
            )
        case PlanSigned(signer, plan_version, at):
            signatures = state.signatures | {signer}
            if state.plan_version > 0 and signatures == {Side.EMPLOYEE, Side.MANAGER}:
                return replace(
                    state,
                    version=version,
                    signatures=signatures,
                    signed_plans=(*state.signed_plans, SignedPlan(plan_version, state.goals, at)),
                    phase=Phase.PROGRESS_REVIEW,
                )
            return replace(state, version=version, signatures=signatures)
        case ProgressReviewed(goal_id, progress, _note, _at):
            targets = [goal.goal_id for goal in state.goals] if goal_id is None else [goal_id]
            if goal_id is None and progress is not Progress.DONE:
                targets = []  # a plan-wide "on track"/"stalled" does not overrule goal reviews
            updated = {**state.progress, **dict.fromkeys(targets, progress)}
            return replace(
                state,
                version=version,
                progress=MappingProxyType(updated),
                reviews=state.reviews + 1,
            )
        case EvaluationDue(_reason, at):
            return replace(state, version=version, phase=Phase.EVALUATION, evaluation_due_at=at)
        case EvaluationRecorded(results, at, _summary):
            return replace(
                state,
                version=version,
                results=results,
                evaluated_at=at,
                phase=Phase.COMPLETED,
                closed_at=at,
            )
        case CycleRestarted(new_cycle_id, _at):
            return replace(state, version=version, next_cycle_id=new_cycle_id)
        case CycleCancelled(reason, at):
            return replace(
                state,
                version=version,
                phase=Phase.CANCELLED,
                cancelled_reason=reason,
                closed_at=at,
            )
        case CycleManagerChanged(manager_id, _previous, _at):
            # The new manager's signature is the one that counts: an unsigned-by-both plan
            # loses the old manager's signature; a plan in force stays in force.
            signatures = state.signatures
            if not state.in_force:
                signatures = signatures - {Side.MANAGER}
            return replace(state, version=version, manager_id=manager_id, signatures=signatures)
        case FollowUpFired(key, _kind, _due, _fired, _late, _recipients):
            return replace(state, version=version, fired_followups=state.fired_followups | {key})
    raise TypeError(f"not a cycle event: {type(event).__name__}")


def replay(events: Iterable[CycleEvent]) -> CycleState | None:
    """Fold a stream from the start; None for an empty stream."""
    state: CycleState | None = None
    for event in events:
        state = evolve(state, event)
    return state
