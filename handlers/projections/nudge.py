"""Nudges: after a committed append, ask the workers to catch each projection up — once.

A nudge is a hint, never the truth (DESIGN.md "the broker is a hint"): a lost nudge only delays
a projection until the safety sweep, which compares checkpoints with the log head and nudges
whatever is behind. So nudging never fails a command: errors are logged and swallowed.

Nudges are coalesced: one pending catch-up per projection is enough, because a catch-up works
through everything after its checkpoint. A *gate* remembers that a nudge is pending: claimed
when the nudge is sent, released by the actor when it starts (before it reads the log, so an
append committed during the catch-up nudges again). Two gates:

- `RedisGate`: `SET key NX EX ttl` across all processes; the TTL bounds how long a nudge whose
  message got lost can hold the gate shut (the sweep forces a nudge through it anyway).
- `LocalGate`: a set in memory, for the embedded in-process broker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any, Protocol

import structlog

from events.records import AppendResult

log = structlog.get_logger(__name__)

#: Seconds a claimed gate stays shut if the actor never starts (lost message, dead broker).
NUDGE_TTL_SECONDS = 60


class Gate(Protocol):
    """Remembers which projections have a catch-up pending."""

    def claim(self, name: str) -> bool:
        """True if no catch-up was pending for `name` (it is pending now)."""
        ...

    def force(self, name: str) -> None:
        """Mark a catch-up pending whatever the gate said (the sweep's nudge)."""
        ...

    def release(self, name: str) -> None:
        """The pending catch-up has started."""
        ...


class LocalGate:
    """A gate for one process (the embedded broker)."""

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, name: str) -> bool:
        with self._lock:
            if name in self._pending:
                return False
            self._pending.add(name)
            return True

    def force(self, name: str) -> None:
        with self._lock:
            self._pending.add(name)

    def release(self, name: str) -> None:
        with self._lock:
            self._pending.discard(name)


class RedisGate:
    """A gate shared by every process on one Redis (keys `<prefix><projection>`)."""

    def __init__(
        self, client: Any, *, prefix: str = "popcycle:nudge:", ttl: int = NUDGE_TTL_SECONDS
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl

    def claim(self, name: str) -> bool:
        return bool(self._client.set(self._prefix + name, "1", nx=True, ex=self._ttl))

    def force(self, name: str) -> None:
        self._client.set(self._prefix + name, "1", ex=self._ttl)

    def release(self, name: str) -> None:
        self._client.delete(self._prefix + name)


class Nudger:
    """Sends one coalesced catch-up request per projection (`send(name)` enqueues it)."""

    def __init__(self, names: Iterable[str], gate: Gate, send: Callable[[str], None]) -> None:
        self.names = tuple(names)
        self.gate = gate
        self._send = send

    def __call__(self, _result: AppendResult) -> None:
        """The command side's `on_appended` hook: nudge every projection."""
        for name in self.names:
            self.nudge(name)

    def nudge(self, name: str, *, force: bool = False) -> bool:
        """Enqueue a catch-up of `name` unless one is pending; True if one was sent."""
        try:
            if force:
                self.gate.force(name)
            elif not self.gate.claim(name):
                return False
            self._send(name)
        except Exception as error:  # a hint: the sweep makes up for it, the command stands
            log.warning("projection.nudge_failed", projection=name, error=type(error).__name__)
            with suppress(Exception):  # the broker is down: the gate's TTL frees it
                self.gate.release(name)
            return False
        return True
