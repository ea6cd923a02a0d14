"""A process that appends through group commit and says which appends were acknowledged.

    python -m tests.support.group_writer DATABASE_URL THREADS [PREFIX [APPENDS]]

Each thread appends to its own stream (`PREFIX-N`, `writer-N` by default), one event at a time
at the expected version, and prints `stream version` for every append once `append` returned,
flushed at once. Without APPENDS it runs until killed: a test kills it with SIGKILL and then
checks that every printed append is in the log. With APPENDS each thread stops after that many
and the process exits once its writer has stopped: several of them side by side are several
web processes, each with its own group writer, sharing one database. Such a process first
prints `ready` and waits for a line on stdin, so that a test can start them all at once.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime

from events.database import make_engine
from events.group_commit import GroupCommitStore
from events.records import Metadata, NewEvent, StreamAppend
from events.sqlstore import SqlEventStore


def main(url: str, threads: int, prefix: str = "writer", appends: int | None = None) -> None:
    engine = make_engine(url, pool_size=threads + 2)
    store = GroupCommitStore(SqlEventStore(engine, lambda: datetime.now(UTC)))
    printing = threading.Lock()

    def write(number: int) -> None:
        stream = f"{prefix}-{number}"
        version = 0
        while appends is None or version < appends:
            event = NewEvent("Tested", {"writer": number, "n": version + 1})
            store.append([StreamAppend(stream, (event,), version)], Metadata())
            version += 1
            with printing:
                sys.stdout.write(f"{stream} {version}\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(threads)]
    if appends is not None:
        print("ready", flush=True)
        sys.stdin.readline()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    store.close()
    engine.dispose()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(
        arguments[0],
        int(arguments[1]),
        arguments[2] if len(arguments) > 2 else "writer",
        int(arguments[3]) if len(arguments) > 3 else None,
    )
