"""Everyone the policy applies to, read straight from the log (one streaming pass)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from handlers.bootstrap import Popcycle
from workflow.phases import Phase
from workflow.state import CycleState

CYCLE, EMPLOYEE = "cycle-", "employee-"


def stream_ids(app: Popcycle, prefix: str) -> list[str]:
    """The ids of every stream with `prefix`, in order of first appearance."""
    seen: dict[str, None] = {}
    for event in app.store.read_all(0, batch_size=5000):
        if event.stream_id.startswith(prefix) and event.version == 1:
            seen[event.stream_id[len(prefix) :]] = None
    return list(seen)


def cycles_with_quadrants(app: Popcycle) -> Iterator[tuple[CycleState, str | None]]:
    """Each cycle's current state, with its employee's quadrant where a restart depends on it."""
    for cycle_id in stream_ids(app, CYCLE):
        state = app.repository.cycle(cycle_id)
        quadrant = None
        if state.phase is Phase.COMPLETED:
            quadrant = app.repository.employee(state.employee_id).quadrant
        yield state, quadrant


def latest_cycles(app: Popcycle) -> Iterator[tuple[str, date, CycleState | None, str | None]]:
    """Per current employee: id, registration day, latest cycle (or None) and quadrant."""
    for employee_id in stream_ids(app, EMPLOYEE):
        person = app.repository.employee(employee_id)
        if person.left_on is not None or person.forgotten:
            continue
        first = app.store.read_stream(f"{EMPLOYEE}{employee_id}")[0]
        latest = None
        if person.latest_cycle_id is not None:
            latest = app.repository.cycle(person.latest_cycle_id)
        yield employee_id, first.recorded_at.date(), latest, person.quadrant
