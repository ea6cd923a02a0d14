"""The `summary` projection: how many cycles stand in each phase, per manager and department.

The status page shows these counts at a glance for any filter (all, one manager, one
department, both). Counting them from `cycles` would scan every cycle on every request, so this
projection keeps the counts themselves, rolled up in advance: each cycle adds one to the rows
(its manager, its department, its phase), (its manager, all, phase), (all, its department,
phase) and (all, all, phase), where "all" is `ALL` (""). A department filter never matches a
cycle whose employee has no department, so such a cycle counts under department `ALL` only —
exactly the rows the cycles ⋈ employees query would count. Rows at zero are deleted, so the
live table and a rebuild hold the same rows.

To move a count the projection must know each cycle's phase before and after a batch, and the
department of its employee (which is the people's data, not the cycle's). It keeps both in two
small tables of its own, because a projection never reads another's tables (their checkpoints
differ):

- `summary_people`: each employee's department;
- `summary_cycles`: each cycle's manager, department and the columns that decide its phase.

The phase is folded by the `cycles` read model's own fold (`cycles.fold`), on a row holding the
kept columns and neutral values for the rest: the two phases cannot disagree, and the phase
rules live in one place. No column holds personal data (ids, departments, phases, dates), so
an erasure (`EmployeeForgotten`) has nothing to erase here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    cast,
    func,
    literal,
    select,
)

from events.schema import UTCDateTime
from handlers.projections import cycles
from handlers.projections.base import Projection, RebuildPass
from handlers.projections.cache import ProjectionCache
from handlers.projections.changes import Change
from handlers.projections.rows import Row, RowSet
from handlers.projections.schema import ID_LENGTH
from handlers.repository import EMPLOYEE_STREAMS

EMPLOYEE_PREFIX = "employee-"

#: The rollup key: every manager, or every department.
ALL = ""

#: Cycle events that can move a phase, a manager or a signature the phase depends on.
PHASE_EVENT_TYPES = frozenset(
    {
        "CycleStarted",
        "PreparationSubmitted",
        "InterviewScheduled",
        "InterviewHeld",
        "PlanDrafted",
        "PlanSigned",
        "EvaluationDue",
        "EvaluationRecorded",
        "CycleCancelled",
        "CycleManagerChanged",
    }
)
#: Employee events that set a department.
DEPARTMENT_EVENT_TYPES = frozenset({"EmployeeRegistered", "EmployeeDetailsChanged"})

#: The columns of a `cycles` row that `cycles.fold` reads to decide the phase (and its
#: settlement of the budget share needs: `signed_at` once the plan is in force).
PHASE_COLUMNS = (
    "cycle_id",
    "employee_id",
    "manager_id",
    "phase",
    "employee_prepared",
    "manager_prepared",
    "interview_at",
    "plan_version",
    "employee_signed",
    "manager_signed",
    "signed_at",
)

CountKey = tuple[str, str, str]  # (manager_id or ALL, department or ALL, phase)


def summary_people_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"summary_people{suffix}",
        metadata,
        Column("employee_id", String(ID_LENGTH), primary_key=True),
        Column("department", Text, nullable=True),
    )


def summary_cycles_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"summary_cycles{suffix}",
        metadata,
        Column("cycle_id", String(ID_LENGTH), primary_key=True),
        Column("employee_id", String(ID_LENGTH), nullable=False, index=True),
        Column("manager_id", String(ID_LENGTH), nullable=False),
        Column("department", Text, nullable=True),
        Column("phase", String(16), nullable=False),
        Column("employee_prepared", Boolean, nullable=False),
        Column("manager_prepared", Boolean, nullable=False),
        Column("interview_at", UTCDateTime, nullable=True),
        Column("plan_version", Integer, nullable=False),
        Column("employee_signed", Boolean, nullable=False),
        Column("manager_signed", Boolean, nullable=False),
        Column("signed_at", UTCDateTime, nullable=True),
    )


def summary_counts_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"summary_counts{suffix}",
        metadata,
        Column("manager_id", String(ID_LENGTH), primary_key=True),
        Column("department", Text, primary_key=True),
        Column("phase", String(16), primary_key=True),
        Column("cycles", Integer, nullable=False),
    )


def _neutral(column: Column[Any]) -> Any:
    """What a column of a fresh `cycles` row holds before anything happened."""
    if isinstance(column.type, Boolean):
        return False
    if isinstance(column.type, Integer | BigInteger) and not column.nullable:
        return 0
    return None


#: A whole `cycles` row of neutral values, for `cycles.fold` to work on beside the kept columns.
_FILLER: Row = {c.name: _neutral(c) for c in cycles.cycles_table(MetaData()).columns}


def department_of(value: str | None) -> str | None:
    """A department as the filter can match it: an empty one is none."""
    return value or None


def rollups(manager_id: str, department: str | None, phase: str) -> Iterator[CountKey]:
    """The count rows one cycle adds to (`SummaryTables.finish` says the same in SQL)."""
    for manager in (manager_id, ALL):
        yield manager, ALL, phase
        if department:
            yield manager, department, phase


def count_key(manager_id: str | None, department: str | None) -> tuple[str, str]:
    """The (manager, department) of the count rows that answer a filter (None: any)."""
    return manager_id or ALL, department or ALL


class SummaryTables:
    """The projection on one set of tables (live, or a rebuild's shadow copies)."""

    def __init__(self, metadata: MetaData, suffix: str) -> None:
        self.people = summary_people_table(metadata, suffix)
        self.cycles = summary_cycles_table(metadata, suffix)
        self.counts = summary_counts_table(metadata, suffix)

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.people, self.cycles, self.counts)

    def apply(
        self,
        connection: Connection,
        changes: Sequence[Change],
        *,
        fresh: bool = False,
        cache: ProjectionCache | None = None,
    ) -> None:
        _Batch(self, connection, cache).run(changes, fresh=fresh)

    def finish(self, connection: Connection) -> None:
        """Count every cycle afresh from `summary_cycles` (a rebuild's `fresh` batches leave
        the counts aside), rolled up as the batches would have.

        One INSERT … SELECT per rollup, all in the database: the counts grow with the number
        of managers, and holding them in Python made the rebuild's peak memory grow with the
        organisation (some 70 MB at a million events).
        """
        connection.execute(self.counts.delete())
        c = self.cycles.c
        everyone = cast(literal(ALL), String(ID_LENGTH))
        has_department = and_(c.department.is_not(None), c.department != ALL)
        columns = ("manager_id", "department", "phase", "cycles")
        for manager in (c.manager_id, everyone):
            for department in (everyone, c.department):
                grouped = [key for key in (manager, department) if key is not everyone]
                query = select(manager, department, c.phase, func.count()).group_by(
                    *grouped, c.phase
                )
                if department is not everyone:
                    query = query.where(has_department)
                connection.execute(self.counts.insert().from_select(columns, query))


class _Batch:
    """One batch: load the people and cycles it touches, fold, move the counts by the difference."""

    def __init__(
        self, tables: SummaryTables, connection: Connection, cache: ProjectionCache | None
    ) -> None:
        self.people = RowSet(tables.people, connection, cache)
        self.cycles = RowSet(tables.cycles, connection, cache)
        self.counts = RowSet(tables.counts, connection, cache)
        self.persons: dict[str, Row] = {}
        self.held: dict[str, Row] = {}
        self.by_employee: dict[str, list[Row]] = {}

    def run(self, changes: Sequence[Change], *, fresh: bool) -> None:
        before = self._load(changes, fresh=fresh)
        for change in changes:
            if change.stream_id.startswith(EMPLOYEE_PREFIX):
                self._person(change.stream_id[len(EMPLOYEE_PREFIX) :], change)
            else:
                self._cycle(change.stream_id[len(cycles.CYCLE_PREFIX) :], change)
        delta: Counter[CountKey] = Counter()
        for cycle_id, row in self.held.items():
            after = (row["manager_id"], row["department"], row["phase"])
            if before.get(cycle_id) == after:
                continue
            if cycle_id in before:
                delta.subtract(rollups(*before[cycle_id]))
            delta.update(rollups(*after))
        if not fresh:  # a rebuild counts once, at the end (`finish`)
            self._move(delta)
        self.people.flush()
        self.cycles.flush()
        self.counts.flush()

    def _load(
        self, changes: Sequence[Change], *, fresh: bool
    ) -> dict[str, tuple[str, str | None, str]]:
        """Load what the batch touches; return each loaded cycle's count key before it.

        `fresh` (a rebuild's whole streams): the batch's own streams have no rows yet, so only
        the departments of the people whose cycles start in it are read.
        """
        person_ids: set[str] = set()
        cycle_ids: set[str] = set()
        moved: set[str] = set()  # people whose department may change, with all their cycles
        for change in changes:
            if change.stream_id.startswith(EMPLOYEE_PREFIX):
                person_id = change.stream_id[len(EMPLOYEE_PREFIX) :]
                person_ids.add(person_id)
                moved.add(person_id)
            else:
                cycle_ids.add(change.stream_id[len(cycles.CYCLE_PREFIX) :])
                if change.type == "CycleStarted":
                    person_ids.add(change.data["employee_id"])
        if fresh:
            person_ids -= moved
            moved = cycle_ids = set()
        for person in self.people.load("employee_id", person_ids):
            self.persons[person["employee_id"]] = person
        for row in [
            *self.cycles.load("cycle_id", cycle_ids),
            *self.cycles.load("employee_id", moved),
        ]:
            if row["cycle_id"] not in self.held:
                self._hold(row)
        return {
            cycle_id: (row["manager_id"], row["department"], row["phase"])
            for cycle_id, row in self.held.items()
        }

    def _hold(self, row: Row) -> None:
        self.held[row["cycle_id"]] = row
        self.by_employee.setdefault(row["employee_id"], []).append(row)

    def _person(self, person_id: str, change: Change) -> None:
        if change.type not in DEPARTMENT_EVENT_TYPES:
            return
        data = change.data
        if change.type == "EmployeeRegistered":
            self.persons[person_id] = self.people.put({"employee_id": person_id})
        elif data.get("department") is None:
            return  # details changed, department unchanged
        person = self.persons.get(person_id)
        if person is None:
            raise LookupError(f"{change.type} at {change.position} for an unknown person")
        department = person["department"] = department_of(data.get("department"))
        for row in self.by_employee.get(person_id, ()):
            row["department"] = department

    def _cycle(self, cycle_id: str, change: Change) -> None:
        if change.type == "CycleStarted":
            full = cycles.new_cycle(change).row
            person = self.persons.get(full["employee_id"])
            row = {name: full[name] for name in PHASE_COLUMNS}
            row["department"] = person["department"] if person else None
            self._hold(self.cycles.put(row))
            return
        row_or_none = self.held.get(cycle_id)
        if row_or_none is None:
            raise LookupError(f"{change.type} at {change.position} for an unknown cycle")
        full = {**_FILLER, **row_or_none}
        cycles.fold(cycles.CycleFold(full), change)
        row_or_none.update({name: full[name] for name in PHASE_COLUMNS})

    def _move(self, delta: Counter[CountKey]) -> None:
        changed = {key: n for key, n in delta.items() if n}
        self.counts.load("manager_id", {manager for manager, _d, _p in changed})
        for key, n in changed.items():
            current = self.counts.get(key)
            total = (current["cycles"] if current else 0) + n
            if total < 0:
                raise LookupError(f"summary count {key} would fall below zero")
            if total == 0:
                self.counts.remove(key)
            else:
                manager_id, department, phase = key
                self.counts.put(
                    {
                        "manager_id": manager_id,
                        "department": department,
                        "phase": phase,
                        "cycles": total,
                    }
                )


SUMMARY = Projection(
    name="summary",
    event_types=PHASE_EVENT_TYPES | DEPARTMENT_EVENT_TYPES,
    personal_types=frozenset(),  # departments and phases only: nothing to unseal
    bind=SummaryTables,
    # A cycle's final row depends on its own stream and on its employee's final department
    # (a department change moves every cycle of the person): so the people first, whole, then
    # every cycle whole, reading the department it ends with; the counts are sums, counted once
    # at the end (`finish`).
    rebuild_passes=(
        RebuildPass(DEPARTMENT_EVENT_TYPES, by_stream=True, streams=EMPLOYEE_STREAMS),
        RebuildPass(PHASE_EVENT_TYPES, by_stream=True),
    ),
)
