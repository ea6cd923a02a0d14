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

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    MetaData,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql import FromClause

from events.database import read_transaction
from handlers.actor import Role
from handlers.bootstrap import Popcycle
from handlers.projections.cycle_projection import CycleTables
from handlers.projections.managers import capacity_from_env
from handlers.projections.people_projection import PeopleTables
from handlers.projections.schema import checkpoints_table
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
    Overview,
    Page,
    PageNumbers,
    Person,
)
from workflow.phases import Phase

_UPCOMING = (Phase.INVITATION.value, Phase.PREPARATION.value, Phase.INTERVIEW.value)
PHASES = tuple(phase.value for phase in Phase)

#: How many pages past the shown one a list is counted ("100+" beyond that): an exact count of
#: the overdue among 100 000 cycles would read them all on every request.
PAGES_AHEAD = 5


class _Shape(NamedTuple):
    """Which conditions a filter needs: the page's statements are built once per shape and
    per list, with its values as parameters (building and compiling a statement costs more
    than running it)."""

    role: Role
    by_manager: bool
    by_department: bool


def _shape(where: Filter) -> _Shape:
    return _Shape(where.viewer_role, bool(where.manager_id), bool(where.department))


def _params(where: Filter) -> dict[str, Any]:
    return {"viewer": where.viewer_id, "manager": where.manager_id, "department": where.department}


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
        self._statements: dict[tuple[Any, ...], Select[Any]] = {}
        c, n, m, e = self._cycles.c, self._counts.c, self._managers.c, self._employees.c
        #: Each list: (its condition besides the filter, the indexed key it is ordered by).
        self._lists: dict[str, tuple[ColumnElement[bool], ColumnElement[Any]]] = {
            "overdue": (c.next_followup_at < bindparam("now"), c.next_followup_at),
            "due_soon": (
                and_(
                    c.next_followup_at >= bindparam("now"), c.next_followup_at < bindparam("until")
                ),
                c.next_followup_at,
            ),
            "cycles": (true(), c.employee_id),
        }
        self._summary = select(n.phase, n.cycles).where(
            n.manager_id == bindparam("manager"), n.department == bindparam("department")
        )
        self._departments = (
            select(n.department)
            .where(n.manager_id == ALL, n.department != ALL)
            .distinct()
            .order_by(n.department)
        )
        self._version = select(checkpoints_table.c.name, checkpoints_table.c.position).order_by(
            checkpoints_table.c.name
        )
        self._next_followup = select(c.next_followup_kind, c.next_followup_at).where(
            c.cycle_id == bindparam("cycle_id")
        )
        over = m.workload_hours > bindparam("capacity")
        counted = select(literal(1)).where(over).limit(bindparam("ahead")).subquery()
        self._over = (
            select(
                m.manager_id,
                func.coalesce(e.name, m.manager_id),
                m.reports,
                m.workload_hours,
                select(func.count()).select_from(counted).scalar_subquery(),
            )
            .select_from(self._managers.outerjoin(self._employees, e.employee_id == m.manager_id))
            .where(over)
            .order_by(m.workload_hours.desc(), m.manager_id)
            .limit(bindparam("limit"))
        )

    # --- the status page at a glance ------------------------------------------------------------

    def overview(
        self, where: Filter, now: datetime, numbers: PageNumbers, per_page: int, *, capacity: bool
    ) -> Overview:
        """Everything the status page shows, read in one transaction: one consistent moment
        (the checkpoints first: should a projection commit in between, the tables are newer
        than the version the overview carries, never older)."""
        with read_transaction(self._engine) as connection:
            version = self._checkpoints(connection)
            counts = self._phase_counts(connection, where)
            return Overview(
                counts=counts,
                overdue=self._page(
                    connection, "overdue", where, now=now, number=numbers.overdue, per_page=per_page
                ),
                due_soon=self._page(
                    connection,
                    "due_soon",
                    where,
                    now=now,
                    number=numbers.due_soon,
                    per_page=per_page,
                ),
                cycles=self._page(
                    connection,
                    "cycles",
                    where,
                    now=None,
                    number=numbers.cycles,
                    per_page=per_page,
                    total=sum(counts.values()),
                ),
                capacity=self._over_capacity(connection, per_page) if capacity else None,
                departments=self._department_names(connection),
                valid_until=self._valid_until(connection, where, now),
                version=version,
            )

    def version(self) -> tuple[tuple[str, int], ...]:
        with read_transaction(self._engine) as connection:
            return self._checkpoints(connection)

    def _checkpoints(self, connection: Connection) -> tuple[tuple[str, int], ...]:
        return tuple((str(name), int(at)) for name, at in connection.execute(self._version))

    def _valid_until(self, connection: Connection, where: Filter, now: datetime) -> datetime | None:
        """The first moment the overdue and due-soon lists change by time alone: when the
        earliest follow-up not yet due passes, or the earliest beyond the window enters it."""
        shape = _shape(where)

        def build() -> Select[Any]:
            c, e = self._cycles.c, self._employee.c
            source: FromClause = self._cycles
            if shape.by_department:
                source = source.join(self._employee, e.employee_id == c.employee_id)

            def first_from(name: str) -> Any:
                key = c.next_followup_at
                return (
                    select(func.min(key))
                    .select_from(source)
                    .where(self._seen(shape), key >= bindparam(name))
                    .scalar_subquery()
                )

            return select(first_from("now"), first_from("until"))

        params = _params(where) | {"now": now, "until": now + DUE_SOON}
        falls_due, comes_near = connection.execute(
            self._statement(("boundaries", shape), build), params
        ).one()
        moments = [falls_due, None if comes_near is None else comes_near - DUE_SOON]
        return min((moment for moment in moments if moment is not None), default=None)

    def phase_counts(self, where: Filter) -> dict[str, int]:
        with read_transaction(self._engine) as connection:
            return self._phase_counts(connection, where)

    def cycles(self, where: Filter, number: int, per_page: int) -> Page[CycleRow]:
        """By employee number (the index on `cycles.employee_id`), counted by the summary."""
        with read_transaction(self._engine) as connection:
            total = sum(self._phase_counts(connection, where).values())
            return self._page(
                connection, "cycles", where, now=None, number=number, per_page=per_page, total=total
            )

    def overdue(self, where: Filter, now: datetime, number: int, per_page: int) -> Page[CycleRow]:
        with read_transaction(self._engine) as connection:
            return self._page(
                connection, "overdue", where, now=now, number=number, per_page=per_page
            )

    def due_soon(self, where: Filter, now: datetime, number: int, per_page: int) -> Page[CycleRow]:
        with read_transaction(self._engine) as connection:
            return self._page(
                connection, "due_soon", where, now=now, number=number, per_page=per_page
            )

    def over_capacity(self, limit: int) -> Page[ManagerLoad]:
        """The `limit` heaviest managers above the capacity, and how many (counted that far
        `PAGES_AHEAD` times)."""
        with read_transaction(self._engine) as connection:
            return self._over_capacity(connection, limit)

    def departments(self) -> list[str]:
        """The departments that have cycles (the summary's rows for all managers)."""
        with read_transaction(self._engine) as connection:
            return self._department_names(connection)

    # --- cycles -----------------------------------------------------------------------------

    def _seen(self, shape: _Shape) -> ColumnElement[bool]:
        """The cycles a filter of `shape` lets through (parameters: `_params`)."""
        c, e = self._cycles.c, self._employee.c
        if shape.role is Role.HR:
            seen: ColumnElement[bool] = true()
        elif shape.role is Role.MANAGER:
            seen = c.manager_id == bindparam("viewer")
        elif shape.role is Role.EMPLOYEE:
            seen = c.employee_id == bindparam("viewer")
        else:
            seen = false()
        if shape.by_manager:
            seen = and_(seen, c.manager_id == bindparam("manager"))
        if shape.by_department:
            seen = and_(seen, e.department == bindparam("department"))
        return seen

    def _statement(self, key: tuple[Any, ...], build: Callable[[], Select[Any]]) -> Select[Any]:
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = build()
        return statement

    def _keys(self, kind: str, shape: _Shape) -> Select[Any]:
        """The list's keys from `offset` on, in index order alone. (Joined to the employee only
        to filter by department: the join costs a lookup per row it considers.)"""
        condition, key = self._lists[kind]
        c, e = self._cycles.c, self._employee.c
        query = select(key.label("key")).select_from(self._cycles)
        if shape.by_department:
            query = query.join(self._employee, e.employee_id == c.employee_id)
        return query.where(self._seen(shape), condition).order_by(key).offset(bindparam("offset"))

    def _counted(self, kind: str, shape: _Shape) -> Select[Any]:
        """How many rows the list has from `offset` on, counted up to `ahead`."""

        def build() -> Select[Any]:
            ahead = self._keys(kind, shape).limit(bindparam("ahead")).subquery()
            return select(func.count()).select_from(ahead)

        return self._statement(("counted", kind, shape), build)

    def _rows(self, kind: str, shape: _Shape) -> Select[Any]:
        """One page of the list's rows (`limit` from `offset`) in (key, cycle id) order, each
        with the count of `_counted`: one statement for the whole list.

        Ordering by (key, cycle_id) straight away could sort every row sharing a key (a hundred
        talks at nine on a Monday): the page's last key, found in index order alone, bounds
        the sort to the page and its ties.
        """

        def build() -> Select[Any]:
            condition, key = self._lists[kind]
            c, e, m = self._cycles.c, self._employee.c, self._manager.c
            page = self._keys(kind, shape).limit(bindparam("limit")).subquery()
            last = select(func.max(page.c.key)).scalar_subquery()
            return (
                select(
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
                    self._counted(kind, shape).scalar_subquery(),
                )
                .select_from(
                    self._cycles.outerjoin(
                        self._employee, e.employee_id == c.employee_id
                    ).outerjoin(self._manager, m.employee_id == c.manager_id)
                )
                .where(self._seen(shape), condition, key <= last)
                .order_by(key, c.cycle_id)
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
            )

        return self._statement(("rows", kind, shape), build)

    def _page(
        self,
        connection: Connection,
        kind: str,
        where: Filter,
        *,
        now: datetime | None,
        number: int,
        per_page: int,
        total: int | None = None,
    ) -> Page[CycleRow]:
        """One page of a list, ordered by its indexed key, then by cycle id (so that pages
        never overlap). Counted up to `PAGES_AHEAD` pages past this one, unless the caller
        knows the `total`."""
        number = max(number, 1)
        offset = (number - 1) * per_page
        shape = _shape(where)
        params = _params(where) | {"offset": offset, "limit": per_page}
        if now is not None:
            params |= {"now": now, "until": now + DUE_SOON}
        ahead = 0 if total is not None else per_page * PAGES_AHEAD + 1
        found = connection.execute(self._rows(kind, shape), params | {"ahead": ahead}).all()
        capped = False
        if total is None:
            if found or not offset:
                counted = found[0][-1] if found else 0
                capped = counted == ahead
                total = offset + counted - capped
            else:  # a page past the end: count what there is before it
                before = params | {"offset": 0, "ahead": offset}
                total = int(connection.execute(self._counted(kind, shape), before).scalar_one())
        rows = [CycleRow(*row[:-1]) for row in found]
        return Page(rows, number, per_page, total, capped)

    def _phase_counts(self, connection: Connection, where: Filter) -> dict[str, int]:
        """From `summary_counts` (a few rows), but an employee's own cycles from `cycles`."""
        if where.viewer_role is Role.EMPLOYEE:
            shape = _shape(where)

            def build() -> Select[Any]:
                c, e = self._cycles.c, self._employee.c
                return (
                    select(c.phase, func.count())
                    .select_from(
                        self._cycles.outerjoin(self._employee, e.employee_id == c.employee_id)
                    )
                    .where(self._seen(shape))
                    .group_by(c.phase)
                )

            found = connection.execute(self._statement(("counts", shape), build), _params(where))
        else:
            key = self._count_key(where)
            if key is None:
                return dict.fromkeys(PHASES, 0)
            manager, department = key
            found = connection.execute(
                self._summary, {"manager": manager, "department": department}
            )
        counts = {str(phase): int(count) for phase, count in found}
        return {phase: counts.get(phase, 0) for phase in PHASES}

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

    # --- people -----------------------------------------------------------------------------

    def _over_capacity(self, connection: Connection, limit: int) -> Page[ManagerLoad]:
        capacity = capacity_from_env()
        ceiling = limit * PAGES_AHEAD
        params = {"capacity": capacity, "limit": limit, "ahead": ceiling + 1}
        found = connection.execute(self._over, params).all()
        total = int(found[0][-1]) if found else 0
        loads = [
            ManagerLoad(str(mid), str(name), int(n), float(hours), capacity)
            for mid, name, n, hours, _total in found
        ]
        return Page(loads, 1, limit, min(total, ceiling), total > ceiling)

    def _department_names(self, connection: Connection) -> list[str]:
        return [str(d) for (d,) in connection.execute(self._departments)]

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
        with read_transaction(self._engine) as connection:
            row = connection.execute(self._next_followup, {"cycle_id": cycle_id}).first()
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
            .where(self._seen(_shape(where)))
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
            found = connection.execute(query, _params(where)).all()
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
