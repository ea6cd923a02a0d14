"""Group commit: one writer thread appends the commands of many threads in one transaction each.

**Why.** An append must hold the chain head until it commits (that is what keeps the global
order gapless, see `events.sqlstore`), so appends commit one after the other, and each commit
waits for its own fsync: about one commit per disk flush is the ceiling of a process that sends
one transaction per command, however many threads it runs. Event stores that go faster let a
single writer collect the appends that arrived while the previous commit was flushing and write
them all in the next transaction: one lock, one fsync, many commands.

**What stays as it was.** Every append is judged on its own, in arrival order, against its own
expected versions (as the appends before it in the group left the streams): a conflict, a key
reused for another request or a value too long fails that caller alone, with the same error as
without grouping, and writes nothing of it. Idempotency keys replay the first result, also
within a group. A caller's `append` returns only after the group's COMMIT, so an acknowledged
append is durable. Positions and the hash chain are assigned under the head lock, in one
transaction, so readers still never find a gap; other processes may append through a plain
`SqlEventStore` at the same time.

**How it is used.** `GroupCommitStore` is an `EventStore`; wrap the process's `SqlEventStore`
in it where many threads send commands at once (the web server: `POP_GROUP_COMMIT=1`). A group
is what queued up while the previous one committed, plus, under concurrency, what keeps
arriving within a fraction of a millisecond (`_linger`); a lone caller pays only a thread
hand-off.

**What it cannot do.** Grouping removes the commit as the bottleneck, not the command path's own
CPU: a process's threads still share one interpreter lock, so the commands one process can
decide, seal and encode bound its throughput (`bench.group_commit` measures the store alone and
the whole command path, in one or several processes, in-process and over HTTP). Several
processes each group their own callers only: a group holds the chain head's lock through its
commit's flush, so the groups of different processes commit one after the other, and more
processes mean smaller groups; what they add is CPU, where there are cores to add.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import structlog

from events.records import AppendRequest, AppendResult, Metadata, StoredEvent, StreamAppend
from events.sqlstore import SqlEventStore

log = structlog.get_logger(__name__)

#: The environment variable that turns group commit on (`1`, `true`, `yes`, `on`).
GROUP_COMMIT_VARIABLE = "POP_GROUP_COMMIT"

#: Most appends written in one transaction; more wait for the next group.
DEFAULT_MAX_GROUP = 256

#: Under concurrency a group waits for more appends while they keep coming, each within
#: `DEFAULT_GAP` seconds of the one before, for `DEFAULT_MAX_LINGER` seconds at most.
DEFAULT_GAP = 0.0003
DEFAULT_MAX_LINGER = 0.002


def group_commit_enabled(env: Mapping[str, str]) -> bool:
    """Whether `POP_GROUP_COMMIT` asks for group commit; anything unknown is refused by name."""
    value = env.get(GROUP_COMMIT_VARIABLE, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{GROUP_COMMIT_VARIABLE}: expected 1 or 0, not {value!r}")


class GroupCommitClosed(RuntimeError):
    """An append reached a `GroupCommitStore` after `close()`: nothing was written."""


class GroupCommitStore:
    """An `EventStore` whose appends from many threads share transactions (see module doc).

    Reads go straight to the wrapped store. The writer thread starts with the first append and
    stops at `close()`, after writing what was queued before it.
    """

    def __init__(
        self,
        store: SqlEventStore,
        *,
        max_group: int = DEFAULT_MAX_GROUP,
        gap: float = DEFAULT_GAP,
        max_linger: float = DEFAULT_MAX_LINGER,
    ) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._store = store
        self._max_group = max_group
        self._gap = gap
        self._max_linger = max_linger
        self._queue: deque[tuple[AppendRequest, Future[AppendResult]]] = deque()
        self._wakeup = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closed = False
        #: Transactions written and appends they carried: what grouping achieved.
        self.groups = 0
        self.grouped = 0

    @property
    def store(self) -> SqlEventStore:
        return self._store

    # -- writing ------------------------------------------------------------------------------

    def append(
        self,
        appends: Sequence[StreamAppend],
        metadata: Metadata,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> AppendResult:
        """Queue the append for the writer and wait until its group is committed."""
        request = AppendRequest(appends, metadata, idempotency_key, request_fingerprint, result)
        done: Future[AppendResult] = Future()
        with self._wakeup:
            if self._closed:
                raise GroupCommitClosed("the event store was closed: nothing was appended")
            self._queue.append((request, done))
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_groups, name="group-commit", daemon=True
                )
                self._writer.start()
            self._wakeup.notify()
        return done.result()

    def close(self) -> None:
        """Write what is queued, then stop the writer. Later appends raise GroupCommitClosed."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
            writer = self._writer
        if writer is not None:
            writer.join()

    def _write_groups(self) -> None:
        previous = 1
        try:
            while True:
                with self._wakeup:
                    while not self._queue and not self._closed:
                        self._wakeup.wait()
                    if not self._queue:
                        return
                    if previous > 1 or len(self._queue) > 1:
                        self._linger()
                    size = min(len(self._queue), self._max_group)
                    group = [self._queue.popleft() for _ in range(size)]
                self._write(group)
                previous = len(group)
        finally:  # stopped, even by an interrupt: nobody may wait for a writer that is gone
            with self._wakeup:
                self._closed = True
                left, self._queue = list(self._queue), deque()
            for _, done in left:
                done.set_exception(GroupCommitClosed("the writer stopped: nothing was appended"))

    def _linger(self) -> None:
        """Under concurrency, let the callers of the last group come back before writing.

        Without it, N busy callers split into two halves that take turns (one half queues while
        the other's group commits), so each commit carries N/2. Waiting while new appends keep
        arriving, each within `gap` of the last, at most `max_linger` in all, lets a commit
        carry all N (as PostgreSQL's `commit_delay` does for WAL flushes). Called holding the
        lock; a lone caller (last group of one, nothing else queued) never waits.
        """
        deadline = time.monotonic() + self._max_linger
        while len(self._queue) < self._max_group and not self._closed:
            waiting = len(self._queue)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wakeup.wait(min(self._gap, left))
            if len(self._queue) == waiting:
                return  # nobody came within the gap

    def _write(self, group: list[tuple[AppendRequest, Future[AppendResult]]]) -> None:
        try:
            outcomes = self._store.append_group([request for request, _ in group])
        except BaseException as failure:  # never let the writer die: every caller hears of it
            log.exception("group_commit.failed", appends=len(group))
            for _, done in group:
                done.set_exception(failure)
            if not isinstance(failure, Exception):
                raise
            return
        self.groups += 1
        self.grouped += len(group)
        for (_, done), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

    # -- reading ------------------------------------------------------------------------------

    def lookup(
        self, idempotency_key: str, request_fingerprint: str | None = None
    ) -> AppendResult | None:
        return self._store.lookup(idempotency_key, request_fingerprint)

    def read_stream(self, stream_id: str) -> list[StoredEvent]:
        return self._store.read_stream(stream_id)

    def stream_version(self, stream_id: str) -> int:
        return self._store.stream_version(stream_id)

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        return self._store.read_all(after_position, batch_size=batch_size)

    def head(self) -> tuple[int, str]:
        return self._store.head()
