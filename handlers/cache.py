"""A small thread-safe LRU cache of aggregate states, keyed by stream.

Why it is safe: a cached state is only ever used to *propose* an append at its version. If
another process wrote meanwhile, the store refuses that version (ConcurrencyConflict) and the
handler reloads; and a refusal decided on a cached state is never trusted without deciding
again on a freshly loaded one. So the cache saves the read of the stream on the common path
and can never make a wrong decision stick.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class LruCache(Generic[T]):
    """At most `size` entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: T) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)
