"""`employees`: one row per person — who they are, whom they report to, their latest cycle.

Name and e-mail address are personal data: they come from the unsealed `EmployeeRegistered` /
`EmployeeDetailsChanged` and read "[erased]" once the person is forgotten (and stay so: a
forgotten person's later details are never shown). The matrix quadrant HR recorded
(`QuadrantRecorded`, seed 004 §1.3) and whether the latest cycle is still open feed the
performance/potential matrix (`matrix.py`) and the managers' workload (`managers.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, MetaData, String, Table, Text

from events.personal import ERASED
from events.schema import UTCDateTime
from handlers.projections.changes import Change
from handlers.projections.rows import Row
from handlers.projections.schema import ID_LENGTH, parse_date, parse_time

#: Events on an employee's stream this read model folds.
EMPLOYEE_EVENT_TYPES = frozenset(
    {
        "EmployeeRegistered",
        "EmployeeDetailsChanged",
        "ManagerChanged",
        "EmployeeLeft",
        "QuadrantRecorded",
        "CycleOpened",
        "EmployeeForgotten",
    }
)
#: Events on a cycle's stream that close it (the person's latest cycle is then no longer open).
CLOSING_EVENT_TYPES = frozenset({"EvaluationRecorded", "CycleCancelled"})


def employees_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"employees{suffix}",
        metadata,
        Column("employee_id", String(ID_LENGTH), primary_key=True),
        Column("name", Text, nullable=False),
        Column("email", Text, nullable=False),
        Column("manager_id", String(ID_LENGTH), nullable=True, index=True),
        Column("language", String(8), nullable=False),
        Column("department", Text, nullable=True),
        Column("function", Text, nullable=True),
        Column("start_date", Date, nullable=True),
        Column("left_on", Date, nullable=True),
        Column("registered_at", UTCDateTime, nullable=False),
        Column("quadrant", String(16), nullable=True, index=True),
        Column("quadrant_recorded_at", UTCDateTime, nullable=True),
        Column("latest_cycle_id", String(ID_LENGTH), nullable=True, index=True),
        Column("cycle_open", Boolean, nullable=False),
        Column("forgotten", Boolean, nullable=False),
        Column("last_position", BigInteger, nullable=False),
    )


def new_employee(change: Change) -> Row:
    """The row an `EmployeeRegistered` makes."""
    data = change.data
    return {
        "employee_id": data["employee_id"],
        "name": data.get("name") or ERASED,
        "email": data.get("email") or ERASED,
        "manager_id": data.get("manager_id"),
        "language": data.get("language") or "nl",
        "department": data.get("department"),
        "function": data.get("function"),
        "start_date": parse_date(data.get("start_date")),
        "left_on": None,
        "registered_at": parse_time(data["registered_at"]),
        "quadrant": None,
        "quadrant_recorded_at": None,
        "latest_cycle_id": None,
        "cycle_open": False,
        "forgotten": False,
        "last_position": change.position,
    }


def fold(row: Row, change: Change) -> None:
    """Apply one event of the person's own stream (not the first) to their row."""
    row["last_position"] = change.position
    step = _STEPS.get(change.type)
    if step is not None:
        step(row, change.data)


def _details(row: Row, data: dict[str, Any]) -> None:
    for name in ("name", "email", "language", "department", "function"):
        value = data.get(name)
        if value is None:
            continue
        if name in ("name", "email") and row["forgotten"]:
            continue
        row[name] = value


def _manager(row: Row, data: dict[str, Any]) -> None:
    row["manager_id"] = data.get("manager_id")


def _left(row: Row, data: dict[str, Any]) -> None:
    row["left_on"] = parse_date(data["left_on"])


def _quadrant(row: Row, data: dict[str, Any]) -> None:
    row["quadrant"] = data["quadrant"]
    row["quadrant_recorded_at"] = parse_time(data["recorded_at"])


def _cycle_opened(row: Row, data: dict[str, Any]) -> None:
    row["latest_cycle_id"] = data["cycle_id"]
    row["cycle_open"] = True


def _forgotten(row: Row, _data: dict[str, Any]) -> None:
    row["forgotten"] = True
    row["name"] = row["email"] = ERASED


_STEPS: dict[str, Callable[[Row, dict[str, Any]], None]] = {
    "EmployeeDetailsChanged": _details,
    "ManagerChanged": _manager,
    "EmployeeLeft": _left,
    "QuadrantRecorded": _quadrant,
    "CycleOpened": _cycle_opened,
    "EmployeeForgotten": _forgotten,
}
