"""What the policy would send, per week, if nobody did anything meanwhile.

It runs on a copy of the current state in memory, on a virtual clock: follow-ups fire in due
order, their effects (evaluation due, restart) are applied with the real rules, and each fired
reminder is listed. Nothing is written, so HR can preview a policy's load before switching it on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from workflow.commands import MarkEvaluationDue, RecordFollowUp
from workflow.decide import decide, start_next_cycle
from workflow.errors import DomainError
from workflow.followups import MARK_EVALUATION_DUE, RESTART, Calendar, FollowUp, followups_for
from workflow.policy import Policy
from workflow.smart import add_years
from workflow.state import CycleState, evolve

MAX_STEPS_PER_CYCLE = 200  # a guard: a cycle fires a few dozen follow-ups in years


@dataclass(frozen=True, slots=True)
class Simulated:
    """One reminder the policy would send."""

    week: str  # ISO week, e.g. 2027-W05
    due_at: datetime
    fires_at: datetime
    kind: str
    cycle_id: str
    recipients: tuple[str, ...]


def _people(state: CycleState, roles: tuple[str, ...]) -> tuple[str, ...]:
    who = {"employee": state.employee_id, "manager": state.manager_id, "hr": "hr"}
    return tuple(who[role] for role in roles if role in who)


def simulate_cycle(
    state: CycleState,
    policy: Policy,
    *,
    calendar: Calendar,
    start: datetime,
    end: datetime,
    quadrant: str | None = None,
) -> Iterator[Simulated]:
    """The follow-ups one cycle (and the cycles it restarts into) fires between start and end."""
    for _step in range(MAX_STEPS_PER_CYCLE):
        pending = [
            f
            for f in followups_for(state, policy, calendar, quadrant)
            if f.key not in state.fired_followups and f.due_at <= end
        ]
        if not pending:
            return
        followup = pending[0]
        fires_at = max(followup.due_at, start)  # overdue ones go out at the start, late
        if followup.action != MARK_EVALUATION_DUE:
            year, week, _day = calendar.local_day(fires_at).isocalendar()
            people = _people(state, followup.recipients)
            yield Simulated(
                f"{year}-W{week:02d}",
                followup.due_at,
                fires_at,
                followup.kind,
                state.cycle_id,
                people,
            )
        state = _apply(state, followup, fires_at)


def _apply(state: CycleState, followup: FollowUp, at: datetime) -> CycleState:
    try:
        if followup.action == MARK_EVALUATION_DUE:
            for event in decide(state, MarkEvaluationDue(), at):
                state = evolve(state, event)
        elif followup.action == RESTART:
            _old, new = start_next_cycle(state, f"{state.cycle_id}-next", at)
            return evolve(None, new[0])
        command = RecordFollowUp(followup.key, followup.kind, followup.due_at)
        for event in decide(state, command, at):
            state = evolve(state, event)
    except DomainError:
        pass
    return state


def simulate(
    cycles: Iterable[tuple[CycleState, str | None]],
    policy: Policy,
    calendar: Calendar,
    start: datetime,
    end: datetime,
) -> list[Simulated]:
    """Every reminder the policy would send for these cycles, in time order."""
    found = [
        reminder
        for state, quadrant in cycles
        for reminder in simulate_cycle(
            state, policy, calendar=calendar, start=start, end=end, quadrant=quadrant
        )
    ]
    return sorted(found, key=lambda r: (r.fires_at, r.cycle_id, r.kind))


def overdue_under_policy(
    latest: Iterable[tuple[str, date, CycleState | None, str | None]],
    policy: Policy,
    today: date,
) -> list[tuple[str, str]]:
    """Employees whose last POP is older than the policy allows: (employee_id, why)."""
    found: list[tuple[str, str]] = []
    for employee_id, registered_on, state, quadrant in latest:
        years = policy.restart_years(quadrant)
        if years is None:
            continue
        if state is None:
            if add_years(registered_on, years) < today:
                found.append((employee_id, f"no POP cycle in {years} years"))
            continue
        if not state.phase.is_closed:
            continue
        last = (state.evaluated_at or state.closed_at or state.invited_at).date()
        if add_years(last, years) < today:
            found.append((employee_id, f"last POP {last.isoformat()}, policy: every {years} years"))
    return found
