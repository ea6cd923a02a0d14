"""Registering a person, and the employee's own stream."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.domain import (
    EMPLOYEE_EVENT_TYPES,
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
from tests.unit.builders import T0, at
from workflow.employee import (
    QUADRANTS,
    EmployeeState,
    RecordQuadrant,
    RegisterEmployee,
    SetBudgetAllowance,
    decide_budget,
    decide_quadrant,
    decide_register,
    evolve_employee,
)
from workflow.errors import DomainError

ANNA = RegisterEmployee("e1", "Anna de Vries", "anna@example.nl", manager_id="m1", language="nl")


def register(**overrides: Any) -> RegisterEmployee:
    """Anna's registration with some fields changed."""
    return replace(ANNA, **overrides)


def registered() -> EmployeeState:
    (event,) = decide_register(None, register(), T0)
    assert isinstance(event, EmployeeRegistered)
    return evolve_employee(None, event)


def refused(command: RegisterEmployee, state: EmployeeState | None = None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        decide_register(state, command, T0)
    return caught.value


def test_registration_records_the_person_trimmed() -> None:
    events = decide_register(None, register(name=" Anna de Vries ", email=" a@b.nl "), T0)
    assert events == [EmployeeRegistered("e1", "Anna de Vries", "a@b.nl", T0, "m1", "nl")]


def test_language_defaults_to_dutch_and_english_is_accepted() -> None:
    (default,) = decide_register(None, RegisterEmployee("e1", "Anna", "a@b.nl"), T0)
    (english,) = decide_register(None, register(language="en"), T0)
    assert isinstance(default, EmployeeRegistered)
    assert isinstance(english, EmployeeRegistered)
    assert (default.language, default.manager_id) == ("nl", None)
    assert english.language == "en"


@pytest.mark.parametrize("name", ["", "   "])
def test_a_name_is_required(name: str) -> None:
    assert refused(register(name=name)).field == "name"


@pytest.mark.parametrize(
    "email", ["", "anna", "anna@example", "@example.nl", "anna@@example.nl", "an na@example.nl"]
)
def test_an_email_address_must_look_like_one(email: str) -> None:
    error = refused(register(email=email))
    assert error.field == "email"
    assert "not an e-mail address" in error.message


@pytest.mark.parametrize("language", ["de", "NL", "", "english"])
def test_only_dutch_or_english(language: str) -> None:
    error = refused(register(language=language))
    assert error.field == "language"
    assert "nl, en" in error.message


def test_nobody_is_their_own_manager() -> None:
    assert refused(register(manager_id="e1")).field == "manager_id"


def test_a_person_is_registered_once() -> None:
    error = refused(register(), registered())
    assert error.field == "employee_id"
    assert "already exists" in error.message


def test_evolve_builds_the_person() -> None:
    assert registered() == EmployeeState(
        "e1", "Anna de Vries", "anna@example.nl", "m1", "nl", version=1
    )


def test_an_opened_cycle_is_remembered() -> None:
    state = evolve_employee(registered(), CycleOpened("c1", at(1)))
    state = evolve_employee(state, CycleOpened("c2", at(400)))
    assert state.latest_cycle_id == "c2"
    assert state.version == 3


def test_a_stream_cannot_begin_with_an_opened_cycle() -> None:
    with pytest.raises(ValueError, match="cannot come first"):
        evolve_employee(None, CycleOpened("c1", T0))


def test_evolve_applies_every_later_event_of_the_stream() -> None:
    events: list[EmployeeEvent] = [
        EmployeeDetailsChanged(at(1), email="anna.devries@example.nl", department="Service"),
        ManagerChanged("m2", at(2)),
        QuadrantRecorded("high_potential", at(3)),
        BudgetAllowanceSet(2026, 1500.0, at(4)),
        BudgetAllowanceSet(2027, 750.0, at(5)),
        EmployeeLeft(date(2026, 12, 31), at(6)),
        EmployeeForgotten(at(7)),
    ]
    assert {type(event) for event in events} | {EmployeeRegistered, CycleOpened} == set(
        EMPLOYEE_EVENT_TYPES
    )
    state = registered()
    for event in events:
        state = evolve_employee(state, event)
    assert (state.name, state.email, state.department) == (
        "Anna de Vries",
        "anna.devries@example.nl",
        "Service",
    )
    assert state.manager_id == "m2"
    assert state.quadrant == "high_potential"
    assert dict(state.budgets) == {2026: 1500.0, 2027: 750.0}
    assert state.left_on == date(2026, 12, 31)
    assert state.forgotten
    assert state.version == 1 + len(events)


@pytest.mark.parametrize("quadrant", QUADRANTS)
def test_the_four_quadrants_are_accepted(quadrant: str) -> None:
    assert decide_quadrant(registered(), RecordQuadrant(quadrant), T0) == [
        QuadrantRecorded(quadrant, T0)
    ]


def test_an_unknown_quadrant_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        decide_quadrant(registered(), RecordQuadrant("rockstar"), T0)
    assert caught.value.field == "quadrant"


@pytest.mark.parametrize(
    ("year", "amount", "field"),
    [
        (1999, 100.0, "year"),
        (2101, 100.0, "year"),
        (2026, -0.01, "amount_eur"),
        (2026, float("nan"), "amount_eur"),
        (2026, float("inf"), "amount_eur"),
    ],
)
def test_an_implausible_budget_is_refused(year: int, amount: float, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        decide_budget(registered(), SetBudgetAllowance(year, amount), T0)
    assert caught.value.field == field


def test_a_budget_for_a_year_is_granted() -> None:
    assert decide_budget(registered(), SetBudgetAllowance(2026, 0.0), T0) == [
        BudgetAllowanceSet(2026, 0.0, T0)
    ]
