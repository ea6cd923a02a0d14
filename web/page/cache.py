"""Rendered overviews, kept while nothing they show can have changed.

The status page is read far more often than its read models move. An overview is a function of
the read-model tables, the viewer, the query string, the language and the time; the tables
change only together with their projections' checkpoints (the same transaction), and time
changes it only at the moments `Overview.valid_until` names (a follow-up falls due, another
comes within the window). So a rendered overview is served again while the checkpoints read
before it are unchanged and that moment has not come: never stale, and the check costs one
indexed read instead of the page's queries and its rendering.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

#: Rendered overviews kept per process (the least recently used goes first).
CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class _Entry:
    version: Hashable
    valid_until: datetime | None
    html: str


class OverviewCache:
    """Thread-safe: the WSGI server's threads share it."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: Hashable, version: Hashable, now: datetime) -> str | None:
        """The overview rendered for `key` at `version`, if time has not changed it since."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.version != version or (
                entry.valid_until is not None and now >= entry.valid_until
            ):
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.html

    def put(
        self, key: Hashable, version: Hashable, valid_until: datetime | None, html: str
    ) -> None:
        """Keep `html`, read at `version` (read before the tables themselves were, or in the
        same snapshot)."""
        with self._lock:
            self._entries[key] = _Entry(version, valid_until, html)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
