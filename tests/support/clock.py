"""A clock that tests move by hand: time only passes when a test says so."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class FakeClock:
    """Callable like `events.store.Clock`; always timezone-aware UTC; thread-safe.

    `tick` (optional) is added after every reading, so successive events get distinct,
    increasing times without the test advancing the clock itself.
    """

    def __init__(self, start: datetime = DEFAULT_START, *, tick: timedelta | None = None) -> None:
        self._now = _utc(start)
        self._tick = tick or timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            now = self._now
            self._now += self._tick
            return now

    def now(self) -> datetime:
        """The current time, without ticking."""
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = _utc(moment)

    def advance(self, delta: timedelta = timedelta(seconds=1), /, **units: float) -> datetime:
        """Move forward by `delta` or by `timedelta(**units)` (e.g. `advance(days=7)`)."""
        step = timedelta(**units) if units else delta
        if step < timedelta(0):
            raise ValueError("a clock does not go back; use set() to jump")
        with self._lock:
            self._now += step
            return self._now


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("FakeClock needs a timezone-aware datetime")
    return moment.astimezone(UTC)
