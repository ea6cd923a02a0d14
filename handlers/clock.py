"""Clocks: the only place popcycle asks what time it is (the domain is handed `now`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, timezone-aware UTC."""
    return datetime.now(UTC)


def frozen_clock(at: datetime) -> Clock:
    """A clock that always says `at` (in UTC): for demos, simulations and scripted tests."""
    fixed = at.astimezone(UTC)
    return lambda: fixed


class MovableClock:
    """A clock that stands still until moved: demos and simulations replay time with it."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        """Move to `moment` (never backwards: the log's times only grow)."""
        moment = moment.astimezone(UTC)
        self._now = max(self._now, moment)
