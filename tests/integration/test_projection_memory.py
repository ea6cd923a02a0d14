"""A rebuild's last step holds no per-manager state in Python: its memory does not grow with the
organisation.

`summary`'s `finish` and the managers' `recount_all` count over tables that grow with the number
of cycles and people; they once collected every count row in Python (some 70 MB at a million
events). Both now count inside the database: Python's peak allocation while they run must not
grow with the rows they count — and the counts must still be what the batches would write.
"""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from events.database import write_transaction
from handlers.projections import managers
from handlers.projections.people_projection import PEOPLE, PeopleTables
from handlers.projections.summary import SUMMARY, SummaryTables, rollups

PHASES = ("invited", "preparing", "planned", "evaluated")
DEPARTMENTS = ("Finance", "IT", "Sales", None)
#: Python may allocate this much more for the large table than for the small one (caches of
#: statements and the like); holding the rows would take megabytes.
SLACK_BYTES = 200_000
SMALL, LARGE = 500, 20_000


def peak_bytes(engine: Engine, step: Callable[[Connection], None]) -> int:
    """Python's peak allocation while `step` runs in its own transaction."""
    with write_transaction(engine) as connection:
        tracemalloc.start()
        try:
            step(connection)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def summary_cycle(n: int) -> dict[str, Any]:
    return {
        "cycle_id": f"c{n:06d}",
        "employee_id": f"e{n:06d}",
        "manager_id": f"m{n // 10:05d}",  # ten cycles per manager: managers grow with the log
        "department": DEPARTMENTS[n % len(DEPARTMENTS)],
        "phase": PHASES[n % len(PHASES)],
        "employee_prepared": False,
        "manager_prepared": False,
        "interview_at": None,
        "plan_version": 0,
        "employee_signed": False,
        "manager_signed": False,
        "signed_at": None,
    }


def employee(n: int) -> dict[str, Any]:
    return {
        "employee_id": f"e{n:06d}",
        "name": "n",
        "email": "e",
        "manager_id": None if n % 50 == 0 else f"m{n // 10:05d}",
        "language": "nl",
        "department": None,
        "function": None,
        "start_date": None,
        "left_on": None,
        "registered_at": datetime(2026, 1, 1, tzinfo=UTC),
        "quadrant": None,
        "quadrant_recorded_at": None,
        "latest_cycle_id": None,
        "cycle_open": n % 3 == 0,
        "forgotten": n % 7 == 0,
        "last_position": n,
    }


def grow(engine: Engine, table: Table, make: Callable[[int], dict[str, Any]], upto: int) -> None:
    """Add rows to `table` until it holds `upto` of them."""
    with write_transaction(engine) as connection:
        have = len(connection.execute(select(table)).all())
        connection.execute(table.insert(), [make(n) for n in range(have, upto)])


def peaks(engine: Engine, table: Table, make: Callable[[int], dict[str, Any]], step: Any) -> int:
    """How much more Python allocates for `step` over LARGE rows than over SMALL ones."""
    peak_bytes(engine, step)  # compile and cache the statements first
    grow(engine, table, make, SMALL)
    small = peak_bytes(engine, step)
    grow(engine, table, make, LARGE)
    return peak_bytes(engine, step) - small


def test_summary_finish_counts_in_the_database(sqlite_engine: Engine) -> None:
    tables = SUMMARY.live
    assert isinstance(tables, SummaryTables)
    assert peaks(sqlite_engine, tables.cycles, summary_cycle, tables.finish) < SLACK_BYTES
    expected: Counter[tuple[str, str, str]] = Counter()
    for n in range(LARGE):
        row = summary_cycle(n)
        expected.update(rollups(row["manager_id"], row["department"], row["phase"]))
    with write_transaction(sqlite_engine) as connection:
        counts = connection.execute(select(tables.counts)).all()
    assert {(m, d, p): n for m, d, p, n in counts} == dict(expected)


def test_managers_recount_all_counts_in_the_database(sqlite_engine: Engine) -> None:
    tables = PEOPLE.live
    assert isinstance(tables, PeopleTables)

    def recount(connection: Connection) -> None:
        managers.recount_all(connection, tables.employees, tables.managers)

    assert peaks(sqlite_engine, tables.employees, employee, recount) < SLACK_BYTES
    reports: Counter[str] = Counter()
    in_cycle: Counter[str] = Counter()
    for n in range(LARGE):
        row = employee(n)
        if row["manager_id"] is not None and not row["forgotten"]:
            reports[row["manager_id"]] += 1
            in_cycle[row["manager_id"]] += row["cycle_open"]
    with write_transaction(sqlite_engine) as connection:
        found = {
            row.manager_id: row._asdict() for row in connection.execute(select(tables.managers))
        }
    assert found == {
        manager: {
            "manager_id": manager,
            "reports": n,
            "reports_in_cycle": in_cycle[manager],
            "workload_hours": n * managers.HOURS_PER_EMPLOYEE,
        }
        for manager, n in reports.items()
    }
