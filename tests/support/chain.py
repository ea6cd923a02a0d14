"""Checks over a whole log that several test modules share."""

from __future__ import annotations

from collections.abc import Sequence

from events.hashing import GENESIS, event_hash
from events.records import StoredEvent
from events.store import EventStore


def assert_chain(events: Sequence[StoredEvent], store: EventStore) -> None:
    """Positions run 1..N, each stored hash chains to the one before, the head is the last."""
    previous = GENESIS
    for expected_position, stored in enumerate(events, start=1):
        assert stored.position == expected_position, f"position {expected_position} is missing"
        previous = event_hash(
            previous,
            position=stored.position,
            stream_id=stored.stream_id,
            version=stored.version,
            type=stored.type,
            schema_version=stored.schema_version,
            data=stored.data,
            metadata=stored.metadata.to_json(),
            recorded_at=stored.recorded_at,
        )
        assert stored.hash == previous, f"hash of position {stored.position} does not chain"
    assert store.head() == ((events[-1].position, previous) if events else (0, GENESIS))


def assert_streams_contiguous(events: Sequence[StoredEvent]) -> dict[str, int]:
    """Every stream's versions run 1..n in position order; returns each stream's n."""
    versions: dict[str, int] = {}
    for stored in events:
        expected = versions.get(stored.stream_id, 0) + 1
        assert stored.version == expected, (
            f"{stored.stream_id} jumps from {expected - 1} to {stored.version} at {stored.position}"
        )
        versions[stored.stream_id] = expected
    return versions
