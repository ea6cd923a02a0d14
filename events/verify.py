"""Walking the hash chain: proof that no event was edited, removed, inserted or reordered.

Bounded memory: one pass over the log in position order, keeping only the previous hash and
each stream's last version. The chain head stored beside the log catches a cut-off tail; print
the head hash somewhere safe (`pop verify` does) and a later run can also prove that nobody
rewrote the whole chain (`expect_head`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from events.hashing import GENESIS, event_hash
from events.records import StoredEvent


@dataclass(frozen=True, slots=True)
class Finding:
    """The first place where the log is not what was written."""

    position: int
    kind: str  # edited | removed | inserted | reordered | truncated | head
    message: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class Verification:
    """What a walk over the chain found."""

    checked: int
    head_position: int
    head_hash: str
    finding: Finding | None

    @property
    def ok(self) -> bool:
        return self.finding is None


def _content_hash(previous: str, event: StoredEvent) -> str:
    return event_hash(
        previous,
        position=event.position,
        stream_id=event.stream_id,
        version=event.version,
        type=event.type,
        schema_version=event.schema_version,
        data=event.data,
        metadata=event.metadata.to_json(),
        recorded_at=event.recorded_at,
    )


def verify_chain(
    events: Iterable[StoredEvent],
    head: tuple[int, str],
    *,
    expect_head: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Check every event against its predecessor, the streams' versions and the stored head."""
    previous_hash, expected_position, checked = GENESIS, 1, 0
    versions: dict[str, int] = {}
    head_position, head_hash = head

    def found(position: int, kind: str, message: str) -> Verification:
        return Verification(checked, head_position, head_hash, Finding(position, kind, message))

    for event in events:
        if event.position > expected_position:
            return found(
                expected_position,
                "removed",
                f"positions {expected_position}..{event.position - 1} are missing",
            )
        if event.position < expected_position:
            return found(event.position, "inserted", "a second event at this position")
        stream_version = versions.get(event.stream_id, 0) + 1
        if _content_hash(previous_hash, event) != event.hash:
            moved = event.version != stream_version
            return found(
                event.position,
                "reordered" if moved else "edited",
                f"the event of {event.stream_id} v{event.version} does not match its hash"
                + (" and is out of its stream's order" if moved else ""),
            )
        if event.version != stream_version:
            return found(
                event.position,
                "inserted",
                f"{event.stream_id} jumps from v{stream_version - 1} to v{event.version}",
            )
        versions[event.stream_id] = event.version
        previous_hash = event.hash
        checked += 1
        expected_position += 1
        if progress is not None:
            progress(checked)
    last_position = expected_position - 1
    if last_position < head_position:
        return found(
            last_position + 1,
            "truncated",
            f"the log ends at {last_position} but its head says {head_position}",
        )
    if last_position > head_position or previous_hash != head_hash:
        return found(head_position, "head", "the stored chain head does not match the log")
    if expect_head is not None and expect_head != head_hash:
        return found(head_position, "head", "the chain head differs from the one recorded earlier")
    return Verification(checked, head_position, head_hash, None)
