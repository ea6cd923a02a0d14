"""An in-memory event store: the reference implementation, for pure tests and simulations."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

from events.errors import ConcurrencyConflict, IdempotencyKeyReused
from events.hashing import GENESIS, event_hash
from events.records import AppendResult, Metadata, StoredEvent, StreamAppend
from events.store import Clock


class InMemoryEventStore:
    """Keeps the log in a list; thread-safe; same semantics as the SQL stores."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._log: list[StoredEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}
        self._keys: dict[str, tuple[str | None, AppendResult]] = {}
        self._lock = threading.Lock()

    def append(
        self,
        appends: Sequence[StreamAppend],
        metadata: Metadata,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> AppendResult:
        with self._lock:
            if idempotency_key is not None:
                earlier = self._lookup(idempotency_key, request_fingerprint)
                if earlier is not None:
                    return earlier
            for item in appends:
                actual = len(self._streams.get(item.stream_id, ()))
                if item.expected_version is not None and item.expected_version != actual:
                    raise ConcurrencyConflict(item.stream_id, item.expected_version, actual)
            now = self._clock()
            if now.tzinfo is None or now.utcoffset() is None:
                raise ValueError("the clock returned a naive datetime: it must be timezone-aware")
            now = now.astimezone(UTC)  # as the SQL stores keep it, so the hashes agree
            meta = Metadata(**{**metadata.to_json(), "idempotency_key": idempotency_key})
            previous = self._log[-1].hash if self._log else GENESIS
            first = len(self._log) + 1
            versions: dict[str, int] = {}
            for item in appends:
                stream = self._streams.setdefault(item.stream_id, [])
                for new in item.events:
                    position = len(self._log) + 1
                    version = len(stream) + 1
                    digest = event_hash(
                        previous,
                        position=position,
                        stream_id=item.stream_id,
                        version=version,
                        type=new.type,
                        schema_version=new.schema_version,
                        data=new.data,
                        metadata=meta.to_json(),
                        recorded_at=now,
                    )
                    stored = StoredEvent(
                        position,
                        item.stream_id,
                        version,
                        new.type,
                        new.schema_version,
                        new.data,
                        meta,
                        now,
                        digest,
                    )
                    self._log.append(stored)
                    stream.append(stored)
                    previous = digest
                versions[item.stream_id] = len(stream)
            outcome = AppendResult(versions, first, len(self._log), False, dict(result or {}))
            if idempotency_key is not None:
                self._keys[idempotency_key] = (request_fingerprint, outcome)
            return outcome

    def _lookup(self, key: str, fingerprint: str | None) -> AppendResult | None:
        found = self._keys.get(key)
        if found is None:
            return None
        stored_fingerprint, outcome = found
        if fingerprint is not None and stored_fingerprint not in (None, fingerprint):
            raise IdempotencyKeyReused(key)
        return AppendResult(
            outcome.versions, outcome.first_position, outcome.last_position, True, outcome.result
        )

    def lookup(
        self, idempotency_key: str, request_fingerprint: str | None = None
    ) -> AppendResult | None:
        with self._lock:
            return self._lookup(idempotency_key, request_fingerprint)

    def read_stream(self, stream_id: str) -> list[StoredEvent]:
        with self._lock:
            return list(self._streams.get(stream_id, ()))

    def stream_version(self, stream_id: str) -> int:
        with self._lock:
            return len(self._streams.get(stream_id, ()))

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        position = after_position
        while True:
            with self._lock:
                batch = self._log[position : position + batch_size]
            if not batch:
                return
            yield from batch
            position = batch[-1].position

    def head(self) -> tuple[int, str]:
        with self._lock:
            if not self._log:
                return 0, GENESIS
            return self._log[-1].position, self._log[-1].hash
