"""A process that appends through group commit and says which appends were acknowledged.

    python -m tests.support.group_writer DATABASE_URL THREADS

Each thread appends to its own stream, one event at a time at the expected version, and prints
`stream version` for every append once `append` returned, flushed at once. A test kills this
process with SIGKILL and then checks that every printed append is in the log.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime

from events.database import make_engine
from events.group_commit import GroupCommitStore
from events.records import Metadata, NewEvent, StreamAppend
from events.sqlstore import SqlEventStore


def main(url: str, threads: int) -> None:
    store = GroupCommitStore(SqlEventStore(make_engine(url), lambda: datetime.now(UTC)))
    printing = threading.Lock()

    def write(number: int) -> None:
        stream = f"writer-{number}"
        version = 0
        while True:
            event = NewEvent("Tested", {"writer": number, "n": version + 1})
            store.append([StreamAppend(stream, (event,), version)], Metadata())
            version += 1
            with printing:
                sys.stdout.write(f"{stream} {version}\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
