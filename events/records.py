"""The shapes an event has on its way into and out of the store.

`NewEvent` is what a command handler asks to append; `StoredEvent` is what the store gives back,
with the position, stream version, time and hash that only the store may assign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Metadata:
    """Who did it, for whom, and why: the audit half of every event.

    `actor_id`/`actor_role` name the person who acted; `on_behalf_of` names the side they acted
    for when HR acts for an employee or manager. `causation_id` and `correlation_id` tie an event
    to the command or import that caused it.
    """

    actor_id: str = "system"
    actor_role: str = "system"
    on_behalf_of: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None

    def to_json(self) -> JSON:
        return {
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "on_behalf_of": self.on_behalf_of,
            "causation_id": self.causation_id,
            "correlation_id": self.correlation_id,
            "idempotency_key": self.idempotency_key,
        }

    @classmethod
    def from_json(cls, raw: JSON) -> Metadata:
        return cls(
            actor_id=str(raw.get("actor_id", "system")),
            actor_role=str(raw.get("actor_role", "system")),
            on_behalf_of=raw.get("on_behalf_of"),
            causation_id=raw.get("causation_id"),
            correlation_id=raw.get("correlation_id"),
            idempotency_key=raw.get("idempotency_key"),
        )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: its type name, schema version and JSON-ready data."""

    type: str
    data: JSON
    schema_version: int = 1


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as recorded: immutable, positioned, chained."""

    position: int
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: JSON
    metadata: Metadata
    recorded_at: datetime
    hash: str


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """Events for one stream, appended only if the stream is still at `expected_version`.

    `expected_version` 0 means "the stream must not exist yet"; `None` means "any version"
    (only for streams with a single writer, such as the follow-up log of the scheduler).
    """

    stream_id: str
    events: tuple[NewEvent, ...]
    expected_version: int | None


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: the new version of each stream and the positions written.

    `replayed` is true when an idempotency key had already been applied and this result is the
    stored first result; nothing was written then.
    """

    versions: dict[str, int]
    first_position: int
    last_position: int
    replayed: bool = False
    result: JSON = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One caller's append with everything `EventStore.append` takes: a group commit's unit."""

    appends: Sequence[StreamAppend]
    metadata: Metadata
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    result: JSON | None = None
