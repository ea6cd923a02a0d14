"""The audit and privacy commands as an auditor runs them: history, verify, forget, exports."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import Run, pop_runner


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite3"


@pytest.fixture
def pop(database: Path) -> Run:
    run = pop_runner(database)
    run("employee", "add", "--id", "M1", "--name", "Harrie Koning", "--email", "h@example.nl")
    run(
        "employee",
        "add",
        "--id",
        "E1",
        "--name",
        "Ann Geheim",
        "--email",
        "ann@example.nl",
        "--manager",
        "M1",
    )
    return run


def _cycle(pop: Run) -> str:
    done = pop("cycle", "start", "--employee", "E1", "--manager", "M1", "--json")
    cycle = str(json.loads(done.stdout)["cycle_id"])
    pop(
        "cycle",
        "prepare",
        cycle,
        "--author",
        "employee",
        "--point",
        "Ik wil weg uit sales",
        now="2026-01-06T09:00:00+01:00",
    )
    return cycle


def test_verify_passes_then_fails_after_a_raw_edit_naming_the_position(
    pop: Run, database: Path
) -> None:
    _cycle(pop)
    done = pop("verify")
    assert done.stdout.startswith("verified ")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE events SET type = 'CycleCancelled' WHERE position = 4")
    broken = pop("verify", ok=False)
    assert broken.returncode == 1
    last = broken.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the log was tampered with at position 4: edited:")


def test_forget_erases_history_and_exports_but_the_chain_verifies(pop: Run) -> None:
    cycle = _cycle(pop)
    assert "Ik wil weg uit sales" in pop("history", cycle, "--json").stdout
    assert pop("forget", "E1").stdout.strip() == "forgotten: E1"
    history = pop("history", cycle, "--json").stdout
    exported = pop("export", "employee", "E1").stdout
    for text in ("Ik wil weg uit sales", "Ann Geheim", "ann@example.nl"):
        assert text not in history + exported
    assert "[erased]" in history
    assert json.loads(exported)["employee"]["forgotten"] is True
    assert pop("verify").returncode == 0


def test_history_per_employee_and_the_printable_plan(pop: Run) -> None:
    cycle = _cycle(pop)
    lines = pop("history", "--employee", "E1").stdout.splitlines()
    assert [line.split()[2] for line in lines] == [
        "EmployeeRegistered",
        "CycleOpened",
        "CycleStarted",
        "PreparationSubmitted",
    ]
    page = pop("export", "plan", cycle, "--language", "nl").stdout
    assert "Persoonlijk ontwikkelingsplan" in page
    assert "Ontwikkelingsactiviteit" in page
    assert "Ann Geheim" in page
    refused = pop("history", ok=False)
    assert refused.returncode == 1
    assert "give either a CYCLE_ID or --employee ID" in refused.stderr


def test_all_cycles_export_as_csv_for_hr_reports(pop: Run) -> None:
    cycle = _cycle(pop)
    pop("projections", "catch-up")
    rows = list(csv.DictReader(io.StringIO(pop("export", "cycles").stdout)))
    assert [(row["cycle_id"], row["employee_id"], row["phase"]) for row in rows] == [
        (cycle, "E1", "preparation")
    ]
    assert "Ann Geheim" not in pop("export", "cycles").stdout  # ids and dates only
