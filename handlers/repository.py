"""Reading aggregates back: stream names, unsealing personal data, decoding, folding.

Every read of the log that needs personal data goes through `Repository.unsealed`, so that a
forgotten employee's fields show as erased everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from events.codec import decode, upcast
from events.domain import CYCLE_EVENT_TYPES, EMPLOYEE_EVENT_TYPES, DomainEvent
from events.records import StoredEvent
from events.sealing import KeyRing, sealed_subject, unseal
from events.store import EventStore
from workflow.employee import EmployeeState, evolve_employee
from workflow.errors import NotFound
from workflow.state import CycleState, evolve

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")


def check_id(value: str, field: str) -> str:
    """Ids become stream names: 1 to 50 letters, digits, '.', '_' or '-'."""
    if not _ID.match(value):
        raise NotFound(
            f"{value!r} is not a valid id (1-50 letters, digits, '.', '_' or '-')", field=field
        )
    return value


def cycle_stream(cycle_id: str) -> str:
    return f"cycle-{cycle_id}"


#: What every employee's stream id starts with (and no other stream's).
EMPLOYEE_STREAMS = "employee-"


def employee_stream(employee_id: str) -> str:
    return f"{EMPLOYEE_STREAMS}{employee_id}"


class Repository:
    """The store seen through the key ring: events come out unsealed and upcast."""

    def __init__(self, store: EventStore, keys: KeyRing) -> None:
        self.store = store
        self.keys = keys

    def unsealed(self, events: Iterable[StoredEvent]) -> list[tuple[StoredEvent, dict[str, Any]]]:
        """Each event with its current-version data, personal fields opened or erased."""
        batch = list(events)
        subjects = {s for e in batch if (s := sealed_subject(e.data)) is not None}
        keys = self.keys.keys_for(subjects) if subjects else {}
        return [
            (
                event,
                upcast(
                    event.type,
                    event.schema_version,
                    unseal(event.type, event.data, keys.get(sealed_subject(event.data) or "")),
                ),
            )
            for event in batch
        ]

    def decoded(self, events: Iterable[StoredEvent]) -> list[DomainEvent]:
        return [decode(event, data) for event, data in self.unsealed(events)]

    def cycle(self, cycle_id: str, as_of: datetime | None = None) -> CycleState:
        """The cycle's state (as it stood at `as_of`), or NotFound naming `cycle_id`."""
        check_id(cycle_id, "cycle_id")
        stored = self.store.read_stream(cycle_stream(cycle_id))
        if as_of is not None:
            stored = [event for event in stored if event.recorded_at <= as_of]
        state: CycleState | None = None
        for event in self.decoded(stored):
            if not isinstance(event, CYCLE_EVENT_TYPES):
                raise TypeError(f"{type(event).__name__} is not a cycle event")
            state = evolve(state, event)
        if state is None:
            raise NotFound(f"no cycle {cycle_id}", field="cycle_id")
        return state

    def employee(self, employee_id: str, field: str = "employee_id") -> EmployeeState:
        """The person's state, or NotFound naming `field`."""
        check_id(employee_id, field)
        state: EmployeeState | None = None
        for event in self.decoded(self.store.read_stream(employee_stream(employee_id))):
            if not isinstance(event, EMPLOYEE_EVENT_TYPES):
                raise TypeError(f"{type(event).__name__} is not a person event")
            state = evolve_employee(state, event)
        if state is None:
            raise NotFound(f"no employee {employee_id}", field=field)
        return state
