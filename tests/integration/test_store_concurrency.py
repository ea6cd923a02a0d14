"""Real concurrent writers and readers on SQLite and PostgreSQL.

Nothing lost, nothing doubled, no silent overwrite, and the gap problem: a reader that polls the
log from its checkpoint (as a projection does) never steps over an event that commits later.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, insert, text

from events.errors import ConcurrencyConflict
from events.records import AppendResult, Metadata, NewEvent, StreamAppend
from events.schema import events_table
from events.sqlstore import SqlEventStore
from tests.support.chain import assert_chain, assert_streams_contiguous
from tests.support.clock import FakeClock
from tests.support.polling import polling

WRITERS = 4
ACTOR = Metadata(actor_id="load-test", actor_role="system")


def append_one(
    store: SqlEventStore, stream: str, expected: int | None, **data: Any
) -> AppendResult:
    return store.append([StreamAppend(stream, (NewEvent("Tested", data),), expected)], ACTOR)


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(0..count-1)` on as many threads at once; re-raise the first failure."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(work, range(count)))


def test_writers_on_their_own_streams_lose_nothing(sql_store: SqlEventStore) -> None:
    rounds = 25

    def writer(number: int) -> int:
        versions = {f"w{number}-{k}": 0 for k in range(3)}
        written = 0
        for i in range(rounds):
            streams = [f"w{number}-{i % 3}"] + ([f"w{number}-{(i + 1) % 3}"] if i % 5 == 0 else [])
            appends = []
            for stream in streams:
                events = tuple(
                    NewEvent("Tested", {"writer": number, "i": i, "j": j}) for j in range(1 + i % 2)
                )
                appends.append(StreamAppend(stream, events, versions[stream]))
            outcome = sql_store.append(appends, ACTOR)
            for item in appends:
                versions[item.stream_id] += len(item.events)
            assert outcome.versions == {stream: versions[stream] for stream in streams}
            assert outcome.last_position - outcome.first_position + 1 == sum(
                len(item.events) for item in appends
            )
            written += outcome.last_position - outcome.first_position + 1
        return written

    written = sum(run_together(WRITERS, writer))

    log = list(sql_store.read_all(batch_size=17))
    assert len(log) == written
    assert_chain(log, sql_store)  # positions 1..N, no gap, no duplicate; chain intact
    assert_streams_contiguous(log)
    seen = Counter((e.data["writer"], e.data["i"], e.data["j"], e.stream_id) for e in log)
    assert max(seen.values()) == 1, "an event was written twice"


def test_writers_racing_for_one_stream_conflict_instead_of_overwriting(
    sql_store: SqlEventStore,
) -> None:
    """Every round all writers read the same version and append at it: exactly one wins."""
    rounds = 6
    barrier = threading.Barrier(WRITERS)

    def writer(number: int) -> list[tuple[int, str, int | None, int]]:
        outcomes: list[tuple[int, str, int | None, int]] = []
        for round_ in range(rounds):
            barrier.wait()
            version = sql_store.stream_version("shared")
            barrier.wait()  # everybody has read before anybody writes
            try:
                append_one(sql_store, "shared", version, writer=number, round=round_)
                outcomes.append((round_, "won", version, version + 1))
            except ConcurrencyConflict as conflict:
                outcomes.append((round_, "lost", conflict.expected, conflict.actual))
        return outcomes

    outcomes = [item for per_writer in run_together(WRITERS, writer) for item in per_writer]

    for round_ in range(rounds):
        results = [(kind, seen, now) for r, kind, seen, now in outcomes if r == round_]
        assert sorted(kind for kind, _, _ in results) == ["lost"] * (WRITERS - 1) + ["won"]
        assert {(seen, now) for _, seen, now in results} == {(round_, round_ + 1)}
    stream = sql_store.read_stream("shared")
    assert [e.version for e in stream] == list(range(1, rounds + 1))
    assert [e.data["round"] for e in stream] == list(range(rounds))
    assert_chain(list(sql_store.read_all()), sql_store)


def test_retrying_writers_on_one_stream_land_every_event_once(sql_store: SqlEventStore) -> None:
    per_writer = 12

    def writer(number: int) -> int:
        conflicts = 0
        for i in range(per_writer):
            while True:
                version = sql_store.stream_version("shared")
                try:
                    append_one(sql_store, "shared", version, writer=number, i=i)
                    break
                except ConcurrencyConflict:
                    conflicts += 1
            # A writer that does not care about the version ("any") must never conflict.
            append_one(sql_store, "any-version", None, writer=number, i=i)
        return conflicts

    run_together(WRITERS, writer)

    shared = sql_store.read_stream("shared")
    assert len(shared) == WRITERS * per_writer
    assert Counter((e.data["writer"], e.data["i"]) for e in shared) == Counter(
        (w, i) for w in range(WRITERS) for i in range(per_writer)
    )
    for number in range(WRITERS):  # each writer's own events keep their order
        mine = [e.data["i"] for e in shared if e.data["writer"] == number]
        assert mine == list(range(per_writer))
    log = list(sql_store.read_all(batch_size=50))
    assert_chain(log, sql_store)
    assert assert_streams_contiguous(log) == {
        "shared": WRITERS * per_writer,
        "any-version": WRITERS * per_writer,
    }


def test_concurrent_requests_with_one_idempotency_key_write_once(
    sql_store: SqlEventStore,
) -> None:
    barrier = threading.Barrier(WRITERS)

    def request(number: int) -> tuple[AppendResult, AppendResult]:
        barrier.wait()
        with_events = sql_store.append(
            [StreamAppend("cycle", (NewEvent("Started", {"by": number}),), None)],
            ACTOR,
            idempotency_key="start-cycle",
            request_fingerprint="same request",
            result={"first": number},
        )
        barrier.wait()
        without_events = sql_store.append(
            [], ACTOR, idempotency_key="nothing", result={"first": number}
        )
        return with_events, without_events

    results = run_together(WRITERS, request)

    assert len(sql_store.read_stream("cycle")) == 1
    for index in (0, 1):
        outcomes = [pair[index] for pair in results]
        assert sorted(o.replayed for o in outcomes) == [False] + [True] * (WRITERS - 1)
        assert len({(o.first_position, o.last_position, str(o.result)) for o in outcomes}) == 1


# -- the gap problem ----------------------------------------------------------------------------


def holding_store(
    sql_store: SqlEventStore, clock: FakeClock
) -> tuple[SqlEventStore, threading.Event, threading.Event]:
    """A store on `sql_store`'s engine whose append holds its transaction open once written.

    Returns it with two events: `written` is set when an append has written (and holds the
    chain head); the append commits only once the test sets `release`.
    """
    written, release = threading.Event(), threading.Event()

    def hold_open(_: AppendResult) -> None:
        written.set()
        assert release.wait(10), "the test never released the held writer"

    slow = SqlEventStore(sql_store.engine, clock)
    slow._before_commit = hold_open
    return slow, written, release


def test_a_reader_never_steps_over_a_writer_that_commits_late(
    sql_store: SqlEventStore, clock: FakeClock
) -> None:
    """Writer A takes position 2 and stays open; writer B comes next; the reader polls.

    B must wait for A (appends are serialised on the chain head), so the reader cannot see
    position 3 before 2. A store that took positions from a sequence would let B commit 3 while
    A still holds 2, and the reader would skip 2 for good: the control test below shows this
    reader catching exactly that.
    """
    append_one(sql_store, "warm-up", 0)
    slow, a_has_written, release_a = holding_store(sql_store, clock)
    with polling(sql_store) as reader, ThreadPoolExecutor(max_workers=2) as pool:
        writer_a = pool.submit(append_one, slow, "a", 0, writer="A")
        assert a_has_written.wait(10)
        # B appends to A's stream without expecting a version: it must land after A's event,
        # which also proves B read the stream only once A had committed.
        writer_b = pool.submit(
            sql_store.append,
            [StreamAppend("a", (NewEvent("Tested", {"writer": "B"}),), None)],
            ACTOR,
        )
        time.sleep(0.3)
        b_waited_for_a = not writer_b.done()
        seen_while_a_open = list(reader.seen)
        release_a.set()
        first, second = writer_a.result(10), writer_b.result(10)
        assert reader.wait_for(3, timeout=10)
        seen = reader.finish()

    assert b_waited_for_a, "B committed while A was still open: appends are not serialised"
    assert seen_while_a_open == [1]
    assert (first.first_position, second.first_position) == (2, 3)
    assert seen == [1, 2, 3]
    assert [(e.data.get("writer"), e.version) for e in sql_store.read_stream("a")] == [
        ("A", 1),
        ("B", 2),
    ]
    assert_chain(list(sql_store.read_all()), sql_store)


def while_held_open(
    sql_store: SqlEventStore, clock: FakeClock, first: Callable[[SqlEventStore], Any]
) -> Callable[[Callable[[], Any]], tuple[Any, Any]]:
    """Run `first` on a store that holds its append open, then `second` until `first` commits.

    The second append starts while the first holds the chain head, so it waits for it; on
    PostgreSQL its statement's snapshot then predates the first's commit.
    """

    def run(second: Callable[[], Any]) -> tuple[Any, Any]:
        slow, written, release = holding_store(sql_store, clock)
        with ThreadPoolExecutor(max_workers=2) as pool:
            held = pool.submit(first, slow)
            assert written.wait(10)
            waiting = pool.submit(second)
            time.sleep(0.2)
            assert not waiting.done(), "the second append did not wait for the first"
            release.set()
            return held.result(10), waiting.exception(10) or waiting.result(10)

    return run


def test_a_writer_that_waited_for_a_commit_to_its_stream_conflicts(
    sql_store: SqlEventStore, clock: FakeClock
) -> None:
    """Both expect a new stream; the one that waited must see the other's event and refuse."""
    run = while_held_open(sql_store, clock, lambda slow: append_one(slow, "s", 0, writer="A"))

    first, second = run(lambda: append_one(sql_store, "s", 0, writer="B"))

    assert first.versions == {"s": 1}
    assert isinstance(second, ConcurrencyConflict)
    assert (second.stream_id, second.expected, second.actual) == ("s", 0, 1)
    assert [e.data["writer"] for e in sql_store.read_all()] == ["A"]
    assert_chain(list(sql_store.read_all()), sql_store)


def test_a_writer_that_waited_for_its_own_key_replays_the_first_result(
    sql_store: SqlEventStore, clock: FakeClock
) -> None:
    def request(store: SqlEventStore, writer: str) -> AppendResult:
        return store.append(
            [StreamAppend(f"by-{writer}", (NewEvent("Tested", {"writer": writer}),), 0)],
            ACTOR,
            idempotency_key="once",
            request_fingerprint="same request",
            result={"writer": writer},
        )

    run = while_held_open(sql_store, clock, lambda slow: request(slow, "A"))

    first, second = run(lambda: request(sql_store, "B"))

    assert (first.replayed, second.replayed) == (False, True)
    assert second.result == {"writer": "A"}
    assert (second.first_position, second.last_position) == (1, 1)
    assert [e.stream_id for e in sql_store.read_all()] == ["by-A"]
    assert_chain(list(sql_store.read_all()), sql_store)


@pytest.mark.postgres
def test_control_a_plain_sequence_makes_the_same_reader_skip(
    empty_postgres_engine: Engine, clock: FakeClock
) -> None:
    """Without the head lock the reader above does skip: so it can tell a broken store.

    Two raw transactions take positions from a sequence, the way a naive store would; the
    lower one commits last. The reader, polling through the real `read_all`, steps over it.
    """
    postgres_engine = empty_postgres_engine
    store = SqlEventStore(postgres_engine, clock)
    append_one(store, "warm-up", 0)
    row: dict[str, Any] = {
        "stream_id": "naive",
        "type": "Tested",
        "schema_version": 1,
        "data": {},
        "metadata": ACTOR.to_json(),
        "recorded_at": datetime.now(UTC),
        "hash": "0" * 64,
        "idempotency_key": None,
    }
    naive_insert = insert(events_table).values(
        position=text("nextval('naive_positions')"), version=bindparam("version")
    )
    with postgres_engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE naive_positions START 2"))
    try:
        with polling(store) as reader:
            with postgres_engine.connect() as writer_a, postgres_engine.connect() as writer_b:
                writer_a.execute(naive_insert, {**row, "version": 1})  # takes 2, stays open
                writer_b.execute(naive_insert, {**row, "version": 2})  # takes 3
                writer_b.commit()
                assert reader.wait_for(3, timeout=10)
                writer_a.commit()
            time.sleep(0.05)
            seen = reader.finish()
    finally:
        with postgres_engine.begin() as connection:
            connection.execute(text("DROP SEQUENCE naive_positions"))

    committed = [e.position for e in store.read_all()]
    assert committed == [1, 2, 3]
    assert seen == [1, 3], "the reader stepped over position 2, which committed after 3"
