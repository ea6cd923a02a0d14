"""The `people` projection: the employees and managers read models, kept together.

A manager's row is an aggregate over the employees rows (their reports), so both move under one
checkpoint: per batch, load the people it touches (by id, and by the cycle a closing event
names), fold the events, write the employees, then recount the managers whose reports changed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Connection, MetaData, Table

from handlers.projections import employees, managers
from handlers.projections.base import Projection, RebuildPass
from handlers.projections.cache import ProjectionCache
from handlers.projections.changes import Change
from handlers.projections.cycles import CYCLE_PREFIX
from handlers.projections.rows import Row, RowSet
from handlers.repository import EMPLOYEE_STREAMS

EMPLOYEE_PREFIX = "employee-"


class PeopleTables:
    """The projection on one set of tables (live, or a rebuild's shadow copies)."""

    def __init__(self, metadata: MetaData, suffix: str) -> None:
        self.employees = employees.employees_table(metadata, suffix)
        self.managers = managers.managers_table(metadata, suffix)

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.employees, self.managers)

    def apply(
        self,
        connection: Connection,
        changes: Sequence[Change],
        *,
        fresh: bool = False,
        cache: ProjectionCache | None = None,
    ) -> None:
        people = RowSet(self.employees, connection, cache)
        person_ids = {
            c.stream_id[len(EMPLOYEE_PREFIX) :]
            for c in changes
            if c.stream_id.startswith(EMPLOYEE_PREFIX)
        }
        closed = {
            c.stream_id[len(CYCLE_PREFIX) :]
            for c in changes
            if c.type in employees.CLOSING_EVENT_TYPES
        }
        # A rebuild's fresh batch loads nothing: its people are new, its closings are set below.
        loaded = [] if fresh else people.load("employee_id", person_ids)
        if not fresh:
            loaded += people.load("latest_cycle_id", closed)
        managers_before = {row["employee_id"]: row["manager_id"] for row in loaded}
        by_cycle = {row["latest_cycle_id"]: row for row in loaded if row["latest_cycle_id"]}
        touched: dict[str, Row] = {row["employee_id"]: row for row in loaded}

        for change in changes:
            if change.stream_id.startswith(CYCLE_PREFIX):
                cycle_id = change.stream_id[len(CYCLE_PREFIX) :]
                owner = by_cycle.get(cycle_id)
                if owner is not None and owner["latest_cycle_id"] == cycle_id:
                    owner["cycle_open"] = False
                continue
            if change.type == "EmployeeRegistered":
                row = people.put(employees.new_employee(change))
                touched[row["employee_id"]] = row
                continue
            row_or_none = touched.get(change.stream_id[len(EMPLOYEE_PREFIX) :])
            if row_or_none is None:
                raise LookupError(f"{change.type} at {change.position} for an unknown person")
            employees.fold(row_or_none, change)
            if change.type == "CycleOpened":
                by_cycle[row_or_none["latest_cycle_id"]] = row_or_none

        people.flush()
        if fresh:
            _close(connection, people, closed, cache)
            return  # the managers are counted once, at the end of the rebuild (`finish`)
        affected = {
            manager
            for person_id, row in touched.items()
            for manager in (managers_before.get(person_id), row["manager_id"])
            if manager is not None
        }
        counts = RowSet(self.managers, connection, cache)
        managers.recount(connection, self.employees, counts, affected)
        counts.flush()

    def finish(self, connection: Connection) -> None:
        """Count every manager's reports afresh from the rebuilt employees."""
        managers.recount_all(connection, self.employees, self.managers)


def _close(
    connection: Connection,
    people: RowSet,
    cycle_ids: Collection[str],
    cache: ProjectionCache | None,
) -> None:
    """A rebuild's closings: whoever's latest cycle is one of `cycle_ids` has no open cycle.

    One UPDATE in the database instead of loading every such person's row (and a copy to diff
    against) into memory: for a batch of closings that was most of the rebuild's peak memory.
    """
    if not cycle_ids:
        return
    codec = people.codec
    connection.exec_driver_sql(
        codec.update_in(("cycle_open",), "latest_cycle_id"),
        (codec.bind("cycle_open", False), codec.in_parameter(cycle_ids)),
    )
    if cache is not None:
        cache.stale()  # rows changed behind the row set's back


PEOPLE = Projection(
    name="people",
    event_types=employees.EMPLOYEE_EVENT_TYPES | employees.CLOSING_EVENT_TYPES,
    personal_types=frozenset({"EmployeeRegistered", "EmployeeDetailsChanged"}),
    bind=PeopleTables,
    # A person's own stream first, whole (each row inserted once); then the closing events of
    # cycles: a person's cycle is open exactly when their latest cycle has not been closed,
    # which the second pass settles, in any order, once every row is complete (`_close`).
    rebuild_passes=(
        RebuildPass(employees.EMPLOYEE_EVENT_TYPES, by_stream=True, streams=EMPLOYEE_STREAMS),
        RebuildPass(employees.CLOSING_EVENT_TYPES, by_stream=True),
    ),
)
