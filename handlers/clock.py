"""Clocks: the only place popcycle asks what time it is (the domain is handed `now`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

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


class FileClock:
    """The time written in a file (ISO 8601), re-read whenever the file is replaced.

    POP_CLOCK_FILE: one clock that a soak test or a rehearsal moves for several processes at
    once, by writing a new file and renaming it over the old one. Like POP_NOW it stands still
    between moves; it never goes backwards in a process, even if the file does.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int, int] | None = None
        self._now: datetime | None = None
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            stat = os.stat(self._path)
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen != self._seen or self._now is None:
                moment = read_clock_file(self._path)
                self._now = moment if self._now is None else max(self._now, moment)
                self._seen = seen
            return self._now


def read_clock_file(path: Path) -> datetime:
    """The aware UTC time a clock file holds (refused by name if it is not one)."""
    text = path.read_text(encoding="utf-8").strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{path}: not an ISO 8601 time: {text!r}") from error
    if moment.tzinfo is None:
        raise ValueError(f"{path}: the time needs an offset, e.g. {text}+00:00")
    return moment.astimezone(UTC)


def write_clock_file(path: Path, moment: datetime) -> None:
    """Move a FileClock: write beside the file, then rename over it (readers never see half)."""
    fresh = path.with_name(path.name + ".next")
    fresh.write_text(moment.astimezone(UTC).isoformat(), encoding="utf-8")
    os.replace(fresh, path)
