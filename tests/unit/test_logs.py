"""The structured log stays one JSON object per line when many threads log at once."""

from __future__ import annotations

import json
import sys
import threading

import pytest
import structlog

from handlers.logs import configure_logging

THREADS = 8
LINES = 300


class PipeLike:
    """A stream written in Python, as dramatiq hands its worker processes' stderr to the main
    process: a thread may be switched out between any two of its writes."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        """Nothing buffered here."""


def test_concurrent_threads_never_run_their_lines_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a worker's threads logging at once into one stream
    stream = PipeLike()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")
    log = structlog.get_logger("test")
    start = threading.Barrier(THREADS)

    def busy(thread: int) -> None:
        start.wait()
        for line in range(LINES):
            log.info("projection.caught_up", thread=thread, line=line)

    workers = [threading.Thread(target=busy, args=(index,)) for index in range(THREADS)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as Python can: a race shows at once
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    # Then every line is one whole JSON object, and none is missing
    entries = [json.loads(line) for line in "".join(stream.parts).splitlines()]
    assert len(entries) == THREADS * LINES
    assert {(entry["thread"], entry["line"]) for entry in entries} == {
        (thread, line) for thread in range(THREADS) for line in range(LINES)
    }
