"""The one interface every event store honours (in memory, SQLite, PostgreSQL).

The same test suite runs against every implementation (`tests/integration/test_store_contract.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from events.records import AppendResult, Metadata, StoredEvent, StreamAppend

Clock = Callable[[], datetime]


class EventStore(Protocol):
    """An append-only, hash-chained log of events grouped into streams."""

    def append(
        self,
        appends: Sequence[StreamAppend],
        metadata: Metadata,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> AppendResult:
        """Append to one or more streams atomically, each at its expected version.

        Raises `ConcurrencyConflict` (and writes nothing) when any stream has moved on. With an
        `idempotency_key` that was already applied, writes nothing and returns the first
        result (`replayed=True`); with that key but another `request_fingerprint`, raises
        `IdempotencyKeyReused`. `result` is stored with the key and handed back on replay.
        """
        ...

    def lookup(
        self, idempotency_key: str, request_fingerprint: str | None = None
    ) -> AppendResult | None:
        """The first result of an already-applied idempotency key, or None."""
        ...

    def read_stream(self, stream_id: str) -> list[StoredEvent]:
        """Every event of one stream, in version order (empty for an unknown stream)."""
        ...

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version: 0 when it does not exist."""
        ...

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        """Every event after a global position, in order, fetched in batches (bounded memory).

        Never skips an event: a reader that has seen position N will never later find an event
        committed below N.
        """
        ...

    def head(self) -> tuple[int, str]:
        """The last global position and its hash (0 and the genesis hash when empty)."""
        ...
