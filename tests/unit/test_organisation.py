"""HR's file checked row by row and as a whole: every bad row found, with its line and column."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from workflow.employee import EmployeeState
from workflow.organisation import (
    DEPARTMENT,
    HeaderError,
    OrganisationCheck,
    OrgRow,
    RowError,
    find_loops,
    known_columns,
    parse_date,
    parse_row,
    read_header,
)

ENGLISH = [
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
DUTCH = [
    "personeelsnummer",
    "naam",
    "e-mail",
    "manager",
    "afdeling",
    "functie",
    "taal",
    "startdatum",
    "einddatum",
]
HEADER = read_header(ENGLISH)
TODAY = date(2026, 2, 1)


def cells(
    number: str,
    manager: str = "",
    *,
    name: str | None = None,
    email: str | None = None,
    language: str = "",
    start: str = "",
    end: str = "",
) -> list[str]:
    return [
        number,
        name if name is not None else f"Person {number}",
        email
        if email is not None
        else f"{number.strip().lower().replace(' ', '') or 'x'}@example.nl",
        manager,
        "Sales",
        "Adviseur",
        language,
        start,
        end,
    ]


def person(employee_id: str, manager_id: str | None = None, **changes: Any) -> EmployeeState:
    """Someone the log already knows."""
    state = EmployeeState(
        employee_id, f"Person {employee_id}", f"{employee_id.lower()}@example.nl", manager_id, "nl"
    )
    return replace(state, **changes)


def judged(
    rows: list[list[str]], existing: dict[str, EmployeeState] | None = None
) -> OrganisationCheck:
    """Rows as lines 2, 3, … of a file, checked as a whole."""
    check = OrganisationCheck(existing or {}, HEADER)
    for line, row_cells in enumerate(rows, start=2):
        check.add(*parse_row(HEADER, row_cells, line))
    check.finish()
    return check


def messages(check: OrganisationCheck) -> list[tuple[int, str | None, str]]:
    return [(error.line, error.column, error.message) for error in check.all_errors()]


# --- the header ------------------------------------------------------------------------------


def test_english_and_dutch_headers_name_the_same_columns() -> None:
    english, dutch = read_header(ENGLISH), read_header(DUTCH)
    assert english.positions == dutch.positions
    assert (english.dutch, dutch.dutch) == (False, True)
    assert dutch.titles["email"] == "e-mail"


def test_headers_match_without_case_spaces_or_a_leftover_bom() -> None:
    header = read_header(["\ufeffEmployee Number", " Name ", "E-Mail", "Manager-Number", "Extra"])
    assert header.positions == {
        "employee_number": 0,
        "name": 1,
        "email": 2,
        "manager_number": 3,
    }
    assert not header.manages(DEPARTMENT)


HEADER_COLUMN_DEPARTMENT = next(
    c for c in __import__("workflow.organisation").organisation.COLUMNS if c.name == "department"
)


def test_every_missing_required_column_is_named_on_line_one() -> None:
    with pytest.raises(HeaderError) as refused:
        read_header(["naam", "afdeling"])
    assert [(e.line, e.column, e.message) for e in refused.value.errors] == [
        (1, "employee_number (personeelsnummer)", "missing required column"),
        (1, "email (e-mail)", "missing required column"),
    ]


def test_a_column_named_twice_is_refused() -> None:
    with pytest.raises(HeaderError, match="appears twice"):
        read_header([*ENGLISH, "E-mail"])


def test_known_columns_tells_the_separator_that_reads_the_header() -> None:
    assert known_columns(DUTCH) == 9
    assert known_columns([";".join(DUTCH)]) == 0


# --- one row ----------------------------------------------------------------------------------


def test_a_good_row_is_trimmed_and_typed() -> None:
    row, errors = parse_row(
        HEADER,
        cells(" E1 ", " M1", name=" Ann ", language="English", start="1-2-2024", end="2026-01-31"),
        5,
    )
    assert errors == []
    assert row == OrgRow(
        line=5,
        employee_id="E1",
        name="Ann",
        email="e1@example.nl",
        manager_id="M1",
        department="Sales",
        function="Adviseur",
        language="en",
        start_date=date(2024, 2, 1),
        end_date=date(2026, 1, 31),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-01", date(2024, 2, 1)),
        ("01-02-2024", date(2024, 2, 1)),
        ("1-2-2024", date(2024, 2, 1)),
        ("01/02/2024", date(2024, 2, 1)),
        ("1.2.2024", date(2024, 2, 1)),
    ],
)
def test_dates_are_iso_or_day_first(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2024-13-01", "31-02-2024", "02/01/24", "morgen", "2024-2"])
def test_impossible_or_ambiguous_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_date(text)


@pytest.mark.parametrize(
    ("row_cells", "column", "reason"),
    [
        (cells(""), "employee_number", "required"),
        (cells("E 1"), "employee_number", "is not a usable employee number"),
        (cells("E1", name=" "), "name", "required"),
        (cells("E1", email=""), "email", "required"),
        (cells("E1", email="ann.example.nl"), "email", "is not an e-mail address"),
        (cells("E1", "M 1"), "manager_number", "is not a usable employee number"),
        (cells("E1", language="fr"), "language", "unknown language 'fr' (use nl or en)"),
        (cells("E1", start="31-02-2024"), "start_date", "not a date: '31-02-2024'"),
        (cells("E1", end="gisteren"), "end_date", "not a date: 'gisteren'"),
        (
            cells("E1", start="2024-05-01", end="2024-04-30"),
            "end_date",
            "lies before the start date",
        ),
    ],
)
def test_each_bad_cell_is_named_with_line_and_column(
    row_cells: list[str], column: str, reason: str
) -> None:
    _row, errors = parse_row(HEADER, row_cells, 7)
    assert len(errors) == 1
    assert (errors[0].line, errors[0].column) == (7, column)
    assert reason in errors[0].message


def test_every_bad_cell_of_a_row_is_reported_not_only_the_first() -> None:
    _row, errors = parse_row(HEADER, cells("E1", email="x", language="de", end="nooit"), 3)
    assert [error.column for error in errors] == ["email", "language", "end_date"]


def test_errors_use_the_files_own_column_titles() -> None:
    dutch = read_header(DUTCH)
    _row, errors = parse_row(dutch, cells("E1", language="fr"), 4)
    assert str(errors[0]) == "line 4, taal: unknown language 'fr' (use nl or en)"


def test_a_short_record_reads_blank_cells_and_a_long_one_is_refused() -> None:
    row, errors = parse_row(HEADER, ["E1", "Ann", "ann@example.nl"], 2)
    assert errors == []
    assert row is not None
    assert (row.manager_id, row.department, row.language) == (None, "", None)
    _row, errors = parse_row(HEADER, [*cells("E1"), "stray"], 3)
    assert "10 fields where the header has 9" in errors[0].message


# --- the file as a whole ---------------------------------------------------------------------


def test_a_duplicate_email_is_reported_on_both_lines_whatever_its_case() -> None:
    check = judged([cells("E1"), cells("E2"), cells("E3", email="E1@Example.NL")])
    assert messages(check) == [
        (2, "email", "duplicate e-mail (also on line 4)"),
        (4, "email", "duplicate e-mail (also on line 2)"),
    ]
    assert check.good_rows == 1


def test_a_duplicate_employee_number_is_reported_on_both_lines() -> None:
    check = judged([cells("E1"), cells("E1", email="other@example.nl")])
    assert messages(check) == [
        (2, "employee_number", "duplicate employee number (also on line 3)"),
        (3, "employee_number", "duplicate employee number (also on line 2)"),
    ]


def test_an_unknown_manager_is_refused_a_known_or_later_one_is_fine() -> None:
    check = judged(
        [cells("E1", "M9"), cells("E2", "M1"), cells("E3", "E4"), cells("E4")], {"M1": person("M1")}
    )
    assert messages(check) == [
        (2, "manager_number", "unknown manager M9: not in this file and not registered")
    ]


def test_a_reporting_loop_is_refused_on_every_line_of_it() -> None:
    check = judged([cells("A"), cells("B", "C"), cells("C", "B"), cells("D", "D")])
    assert messages(check) == [
        (3, "manager_number", "reporting loop B → C → B"),
        (4, "manager_number", "reporting loop B → C → B"),
        (5, "manager_number", "reporting loop D → D"),
    ]


def test_a_loop_through_the_registered_organisation_is_refused() -> None:
    # Given A reports to B in the log, the file makes B report to A
    check = judged([cells("B", "A")], {"A": person("A", "B"), "B": person("B")})
    assert messages(check) == [(2, "manager_number", "reporting loop B → A → B")]


def test_a_loop_is_reported_even_on_a_row_that_is_also_wrong_otherwise() -> None:
    check = judged([cells("A", "B", language="xx"), cells("B", "A")])
    assert (2, "manager_number", "reporting loop A → B → A") in messages(check)
    assert (3, "manager_number", "reporting loop A → B → A") in messages(check)


def test_subordinates_of_a_new_manager_whose_row_is_bad_fall_with_it() -> None:
    # A chain of new people: M (bad e-mail) ← E1 ← E2; the fall travels down the chain
    check = judged([cells("M", email="nope"), cells("E1", "M"), cells("E2", "E1")])
    assert messages(check)[1:] == [
        (3, "manager_number", "manager M is not imported: line 2 has errors"),
        (4, "manager_number", "manager E1 is not imported: line 3 has errors"),
    ]
    assert check.good_rows == 0


def test_a_registered_manager_whose_row_is_bad_still_manages() -> None:
    check = judged([cells("M", email="nope"), cells("E1", "M")], {"M": person("M")})
    assert [line for line, _column, _message in messages(check)] == [2]


def test_an_email_of_a_registered_colleague_is_refused_unless_he_moves_to_another() -> None:
    existing = {"E1": person("E1"), "E2": person("E2")}
    taken = judged([cells("E3", email="e1@example.nl")], existing)
    assert messages(taken) == [(2, "email", "duplicate e-mail: already used by employee E1")]
    # E1 gets a new address in the same file: E3 may take the old one
    swapped = judged(
        [cells("E1", email="new@example.nl"), cells("E3", email="e1@example.nl")], existing
    )
    assert messages(swapped) == []


def test_taking_the_address_of_someone_whose_row_is_bad_is_refused_too() -> None:
    existing = {"E1": person("E1")}
    bad_on_its_own = judged(
        [cells("E1", email="new@example.nl", language="xx"), cells("E3", email="e1@example.nl")],
        existing,
    )
    assert (3, "email", "duplicate e-mail: already used by employee E1") in messages(bad_on_its_own)
    # E1's row only falls in the whole-file check (unknown manager), after E3 was judged
    falls_later = judged(
        [cells("E3", email="e1@example.nl"), cells("E1", "M9", email="new@example.nl")],
        existing,
    )
    assert messages(falls_later) == [
        (2, "email", "duplicate e-mail: employee E1 keeps it (line 3 has errors)"),
        (3, "manager_number", "unknown manager M9: not in this file and not registered"),
    ]


def test_a_leavers_old_address_may_be_given_to_someone_new() -> None:
    existing = {"E1": person("E1", left_on=date(2025, 1, 1))}
    assert messages(judged([cells("E3", email="e1@example.nl")], existing)) == []


def test_a_forgotten_employee_cannot_be_imported_again() -> None:
    check = judged([cells("E1")], {"E1": person("E1", forgotten=True)})
    assert "was forgotten (GDPR erasure)" in messages(check)[0][2]


def test_a_loop_that_only_forms_when_a_bad_row_keeps_its_manager_is_refused() -> None:
    # In the log A reports to B. The file moves A to C (but A's row is bad) and B to A:
    # A keeps B, so B → A → B would be a loop.
    existing = {"A": person("A", "B"), "B": person("B"), "C": person("C")}
    check = judged([cells("A", "C", language="xx"), cells("B", "A")], existing)
    assert (3, "manager_number", "reporting loop B → A → B") in messages(check)
    assert check.good_rows == 0


def test_the_verdict_names_new_people_and_good_rows() -> None:
    check = judged([cells("E1", "M1"), cells("M1")], {"E1": person("E1")})
    assert (check.is_new("M1"), check.is_new("E1"), check.is_new("X")) == (True, False, False)
    assert check.valid("E1")
    assert check.errors(2) == []


# --- loops, fast -----------------------------------------------------------------------------


def test_find_loops_walks_a_long_chain_once() -> None:
    size = 200_000
    boss = {f"p{i}": f"p{i + 1}" if i + 1 < size else None for i in range(size)}
    assert find_loops(reversed(list(boss)), boss.__getitem__) == []
    boss[f"p{size - 1}"] = "p0"
    (loop,) = find_loops(boss, boss.__getitem__)
    assert len(loop) == size


def test_a_long_loop_is_shortened_in_its_message() -> None:
    rows = [cells(f"P{i}", f"P{(i + 1) % 20}") for i in range(20)]
    first = messages(judged(rows))[0][2]
    assert first.startswith("reporting loop P0 → P1 →")
    assert first.endswith("→ … → P0")


def test_row_errors_print_as_line_column_reason() -> None:
    assert str(RowError(3, "email", "required")) == "line 3, email: required"
    assert str(RowError(1, None, "empty")) == "line 1: empty"


def test_people_whose_manager_leaves_get_a_note_not_an_error() -> None:
    check = OrganisationCheck({"M2": person("M2", left_on=date(2025, 1, 1))}, HEADER, TODAY)
    rows = [
        cells("M1", end="2026-01-31"),  # leaves now
        cells("E1", "M1"),
        cells("E2", "M2"),  # M2 left earlier
        cells("E3", "M1", end="2026-01-31"),  # leaves with him: nothing to say
        cells("M3", end="2026-12-31"),  # leaves later: not yet
        cells("E4", "M3"),
    ]
    for line, row_cells in enumerate(rows, start=2):
        check.add(*parse_row(HEADER, row_cells, line))
    check.finish()
    assert check.all_errors() == []
    assert [(note.line, note.message.split(":")[0]) for note in check.notes()] == [
        (3, "manager M1 leaves the organisation"),
        (4, "manager M2 leaves the organisation"),
    ]
