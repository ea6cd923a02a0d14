"""From a good row and the current state to commands, and from commands to events."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from events.domain import EmployeeDetailsChanged, EmployeeLeft, EmployeeRegistered, ManagerChanged
from tests.unit.builders import T0
from workflow.employee import (
    ChangeEmployeeDetails,
    ChangeManager,
    EmployeeState,
    HireEmployee,
    OrganisationCommand,
    RecordLeaving,
    decide_details,
    decide_hire,
    decide_leaving,
    decide_manager,
    evolve_employee,
)
from workflow.errors import DomainError
from workflow.organisation import OrgRow, diff_row, read_header

HEADER = read_header(
    [
        "employee_number",
        "name",
        "email",
        "manager_number",
        "department",
        "function",
        "language",
        "start_date",
        "end_date",
    ]
)
TODAY = date(2026, 1, 5)
ROW = OrgRow(
    line=2,
    employee_id="E1",
    name="Ann de Vries",
    email="ann@example.nl",
    manager_id="M1",
    department="Sales",
    function="Adviseur",
    language="en",
    start_date=date(2021, 3, 1),
    end_date=None,
)


def hired(row: OrgRow = ROW) -> EmployeeState:
    """The state after importing `row` into an empty log."""
    (hire,) = diff_row(row, None, HEADER, today=TODAY, default_language="nl").commands
    assert isinstance(hire, HireEmployee)
    (event,) = decide_hire(None, hire, T0)
    return evolve_employee(None, event)


def commands(row: OrgRow, state: EmployeeState | None) -> tuple[OrganisationCommand, ...]:
    return diff_row(row, state, HEADER, today=TODAY, default_language="nl").commands


def test_a_new_person_is_hired_with_everything_the_file_says() -> None:
    assert commands(ROW, None) == (
        HireEmployee(
            "E1",
            "Ann de Vries",
            "ann@example.nl",
            "M1",
            "en",
            "Sales",
            "Adviseur",
            date(2021, 3, 1),
        ),
    )
    (hire,) = commands(ROW, None)
    assert isinstance(hire, HireEmployee)
    (event,) = decide_hire(None, hire, T0)
    assert event == EmployeeRegistered(
        "E1",
        "Ann de Vries",
        "ann@example.nl",
        T0,
        "M1",
        "en",
        "Sales",
        "Adviseur",
        date(2021, 3, 1),
    )


def test_a_blank_language_gives_new_people_the_default() -> None:
    (hire,) = diff_row(
        replace(ROW, language=None), None, HEADER, today=TODAY, default_language="nl"
    ).commands
    assert isinstance(hire, HireEmployee)
    assert hire.language == "nl"


def test_the_same_row_again_changes_nothing() -> None:
    assert commands(ROW, hired()) == ()


def test_changed_details_manager_and_a_leave_each_become_a_command() -> None:
    row = replace(
        ROW, email="ann.devries@example.nl", department="Finance", manager_id="M2", end_date=TODAY
    )
    assert commands(row, hired()) == (
        ChangeEmployeeDetails(email="ann.devries@example.nl", department="Finance"),
        ChangeManager("M2"),
        RecordLeaving(TODAY),
    )


def test_a_future_end_date_is_a_plan_not_yet_a_leave() -> None:
    assert commands(replace(ROW, end_date=TODAY + timedelta(days=1)), hired()) == ()
    assert commands(replace(ROW, end_date=TODAY + timedelta(days=1)), None)[1:] == ()


def test_someone_who_already_left_is_hired_and_leaves_at_once() -> None:
    left = commands(replace(ROW, end_date=date(2025, 6, 30)), None)
    assert left[1:] == (RecordLeaving(date(2025, 6, 30)),)


def test_blank_cells_clear_department_and_manager_but_keep_the_language() -> None:
    row = replace(ROW, department="", manager_id=None, language=None)
    assert commands(row, hired()) == (
        ChangeEmployeeDetails(department=""),
        ChangeManager(None),
    )


def test_a_column_missing_from_the_file_leaves_its_values_alone() -> None:
    narrow = read_header(["employee_number", "name", "email"])
    row = replace(ROW, manager_id=None, department="", function="", end_date=TODAY)
    change = diff_row(row, hired(), narrow, today=TODAY, default_language="nl")
    assert change.commands == ()


def test_facts_no_event_can_correct_become_notes() -> None:
    state = replace(hired(), left_on=date(2025, 1, 31))
    row = replace(ROW, start_date=date(2021, 4, 1), end_date=None)
    notes = diff_row(row, state, HEADER, today=TODAY, default_language="nl").notes
    assert [(note.column, note.message.split(":")[0]) for note in notes] == [
        ("start_date", "kept the recorded start date 2021-03-01"),
        ("end_date", "employee left on 2025-01-31"),
    ]


# --- the decisions ---------------------------------------------------------------------------


def test_details_record_only_what_changed_and_clear_with_empty_text() -> None:
    state = hired()
    (event,) = decide_details(state, ChangeEmployeeDetails(name="Ann de Vries", department=""), T0)
    assert event == EmployeeDetailsChanged(T0, department="")
    assert evolve_employee(state, event).department == ""
    assert decide_details(state, ChangeEmployeeDetails(function=" Adviseur "), T0) == []


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (ChangeEmployeeDetails(name=" "), "name"),
        (ChangeEmployeeDetails(email="nope"), "email"),
        (ChangeEmployeeDetails(language="de"), "language"),
    ],
)
def test_details_follow_the_registration_rules(command: ChangeEmployeeDetails, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        decide_details(hired(), command, T0)
    assert refused.value.field == field


def test_no_personal_data_is_recorded_about_a_forgotten_person() -> None:
    with pytest.raises(DomainError, match="forgotten"):
        decide_details(replace(hired(), forgotten=True), ChangeEmployeeDetails(name="X"), T0)


def test_a_new_manager_is_recorded_once_and_never_oneself() -> None:
    state = hired()
    assert decide_manager(state, ChangeManager("M2"), T0) == [ManagerChanged("M2", T0)]
    assert decide_manager(state, ChangeManager("M1"), T0) == []
    with pytest.raises(DomainError, match="his own manager"):
        decide_manager(state, ChangeManager("E1"), T0)


def test_a_leave_is_recorded_once_and_not_moved_or_before_the_start() -> None:
    state = hired()
    (left,) = decide_leaving(state, RecordLeaving(TODAY), T0)
    assert left == EmployeeLeft(TODAY, T0)
    after = evolve_employee(state, left)
    assert decide_leaving(after, RecordLeaving(TODAY), T0) == []
    with pytest.raises(DomainError, match="already left"):
        decide_leaving(after, RecordLeaving(TODAY - timedelta(days=1)), T0)
    with pytest.raises(DomainError, match="before the start date") as refused:
        decide_leaving(state, RecordLeaving(date(2020, 1, 1)), T0)
    assert refused.value.field == "end_date"


def test_a_hire_follows_the_registration_rules() -> None:
    with pytest.raises(DomainError) as refused:
        decide_hire(None, HireEmployee("E1", "Ann", "ann@example.nl", language="fr"), T0)
    assert refused.value.field == "language"
    with pytest.raises(DomainError, match="already exists"):
        decide_hire(hired(), HireEmployee("E1", "Ann", "ann@example.nl"), T0)
