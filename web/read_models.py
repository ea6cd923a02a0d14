"""`StatusQueries` over the read models: indexed SQL, paginated, never a replay of the log.

The tables are the projections' (`cycles`, `goals`, `employees`, `managers`) and the
scheduler's (`followups`); this module only reads them. They trail the log by the workers'
lag, which `/healthz` reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, MetaData, Select, and_, false, func, select, true
from sqlalchemy.orm import aliased

from events.database import read_transaction
from handlers.actor import Role
from handlers.bootstrap import Popcycle
from handlers.projections.cycle_projection import CycleTables
from handlers.projections.managers import capacity_from_env, workloads
from handlers.projections.people_projection import PeopleTables
from handlers.projections.service import ProjectionService
from scheduler.tables import CLAIMED, PENDING, followups_table
from web.queries import (
    DUE_SOON,
    REVIEW_EVERY,
    CalendarItem,
    CycleRow,
    Filter,
    FollowUpRow,
    ManagerLoad,
    Page,
    Person,
)
from workflow.phases import Phase

_UPCOMING = (Phase.INVITATION.value, Phase.PREPARATION.value, Phase.INTERVIEW.value)


class ReadModelQueries:
    """What the status page, the calendar and the list endpoints read."""

    def __init__(self, popcycle: Popcycle) -> None:
        self._popcycle = popcycle
        self._engine = popcycle.engine
        metadata = MetaData()  # our own handles on the live tables; the projections own them
        cycle_tables = CycleTables(metadata, "")
        people = PeopleTables(metadata, "")
        self._cycles = cycle_tables.cycles
        self._goals = cycle_tables.goals
        self._employees = people.employees
        self._managers = people.managers
        self._employee = aliased(self._employees, name="employee")
        self._manager = aliased(self._employees, name="manager")

    # --- cycles -----------------------------------------------------------------------------

    def _where(self, where: Filter) -> ColumnElement[bool]:
        c, e = self._cycles.c, self._employee.c
        if where.viewer_role is Role.HR:
            seen: ColumnElement[bool] = true()
        elif where.viewer_role is Role.MANAGER:
            seen = c.manager_id == where.viewer_id
        elif where.viewer_role is Role.EMPLOYEE:
            seen = c.employee_id == where.viewer_id
        else:
            seen = false()
        if where.manager_id:
            seen = and_(seen, c.manager_id == where.manager_id)
        if where.department:
            seen = and_(seen, e.department == where.department)
        return seen

    def _rows(self) -> Select[Any]:
        c, e, m = self._cycles.c, self._employee.c, self._manager.c
        return select(
            c.cycle_id,
            c.employee_id,
            func.coalesce(e.name, c.employee_id),
            c.manager_id,
            func.coalesce(m.name, c.manager_id),
            e.department,
            c.phase,
            c.version,
            c.next_followup_at,
            c.next_followup_kind,
        ).select_from(
            self._cycles.outerjoin(self._employee, e.employee_id == c.employee_id).outerjoin(
                self._manager, m.employee_id == c.manager_id
            )
        )

    def _page(
        self, query: Select[Any], condition: ColumnElement[bool], number: int, per_page: int
    ) -> Page[CycleRow]:
        number = max(number, 1)
        with read_transaction(self._engine) as connection:
            counted = select(func.count()).select_from(query.where(condition).subquery())
            total = int(connection.execute(counted).scalar() or 0)
            found = connection.execute(
                query.where(condition).limit(per_page).offset((number - 1) * per_page)
            ).all()
        return Page([CycleRow(*row) for row in found], number, per_page, total)

    def phase_counts(self, where: Filter) -> dict[str, int]:
        c, e = self._cycles.c, self._employee.c
        query = (
            select(c.phase, func.count())
            .select_from(self._cycles.outerjoin(self._employee, e.employee_id == c.employee_id))
            .where(self._where(where))
            .group_by(c.phase)
        )
        with read_transaction(self._engine) as connection:
            counts = {str(phase): int(n) for phase, n in connection.execute(query)}
        return {phase.value: counts.get(phase.value, 0) for phase in Phase}

    def cycles(self, where: Filter, number: int, per_page: int) -> Page[CycleRow]:
        e = self._employee.c
        query = self._rows().order_by(e.name, self._cycles.c.cycle_id)
        return self._page(query, self._where(where), number, per_page)

    def overdue(self, where: Filter, now: datetime, number: int, per_page: int) -> Page[CycleRow]:
        c = self._cycles.c
        query = self._rows().order_by(c.next_followup_at, c.cycle_id)
        condition = and_(self._where(where), c.next_followup_at < now)
        return self._page(query, condition, number, per_page)

    def due_soon(self, where: Filter, now: datetime, number: int, per_page: int) -> Page[CycleRow]:
        c = self._cycles.c
        query = self._rows().order_by(c.next_followup_at, c.cycle_id)
        window = and_(c.next_followup_at >= now, c.next_followup_at < now + DUE_SOON)
        return self._page(query, and_(self._where(where), window), number, per_page)

    # --- people -----------------------------------------------------------------------------

    def over_capacity(self) -> list[ManagerLoad]:
        with read_transaction(self._engine) as connection:
            loads = workloads(
                connection,
                self._managers,
                self._employees,
                capacity_hours=capacity_from_env(),
                only_over=True,
            )
        return [
            ManagerLoad(
                w.manager_id, w.name or w.manager_id, w.reports, w.workload_hours, w.capacity_hours
            )
            for w in loads
        ]

    def managers(self) -> list[tuple[str, str]]:
        c, m = self._cycles.c, self._manager.c
        query = (
            select(c.manager_id, func.coalesce(m.name, c.manager_id))
            .select_from(self._cycles.outerjoin(self._manager, m.employee_id == c.manager_id))
            .distinct()
            .order_by(func.coalesce(m.name, c.manager_id))
        )
        with read_transaction(self._engine) as connection:
            return [(str(i), str(name)) for i, name in connection.execute(query)]

    def departments(self) -> list[str]:
        e = self._employees.c
        query = select(e.department).where(e.department.is_not(None)).distinct()
        with read_transaction(self._engine) as connection:
            return sorted(str(d) for (d,) in connection.execute(query))

    def person(self, person_id: str) -> Person | None:
        e = self._employees.c
        query = select(e.employee_id, e.name, e.language, e.manager_id).where(
            e.employee_id == person_id
        )
        with read_transaction(self._engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else Person(*row)

    # --- dates ------------------------------------------------------------------------------

    def calendar(self, person_id: str) -> list[CalendarItem]:
        c, g = self._cycles.c, self._goals.c
        mine = (c.employee_id == person_id) | (c.manager_id == person_id)
        with read_transaction(self._engine) as connection:
            cycles = connection.execute(select(self._cycles).where(mine)).mappings().all()
            ids = [row["cycle_id"] for row in cycles]
            goals = connection.execute(
                select(g.cycle_id, g.goal_id, g.title, g.deadline)
                .where(g.cycle_id.in_(ids))
                .order_by(g.cycle_id, g.ordinal)
            ).all()
        items: list[CalendarItem] = []
        for row in cycles:
            items.extend(_cycle_dates(row))
        items.extend(
            CalendarItem(f"{cid}-deadline-{gid}", cid, "goal_deadline", title, deadline)
            for cid, gid, title, deadline in goals
        )
        return items

    def next_followup(self, cycle_id: str) -> FollowUpRow | None:
        c = self._cycles.c
        query = select(c.next_followup_kind, c.next_followup_at).where(c.cycle_id == cycle_id)
        with read_transaction(self._engine) as connection:
            row = connection.execute(query).first()
        if row is None or row[0] is None or row[1] is None:
            return None
        return FollowUpRow(str(row[0]), cycle_id, row[1], "pending")

    def followups(
        self, where: Filter, status: str | None, due_before: datetime | None
    ) -> list[FollowUpRow]:
        f, c, e = followups_table.c, self._cycles.c, self._employee.c
        query = (
            select(f.kind, f.cycle_id, f.due_at, f.status, f.fired_at)
            .select_from(
                followups_table.join(self._cycles, c.cycle_id == f.cycle_id).outerjoin(
                    self._employee, e.employee_id == c.employee_id
                )
            )
            .where(self._where(where))
            .order_by(f.due_at, f.key)
            .limit(1000)
        )
        if status == "pending":
            query = query.where(f.status.in_((PENDING, CLAIMED)))
        elif status is not None:
            query = query.where(f.status == status)
        if due_before is not None:
            query = query.where(f.due_at < due_before)
        with read_transaction(self._engine) as connection:
            found = connection.execute(query).all()
        return [
            FollowUpRow(kind, cycle_id, due_at, "pending" if st == CLAIMED else st, fired_at)
            for kind, cycle_id, due_at, st, fired_at in found
        ]

    def lag(self) -> int | None:
        """Events the slowest projection has yet to apply."""
        lags = ProjectionService.from_app(self._popcycle).lag()
        return max((item.events_behind for item in lags), default=0)


def _cycle_dates(row: Any) -> list[CalendarItem]:
    """The interview, planned quarterly reviews and the evaluation of one cycle row."""
    cycle_id = row["cycle_id"]
    items: list[CalendarItem] = []
    if row["interview_at"] is not None:
        # The n-th talk keeps its UID from being planned to being held (and when moved).
        held = int(row["interviews_held"])
        number = held if row["phase"] in _UPCOMING else max(0, held - 1)
        items.append(
            CalendarItem(
                f"{cycle_id}-interview-{number}", cycle_id, "interview", "", row["interview_at"]
            )
        )
    signed_at, last = row["signed_at"], row["last_deadline"]
    if signed_at is not None and last is not None:
        review_at, number = signed_at + REVIEW_EVERY, 1
        while review_at.date() < last:
            items.append(
                CalendarItem(f"{cycle_id}-review-{number}", cycle_id, "review", "", review_at)
            )
            review_at += REVIEW_EVERY
            number += 1
    if row["evaluation_due_at"] is not None:
        items.append(
            CalendarItem(
                f"{cycle_id}-evaluation", cycle_id, "evaluation", "", row["evaluation_due_at"]
            )
        )
    return items
