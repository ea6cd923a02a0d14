"""The audit view of a cycle: every event with who did it, when, for whom, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handlers.repository import Repository, check_id, cycle_stream
from workflow.errors import NotFound


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a plan's history."""

    position: int
    version: int
    type: str
    at: datetime
    actor: dict[str, Any]
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "version": self.version,
            "type": self.type,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "data": self.data,
        }


def cycle_history(
    repository: Repository, cycle_id: str, as_of: datetime | None = None
) -> list[HistoryEntry]:
    """The cycle's events in order (up to `as_of`), unsealed and upcast to their current shape."""
    check_id(cycle_id, "cycle_id")
    stored = repository.store.read_stream(cycle_stream(cycle_id))
    if not stored:
        raise NotFound(f"no cycle {cycle_id}", field="cycle_id")
    return [
        HistoryEntry(
            position=event.position,
            version=event.version,
            type=event.type,
            at=event.recorded_at,
            actor={
                "id": event.metadata.actor_id,
                "role": event.metadata.actor_role,
                "on_behalf_of": event.metadata.on_behalf_of,
            },
            data=data,
        )
        for event, data in repository.unsealed(stored)
        if as_of is None or event.recorded_at <= as_of
    ]
