"""The employee's own stream: who the person is, and which cycle of theirs is open.

The open-cycle marker lives here so that starting a cycle and checking "no other cycle open"
happen on one stream under one expected version: two HR users starting a cycle for the same
employee at once cannot both succeed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType

from events.domain import (
    BudgetAllowanceSet,
    CycleOpened,
    EmployeeDetailsChanged,
    EmployeeEvent,
    EmployeeForgotten,
    EmployeeLeft,
    EmployeeRegistered,
    ManagerChanged,
    QuadrantRecorded,
)
from workflow.errors import DomainError

LANGUAGES = ("nl", "en")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class RegisterEmployee:
    """Add a person (employee or manager) to the organisation."""

    employee_id: str
    name: str
    email: str
    manager_id: str | None = None
    language: str = "nl"


QUADRANTS = ("solid_citizen", "high_potential", "learner", "breaksman")


@dataclass(frozen=True, slots=True)
class EmployeeState:
    """Who the person is, and their latest cycle."""

    employee_id: str
    name: str
    email: str
    manager_id: str | None
    language: str
    version: int = 1
    latest_cycle_id: str | None = None
    department: str | None = None
    function: str | None = None
    start_date: date | None = None
    left_on: date | None = None
    quadrant: str | None = None
    budgets: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))
    forgotten: bool = False


@dataclass(frozen=True, slots=True)
class RecordQuadrant:
    """HR places the person in the performance/potential matrix."""

    quadrant: str


@dataclass(frozen=True, slots=True)
class SetBudgetAllowance:
    """HR grants the personal development budget (POB) for a year."""

    year: int
    amount_eur: float


def decide_quadrant(
    state: EmployeeState, command: RecordQuadrant, now: datetime
) -> list[EmployeeEvent]:
    """Only the syllabus' four quadrants exist."""
    if command.quadrant not in QUADRANTS:
        raise DomainError(
            f"quadrant must be one of {', '.join(QUADRANTS)}, not {command.quadrant!r}",
            field="quadrant",
        )
    return [QuadrantRecorded(command.quadrant, now)]


def decide_budget(
    state: EmployeeState, command: SetBudgetAllowance, now: datetime
) -> list[EmployeeEvent]:
    """A budget is a non-negative amount for a plausible year."""
    if not 2000 <= command.year <= 2100:
        raise DomainError(f"{command.year} is not a plausible budget year", field="year")
    if not math.isfinite(command.amount_eur) or command.amount_eur < 0:
        raise DomainError("must be a non-negative amount in euro", field="amount_eur")
    return [BudgetAllowanceSet(command.year, command.amount_eur, now)]


def decide_register(
    state: EmployeeState | None, command: RegisterEmployee, now: datetime
) -> list[EmployeeEvent]:
    """Register a person once, with a usable name, e-mail address and language."""
    if state is not None:
        raise DomainError(f"employee {command.employee_id} already exists", field="employee_id")
    if not command.name.strip():
        raise DomainError("give the employee's name", field="name")
    if not _EMAIL.match(command.email.strip()):
        raise DomainError(f"{command.email!r} is not an e-mail address", field="email")
    if command.language not in LANGUAGES:
        raise DomainError(
            f"language must be one of {', '.join(LANGUAGES)}, not {command.language!r}",
            field="language",
        )
    if command.manager_id == command.employee_id:
        raise DomainError("an employee cannot be his own manager", field="manager_id")
    return [
        EmployeeRegistered(
            employee_id=command.employee_id,
            name=command.name.strip(),
            email=command.email.strip(),
            registered_at=now,
            manager_id=command.manager_id,
            language=command.language,
        )
    ]


def evolve_employee(state: EmployeeState | None, event: EmployeeEvent) -> EmployeeState:
    """The person after one more event."""
    if isinstance(event, EmployeeRegistered):
        return EmployeeState(
            event.employee_id,
            event.name,
            event.email,
            event.manager_id,
            event.language,
            department=event.department,
            function=event.function,
            start_date=event.start_date,
        )
    if state is None:
        raise ValueError(f"{type(event).__name__} cannot come first on an employee's stream")
    state = replace(state, version=state.version + 1)
    match event:
        case CycleOpened(cycle_id, _at):
            return replace(state, latest_cycle_id=cycle_id)
        case EmployeeDetailsChanged():
            changes = {
                name: value
                for name in ("name", "email", "language", "department", "function")
                if (value := getattr(event, name)) is not None
            }
            return replace(state, **changes)
        case ManagerChanged(manager_id, _at):
            return replace(state, manager_id=manager_id)
        case EmployeeLeft(left_on, _at):
            return replace(state, left_on=left_on)
        case QuadrantRecorded(quadrant, _at):
            return replace(state, quadrant=quadrant)
        case BudgetAllowanceSet(year, amount, _at):
            return replace(state, budgets=MappingProxyType({**state.budgets, year: amount}))
        case EmployeeForgotten():
            return replace(state, forgotten=True)
    raise TypeError(f"not an employee event: {type(event).__name__}")


# --- the organisation as HR's system describes it (the CSV import) -------------------------


def is_email(value: str) -> bool:
    """The e-mail rule `decide_register` applies, for callers that check rows before deciding."""
    return _EMAIL.match(value.strip()) is not None


@dataclass(frozen=True, slots=True)
class HireEmployee:
    """Register a person with everything HR's file says about him.

    `RegisterEmployee` is the hand-made case (`pop employee add`); an HR export also carries
    department, function and start date, which belong in the very first event.
    """

    employee_id: str
    name: str
    email: str
    manager_id: str | None = None
    language: str = "nl"
    department: str | None = None
    function: str | None = None
    start_date: date | None = None


@dataclass(frozen=True, slots=True)
class ChangeEmployeeDetails:
    """New values for some of the person's details (None: unchanged; "" clears a department
    or function, which an event cannot express with None)."""

    name: str | None = None
    email: str | None = None
    language: str | None = None
    department: str | None = None
    function: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeManager:
    """The person reports to another manager from now on (None: to nobody)."""

    manager_id: str | None


@dataclass(frozen=True, slots=True)
class RecordLeaving:
    """The person left (or leaves) the organisation on `left_on`."""

    left_on: date


OrganisationCommand = HireEmployee | ChangeEmployeeDetails | ChangeManager | RecordLeaving


def decide_hire(
    state: EmployeeState | None, command: HireEmployee, now: datetime
) -> list[EmployeeEvent]:
    """Register with the same rules as by hand, plus the HR facts in the same first event."""
    registration = RegisterEmployee(
        command.employee_id, command.name, command.email, command.manager_id, command.language
    )
    events = decide_register(state, registration, now)
    return [
        replace(
            event,
            department=command.department or None,
            function=command.function or None,
            start_date=command.start_date,
        )
        if isinstance(event, EmployeeRegistered)
        else event
        for event in events
    ]


def decide_details(
    state: EmployeeState, command: ChangeEmployeeDetails, now: datetime
) -> list[EmployeeEvent]:
    """Record only what really changed: a re-imported file must leave the log alone."""
    if state.forgotten:
        raise DomainError(
            f"employee {state.employee_id} was forgotten (GDPR erasure): "
            "no new personal data can be recorded about them",
            field="employee_id",
        )
    if command.name is not None and not command.name.strip():
        raise DomainError("give the employee's name", field="name")
    if command.email is not None and not is_email(command.email):
        raise DomainError(f"{command.email!r} is not an e-mail address", field="email")
    if command.language is not None and command.language not in LANGUAGES:
        raise DomainError(
            f"language must be one of {', '.join(LANGUAGES)}, not {command.language!r}",
            field="language",
        )
    changes = {
        name: value.strip()
        for name in ("name", "email", "language", "department", "function")
        if (value := getattr(command, name)) is not None
        and value.strip() != (getattr(state, name) or "")
    }
    if not changes:
        return []
    return [EmployeeDetailsChanged(changed_at=now, **changes)]


def decide_manager(
    state: EmployeeState, command: ChangeManager, now: datetime
) -> list[EmployeeEvent]:
    """A new reporting line; nothing when it is the current one."""
    if command.manager_id == state.employee_id:
        raise DomainError("an employee cannot be his own manager", field="manager_id")
    if command.manager_id == state.manager_id:
        return []
    return [ManagerChanged(command.manager_id, now)]


def decide_leaving(
    state: EmployeeState, command: RecordLeaving, now: datetime
) -> list[EmployeeEvent]:
    """A person leaves once; the log has no event that takes a leave back or moves its date."""
    if state.left_on is not None:
        if state.left_on == command.left_on:
            return []
        raise DomainError(
            f"employee {state.employee_id} already left on {state.left_on.isoformat()}",
            field="end_date",
        )
    if state.start_date is not None and command.left_on < state.start_date:
        raise DomainError(
            f"the end date {command.left_on.isoformat()} lies before the start date "
            f"{state.start_date.isoformat()}",
            field="end_date",
        )
    return [EmployeeLeft(command.left_on, now)]
