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
