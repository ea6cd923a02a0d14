"""`managers`: each manager's direct reports and the POP workload they bring.

The syllabus (seed 004 §2.7.1) reckons four to five hours a year per employee for guiding a POP
— preparation, feedback, the talks, coaching the progress — so a manager with twenty employees
needs a hundred hours a year, which "can be too large an investment"; the remedy it names is to
combine the POP talk with the evaluation talk. `HOURS_PER_EMPLOYEE` takes the middle, 4.5 hours.

The table holds facts only (reports, reports with an open cycle, expected hours); the capacity
is the organisation's setting, applied when reading (`workloads(connection, capacity_hours)`),
so changing it needs no rebuild. A report counts while registered, not recorded as left and not
forgotten; the row exists while the manager has at least one such report.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    literal,
    select,
)

from handlers.projections.rows import RowSet, fixed_chunks
from handlers.projections.schema import ID_LENGTH

HOURS_PER_EMPLOYEE = 4.5
#: Default yearly POP capacity of a manager (POP_MANAGER_CAPACITY_HOURS overrides it):
#: about eighteen reports, short of the syllabus' example of twenty.
DEFAULT_CAPACITY_HOURS = 80.0
REMEDY = {
    "nl": "Combineer het POP-gesprek met het evaluatiegesprek (syllabus §2.7.1).",
    "en": "Combine the POP talk with the evaluation talk (syllabus §2.7.1).",
}


def managers_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"managers{suffix}",
        metadata,
        Column("manager_id", String(ID_LENGTH), primary_key=True),
        Column("reports", Integer, nullable=False),
        Column("reports_in_cycle", Integer, nullable=False),
        Column("workload_hours", Float, nullable=False, index=True),  # who is over capacity
    )


def recount(
    connection: Connection, employees: Table, rows: RowSet, manager_ids: Collection[str]
) -> None:
    """Recompute the rows of `manager_ids` from the (already written) employees table."""
    if not manager_ids:
        return
    e = employees.c
    counts: dict[str, tuple[int, int]] = {}
    for chunk in fixed_chunks(manager_ids):
        query = (
            select(e.manager_id, func.count(), func.sum(case((e.cycle_open, 1), else_=0)))
            .where(and_(e.manager_id.in_(chunk), e.left_on.is_(None), e.forgotten.is_(False)))
            .group_by(e.manager_id)
        )
        for manager_id, reports, in_cycle in connection.execute(query):
            counts[str(manager_id)] = (int(reports), int(in_cycle or 0))
    rows.load("manager_id", manager_ids)
    for manager_id in manager_ids:
        reports, in_cycle = counts.get(manager_id, (0, 0))
        if reports == 0:
            rows.remove(manager_id)
            continue
        rows.put(_row(manager_id, reports, in_cycle))


def _row(manager_id: str, reports: int, in_cycle: int) -> dict[str, object]:
    return {
        "manager_id": manager_id,
        "reports": reports,
        "reports_in_cycle": in_cycle,
        "workload_hours": reports * HOURS_PER_EMPLOYEE,
    }


def recount_all(connection: Connection, employees: Table, managers: Table) -> None:
    """Replace every manager row by a count from the employees table (a rebuild's last step).

    One INSERT … SELECT: the rows stay in the database, so the rebuild's memory does not grow
    with the number of managers. The same counts and hours as `recount` and `_row`.
    """
    e = employees.c
    reports = func.count()
    query = (
        select(
            e.manager_id,
            reports,
            func.sum(case((e.cycle_open, 1), else_=0)),
            reports * literal(HOURS_PER_EMPLOYEE, Float),
        )
        .where(e.manager_id.is_not(None), e.left_on.is_(None), e.forgotten.is_(False))
        .group_by(e.manager_id)
    )
    connection.execute(managers.delete())
    columns = ("manager_id", "reports", "reports_in_cycle", "workload_hours")
    connection.execute(managers.insert().from_select(columns, query))


def capacity_from_env() -> float:
    """POP_MANAGER_CAPACITY_HOURS, or the default."""
    raw = os.environ.get("POP_MANAGER_CAPACITY_HOURS")
    if not raw:
        return DEFAULT_CAPACITY_HOURS
    try:
        value = float(raw)
    except ValueError as error:
        raise ValueError(f"POP_MANAGER_CAPACITY_HOURS: not a number: {raw!r}") from error
    if value <= 0:
        raise ValueError("POP_MANAGER_CAPACITY_HOURS: must be positive")
    return value


@dataclass(frozen=True, slots=True)
class Workload:
    """One manager's expected yearly POP hours against the capacity."""

    manager_id: str
    name: str | None
    reports: int
    reports_in_cycle: int
    workload_hours: float
    capacity_hours: float

    @property
    def over_capacity(self) -> bool:
        return self.workload_hours > self.capacity_hours

    def remedy(self, language: str = "en") -> str | None:
        """What the syllabus advises when over capacity (None when within it)."""
        return REMEDY.get(language, REMEDY["en"]) if self.over_capacity else None


def workloads(
    connection: Connection,
    managers: Table,
    employees: Table,
    *,
    capacity_hours: float,
    only_over: bool = False,
) -> list[Workload]:
    """Every manager's workload (heaviest first); with `only_over`, those above capacity."""
    m, e = managers.c, employees.c
    query = select(
        m.manager_id, e.name, m.reports, m.reports_in_cycle, m.workload_hours
    ).select_from(managers.outerjoin(employees, e.employee_id == m.manager_id))
    if only_over:
        query = query.where(m.workload_hours > capacity_hours)
    query = query.order_by(m.workload_hours.desc(), m.manager_id)
    return [
        Workload(str(mid), name, int(n), int(k), float(hours), capacity_hours)
        for mid, name, n, k, hours in connection.execute(query)
    ]
