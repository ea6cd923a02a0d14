"""Key rings: the per-employee keys that seal personal data (see `events/sealing.py`)."""

from __future__ import annotations

import threading

from events.sealing import new_key


class InMemoryKeyRing:
    """Keys in a dict: for pure tests and simulations."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._destroyed: set[str] = set()
        self._lock = threading.Lock()

    def key_for(self, subject_id: str, *, create: bool) -> bytes | None:
        with self._lock:
            if subject_id in self._destroyed:
                return None
            if subject_id not in self._keys and create:
                self._keys[subject_id] = new_key()
            return self._keys.get(subject_id)

    def keys_for(self, subject_ids: set[str]) -> dict[str, bytes]:
        with self._lock:
            return {s: self._keys[s] for s in subject_ids if s in self._keys}

    def destroy(self, subject_id: str) -> bool:
        with self._lock:
            self._destroyed.add(subject_id)
            return self._keys.pop(subject_id, None) is not None
