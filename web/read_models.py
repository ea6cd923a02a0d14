"""`StatusQueries` over the read models: indexed SQL, paginated, never a replay of the log.

The tables are the projections' (`cycles`, `goals`, `employees`, `managers`, `summary_counts`)
and the scheduler's (`followups`); this module only reads them. They trail the log by the
workers' lag, which `/healthz` reports.

Every query of the status page costs the same however many cycles there are (issue 5: fast
with 100 000): the phase counts are a few rows of `summary_counts`; the lists read one page
through an index (`cycles.next_followup_at` for overdue and due soon, `cycles.employee_id` for
all cycles) and count their length only up to `PAGES_AHEAD` pages beyond the one shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, MetaData, Select, and_, false, func, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import literal

from events.database import read_transaction
from handlers.actor import Role
from handlers.bootstrap import Popcycle
from handlers.projections.cycle_projection import CycleTables
from handlers.projections.managers import capacity_from_env
from handlers.projections.people_projection import PeopleTables
from handlers.projections.service import ProjectionService
from handlers.projections.summary import ALL, SummaryTables, count_key
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

#: How many pages past the shown one a list is counted ("100+" beyond that): an exact count of
#: the overdue among 100 000 cycles would read them all on every request.
PAGES_AHEAD = 5


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
        self._counts = SummaryTables(metadata, "").counts
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

    def _filtered(
        self, where: Filter, condition: ColumnElement[bool], *columns: Any
    ) -> Select[Any]:
        """`columns` of the cycles matching `condition` and the filter, joined to the employee
        only when a department is asked for (the join costs a lookup per row it considers)."""
        c, e = self._cycles.c, self._employee.c
        query = select(*columns).select_from(self._cycles)
        if where.department:
            query = query.join(self._employee, e.employee_id == c.employee_id)
        return query.where(self._where(where), condition)

    def _page(
        self,
        where: Filter,
        condition: ColumnElement[bool],
        key: ColumnElement[Any],
        number: int,
        per_page: int,
        *,
        total: int | None = None,
    ) -> Page[CycleRow]:
        """One page of the cycles matching `condition`, ordered by the indexed `key`, then by
        cycle id (so that pages never overlap). Counted up to `PAGES_AHEAD` pages past this one,
        unless the caller knows the `total`.

        Ordering by (key, cycle_id) straight away would sort every matching row: an index on
        `key` alone does not give the ties' order, and neither SQLite nor PostgreSQL stops
        early there. So the page's last key is looked up first, in index order alone, and the
        sort is bounded by it: it only sees the rows up to the page's end and their ties.
        """
        number = max(number, 1)
        offset = (number - 1) * per_page
        with read_transaction(self._engine) as connection:
            capped = False
            if total is None:
                ceiling = offset + per_page * PAGES_AHEAD
                counted = select(func.count()).select_from(
                    self._filtered(where, condition, literal(1)).limit(ceiling + 1).subquery()
                )
                total = int(connection.execute(counted).scalar() or 0)
                capped = total > ceiling
                total = min(total, ceiling)
            last = connection.execute(
                self._filtered(where, condition, key)
                .order_by(key)
                .limit(1)
                .offset(offset + per_page - 1)
            ).scalar()
            bounded = condition if last is None else and_(condition, key <= last)
            query = (
                self._rows()
                .where(self._where(where), bounded)
                .order_by(key, self._cycles.c.cycle_id)
                .limit(per_page)
                .offset(offset)
            )
            found = connection.execute(query).all()
        return Page([CycleRow(*row) for row in found], number, per_page, total, capped)

    def phase_counts(self, where: Filter) -> dict[str, int]:
        """From `summary_counts` (a few rows), but an employee's own cycles from `cycles`."""
        if where.viewer_role is Role.EMPLOYEE:
            c, e = self._cycles.c, self._employee.c
            query = (
                select(c.phase, func.count())
                .select_from(self._cycles.outerjoin(self._employee, e.employee_id == c.employee_id))
                .where(self._where(where))
                .group_by(c.phase)
            )
        else:
            key = self._count_key(where)
            if key is None:
                return {phase.value: 0 for phase in Phase}
            n = self._counts.c
            query = select(n.phase, n.cycles).where(n.manager_id == key[0], n.department == key[1])
        with read_transaction(self._engine) as connection:
            counts = {str(phase): int(count) for phase, count in connection.execute(query)}
        return {phase.value: counts.get(phase.value, 0) for phase in Phase}

    @staticmethod
    def _count_key(where: Filter) -> tuple[str, str] | None:
        """The `summary_counts` rows that hold what HR or a manager may see (None: nothing)."""
        if where.viewer_role is Role.HR:
            return count_key(where.manager_id, where.department)
        if where.viewer_role is Role.MANAGER and where.viewer_id:
            if where.manager_id and where.manager_id != where.viewer_id:
                return None  # another manager's cycles
            return count_key(where.viewer_id, where.department)
        return None

    def cycles(self, where: Filter, number: int, per_page: int) -> Page[CycleRow]:
        """By employee number (the index on `cycles.employee_id`), counted by the summary."""
        total = sum(self.phase_counts(where).values())
        key = self._cycles.c.employee_id
        return self._page(where, true(), key, number, per_page, total=total)

    def overdue(self, where: Filter, now: datetime, number: int, per_page: int) -> Page[CycleRow]:
        c = self._cycles.c
        return self._page(where, c.next_followup_at < now, c.next_followup_at, number, per_page)

    def due_soon(self, where: Filter, now: datetime, number: int, per_page: int) -> Page[CycleRow]:
        c = self._cycles.c
        window = and_(c.next_followup_at >= now, c.next_followup_at < now + DUE_SOON)
        return self._page(where, window, c.next_followup_at, number, per_page)

    # --- people -----------------------------------------------------------------------------

    def over_capacity(self, limit: int) -> Page[ManagerLoad]:
        """The `limit` heaviest managers above the capacity, and how many there are."""
        m, e = self._managers.c, self._employees.c
        capacity = capacity_from_env()
        over = m.workload_hours > capacity
        query = (
            select(m.manager_id, func.coalesce(e.name, m.manager_id), m.reports, m.workload_hours)
            .select_from(self._managers.outerjoin(self._employees, e.employee_id == m.manager_id))
            .where(over)
            .order_by(m.workload_hours.desc(), m.manager_id)
            .limit(limit)
        )
        with read_transaction(self._engine) as connection:
            total = int(connection.execute(select(func.count()).where(over)).scalar() or 0)
            found = connection.execute(query).all()
        loads = [
            ManagerLoad(str(mid), str(name), int(n), float(hours), capacity)
            for mid, name, n, hours in found
        ]
        return Page(loads, 1, limit, total)

    def departments(self) -> list[str]:
        """The departments that have cycles (the summary's rows for all managers)."""
        n = self._counts.c
        query = (
            select(n.department)
            .where(n.manager_id == ALL, n.department != ALL)
            .distinct()
            .order_by(n.department)
        )
        with read_transaction(self._engine) as connection:
            return [str(d) for (d,) in connection.execute(query)]

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
