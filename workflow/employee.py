"""The employee's own stream: who the person is, and which cycle of theirs is open.

The open-cycle marker lives here so that starting a cycle and checking "no other cycle open"
happen on one stream under one expected version: two HR users starting a cycle for the same
employee at once cannot both succeed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from events.domain import CycleOpened, EmployeeEvent, EmployeeRegistered
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
    match event:
        case EmployeeRegistered():
            return EmployeeState(
                event.employee_id, event.name, event.email, event.manager_id, event.language
            )
        case CycleOpened(cycle_id, _at) if state is not None:
            return replace(state, latest_cycle_id=cycle_id, version=state.version + 1)
    raise ValueError(f"{type(event).__name__} cannot come first on an employee's stream")
