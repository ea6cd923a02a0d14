"""Errors the event store raises; each says what happened and what the caller can do."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every event-store error."""


class ConcurrencyConflict(EventStoreError):
    """The stream moved on since the caller read it: reload, decide again, retry."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream_id} is at version {actual}, not the expected {expected}: "
            "it changed since it was read; reload it and try again"
        )


class IdempotencyKeyReused(EventStoreError):
    """An idempotency key came back with a different request than the one it first carried."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was already used for a different request; "
            "use a new key for a new request"
        )


class UnknownEventType(EventStoreError):
    """A stored event names a type (or version) this code cannot read."""
