"""`pop import` and `pop employee list` as HR runs them from a shell, on a fresh install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import hr_csv
from tests.support.cli import Run, pop_runner
from tests.support.hr_csv import PEOPLE


@pytest.fixture
def pop(tmp_path: Path) -> Run:
    return pop_runner(tmp_path / "import.sqlite3")


def excel_nl(path: Path, rows: list[str]) -> Path:
    """`path`, holding `rows` as Dutch Excel saves them (see `hr_csv.excel_nl`)."""
    path.write_bytes(hr_csv.excel_nl(rows))
    return path


def people(pop: Run, *args: str) -> dict[str, dict[str, str]]:
    lines = pop("employee", "list", "--json", *args).stdout.splitlines()
    return {row["employee_id"]: row for row in map(json.loads, lines)}


def test_import_then_reimport_then_a_dry_run_of_a_newer_file(pop: Run, tmp_path: Path) -> None:
    first = excel_nl(tmp_path / "medewerkers.csv", PEOPLE)
    done = pop("import", str(first))
    assert done.stdout.startswith("imported medewerkers.csv: 4 hired, 0 changed")
    assert people(pop)["E1"]["manager_id"] == "M1"
    assert people(pop)["E1"]["language"] == "en"

    again = pop("import", str(first))
    assert again.stdout.strip() == (
        "medewerkers.csv: nothing to change, the log already agrees (4 rows)"
    )

    newer = excel_nl(
        tmp_path / "medewerkers-2.csv",
        [*PEOPLE[:2], PEOPLE[2].replace(";M1;", ";M2;"), PEOPLE[3] + "31-12-2025"],
    )
    dry = pop("import", "--dry-run", str(newer))
    assert dry.stdout.splitlines() == [
        "line 4: E1: manager M1 → M2",
        "line 5: E2: leaves on 2025-12-31",
        "would import medewerkers-2.csv: 0 hired, 2 changed (1 left), 2 unchanged; "
        "open cycles: 0 moved, 0 cancelled; 2 events; nothing was written (dry run)",
    ]
    assert people(pop)["E1"]["manager_id"] == "M1"


def test_bad_rows_are_all_listed_and_nothing_is_imported(pop: Run, tmp_path: Path) -> None:
    path = excel_nl(
        tmp_path / "fout.csv",
        [
            PEOPLE[0],
            "A1;Alfa;a@example.nl;B1;;;;;",
            "B1;Beta;b@example.nl;A1;;;;;",
            "C1;Gamma;harrie@example.nl;M9;;;fr;2024-02-30;",
        ],
    )
    done = pop("import", str(path), ok=False)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith(("line ", "error:"))]
    assert errors == [
        "line 2, e-mail: duplicate e-mail (also on line 5)",
        "line 3, manager: reporting loop A1 → B1 → A1",
        "line 4, manager: reporting loop A1 → B1 → A1",
        "line 5, taal: unknown language 'fr' (use nl or en)",
        "line 5, startdatum: not a date: '2024-02-30' (use YYYY-MM-DD or DD-MM-YYYY)",
        "line 5, e-mail: duplicate e-mail (also on line 2)",
        "line 5, manager: unknown manager M9: not in this file and not registered",
        "error: 4 of 4 rows have errors; nothing was imported "
        "(--skip-invalid imports the good rows)",
    ]
    assert people(pop, "--all") == {}


def test_skip_invalid_imports_the_rest_and_names_the_rejects_file(pop: Run, tmp_path: Path) -> None:
    path = excel_nl(tmp_path / "medewerkers.csv", [*PEOPLE, "E3;;e3@example.nl;M1;;;;;"])
    done = pop("import", "--skip-invalid", "--json", str(path))
    summary = json.loads(done.stdout)
    rejects = tmp_path / "medewerkers.rejected.csv"
    assert (summary["hired"], summary["rejected"], summary["rejects_file"]) == (
        4,
        1,
        str(rejects),
    )
    assert "line 6, naam: required" in done.stderr
    assert rejects.read_text(encoding="utf-8-sig").splitlines()[1] == (
        "E3;;e3@example.nl;M1;;;;;;6;naam: required"
    )
    assert sorted(people(pop)) == ["E1", "E2", "M1", "M2"]


def test_a_manager_change_and_a_leaver_reach_their_open_cycles(pop: Run, tmp_path: Path) -> None:
    pop("import", str(excel_nl(tmp_path / "v1.csv", PEOPLE)))
    cycles = {
        employee: json.loads(
            pop(
                "cycle",
                "start",
                "--employee",
                employee,
                "--manager",
                "M1",
                "--reason",
                "periodic",
                "--json",
            ).stdout
        )["cycle_id"]
        for employee in ("E1", "E2")
    }
    newer = excel_nl(
        tmp_path / "v2.csv",
        [*PEOPLE[:2], PEOPLE[2].replace(";M1;", ";M2;"), PEOPLE[3] + "5-1-2026"],
    )
    done = pop("import", str(newer), now="2026-01-06T09:00:00+01:00")
    assert "open cycles: 1 moved, 1 cancelled" in done.stdout

    last = json.loads(pop("history", cycles["E1"], "--json").stdout)["events"][-1]
    assert (last["type"], last["data"]["manager_id"]) == ("CycleManagerChanged", "M2")
    shown = json.loads(pop("cycle", "show", cycles["E2"]).stdout)
    assert (shown["phase"], shown["cancelled_reason"]) == ("cancelled", "left the organisation")
    # Who left is out of the current list, but the log still knows him as of before
    assert "E2" not in people(pop)
    assert people(pop, "--all")["E2"]["left_on"] == "2026-01-05"
    before = people(pop, "--as-of", "2026-01-05T12:00:00+01:00")
    assert before["E1"]["manager_id"] == "M1"


def test_a_missing_file_is_a_usage_error(pop: Run, tmp_path: Path) -> None:
    done = pop("import", str(tmp_path / "nowhere.csv"), ok=False)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: Invalid value for 'FILE'")
