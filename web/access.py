"""Who may see and do what (issue 5), in one table, for the API and the status page alike.

HR sees and does everything, for either side. A manager sees and acts on the cycles of his
reports only, writing the manager's side. An employee sees only his own cycles and writes only
his own preparation, signature and reviews. A cycle someone may not see does not exist for
them (404, never 403), so ids of other people's cycles leak nothing.
"""

from __future__ import annotations

from enum import StrEnum

from events.domain import Side
from handlers.actor import Role
from handlers.tokens import Principal
from web.problems import Problem, forbidden, not_found
from web.queries import Filter
from workflow.state import CycleState


class Action(StrEnum):
    """What a request does to a cycle."""

    PREPARE = "prepare"
    SCHEDULE = "schedule the interview"
    HOLD = "record the interview"
    AGREE = "write the plan"
    SIGN = "sign"
    REVIEW = "review progress"
    EVALUATE = "evaluate"
    RESTART = "restart"


#: Actions an employee may take on his own cycle; the side-bound ones only for his side.
EMPLOYEE_ACTIONS = frozenset({Action.PREPARE, Action.SIGN, Action.REVIEW})
#: Actions written for one side: the side named in the request must be the actor's own.
SIDED_ACTIONS = {Action.PREPARE: "author", Action.SIGN: "signer"}


def viewer_side(principal: Principal) -> Side | None:
    """Whose eyes the preparation privacy rule applies to (None: HR, who sees everything)."""
    if principal.role is Role.MANAGER:
        return Side.MANAGER
    if principal.role is Role.EMPLOYEE:
        return Side.EMPLOYEE
    return None


def may_see(principal: Principal, state: CycleState) -> bool:
    if principal.role is Role.HR:
        return True
    if principal.role is Role.MANAGER:
        return state.manager_id == principal.subject_id
    if principal.role is Role.EMPLOYEE:
        return state.employee_id == principal.subject_id
    return False


def may_see_person(principal: Principal, person_id: str, manager_id: str | None) -> bool:
    """A person's data: HR, the person, or the person's manager."""
    if principal.role is Role.HR:
        return True
    return principal.subject_id in (person_id, manager_id)


def visibility(
    principal: Principal, manager_id: str | None = None, department: str | None = None
) -> Filter:
    """`may_see` for the read models (the status page and list endpoints)."""
    return Filter(principal.role, principal.subject_id, manager_id, department)


def require_visible(principal: Principal, state: CycleState) -> None:
    if not may_see(principal, state):
        raise not_found(f"no cycle {state.cycle_id}", "cycle_id")


def action_refusal(
    principal: Principal, state: CycleState, action: Action, side: Side | None = None
) -> Problem | None:
    """Why `principal` may not take `action` (for `side`) on a visible cycle; None if allowed."""
    if principal.role is Role.HR:
        return None
    own = viewer_side(principal)
    if principal.role is Role.EMPLOYEE and action not in EMPLOYEE_ACTIONS:
        return forbidden(f"an employee may not {action.value}; ask the manager or HR")
    if action in SIDED_ACTIONS and side is not own:
        side_name = side.value if side is not None else "the other side"
        return forbidden(
            f"only HR may {action.value} for the {side_name}; this token is the "
            f"{principal.role.value}'s",
            SIDED_ACTIONS[action],
        )
    return None


def require_action(
    principal: Principal, state: CycleState, action: Action, side: Side | None = None
) -> None:
    require_visible(principal, state)
    refusal = action_refusal(principal, state, action, side)
    if refusal is not None:
        raise refusal


def require_may_start(principal: Principal, manager_id: str, reports_to: str | None) -> None:
    """HR starts any cycle; a manager only for his own report, as its manager."""
    if principal.role is Role.HR:
        return
    if principal.role is Role.MANAGER:
        if manager_id != principal.subject_id:
            raise forbidden("a manager starts cycles only as their manager", "manager_id")
        if reports_to != principal.subject_id:
            raise forbidden("a manager starts cycles only for his own reports", "employee_id")
        return
    raise forbidden("an employee cannot start a cycle; ask the manager or HR")


def require_hr(principal: Principal, what: str) -> None:
    if principal.role is not Role.HR:
        raise forbidden(f"only HR may {what}")
