"""A reader that polls the log as a projection does, to catch the gap problem in the act."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from events.store import EventStore


class PollingReader(threading.Thread):
    """Reads the log as a projection does: from its checkpoint, in small batches, again and again.

    It records every position it sees. If a lower position commits after the reader has moved
    past it, the reader never sees it: that is the gap problem, visible as a hole in `seen`.
    """

    def __init__(self, store: EventStore) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.seen: list[int] = []
        self.checkpoint = 0
        self.failure: BaseException | None = None
        self._stop_polling = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_polling.is_set():
                self.poll()
                time.sleep(0.002)
            self.poll()
        except BaseException as failure:  # handed to the test thread by finish()
            self.failure = failure

    def poll(self) -> None:
        for stored in self.store.read_all(self.checkpoint, batch_size=2):
            self.seen.append(stored.position)
            self.checkpoint = stored.position

    def wait_for(self, position: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.checkpoint < position and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.checkpoint >= position

    def finish(self) -> list[int]:
        self._stop_polling.set()
        self.join(10)
        if self.failure is not None:
            raise self.failure
        return self.seen


@contextmanager
def polling(store: EventStore) -> Iterator[PollingReader]:
    reader = PollingReader(store)
    reader.start()
    try:
        yield reader
    finally:
        reader._stop_polling.set()
        reader.join(10)
