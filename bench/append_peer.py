"""`bench.append`'s peer on the `eventsourcing` library, in its own module so that importing
`bench.append` (the tests use its row capture) needs only the test extra, not the bench one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class PeerStream(Aggregate):
    """The peer's aggregate: one per stream, one event per stored row, carrying its JSON."""

    @event("Started")
    def __init__(self, kind: str, data: dict[str, Any], metadata: dict[str, Any]) -> None:
        self.kind = kind
        self.events = 1

    @event("Recorded")
    def record(self, kind: str, data: dict[str, Any], metadata: dict[str, Any]) -> None:
        self.kind = kind
        self.events += 1


class PeerApp(Application[UUID]):
    name = "Peer"
