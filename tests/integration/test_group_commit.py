"""Group commit (`events.group_commit`) on SQLite and PostgreSQL, with real threads and processes.

The guarantees of the plain store must survive grouping: each append judged on its own (a
conflict fails only its command), idempotency keys, a gapless order for readers, an intact
chain, and no acknowledgement before the group's commit (checked by killing a writing process).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, update

from events.database import make_engine, write_transaction
from events.errors import ConcurrencyConflict, IdempotencyKeyReused
from events.group_commit import GroupCommitClosed, GroupCommitStore, group_commit_enabled
from events.migrate import upgrade
from events.records import AppendRequest, AppendResult, Metadata, NewEvent, StreamAppend
from events.schema import STREAM_ID_LENGTH, streams_table
from events.sqlstore import SqlEventStore
from events.verify import verify_chain
from handlers.actor import Actor, Role
from handlers.bootstrap import bootstrap
from handlers.settings import Settings, SettingsError
from tests.support.chain import assert_chain, assert_streams_contiguous
from tests.support.clock import FakeClock
from tests.support.polling import polling
from workflow.employee import RegisterEmployee

CLIENTS = 16
# What trips up JSON round trips: non-ASCII and control characters, quotes, a float, an
# integer beyond 2**53, null, nesting.
RICH: dict[str, Any] = {
    "title": 'Leren "presenteren" — één keer\tper maand',
    "budget_eur": 1250.75,
    "big": 2**53 + 1,
    "coach": None,
    "goals": [{"term": "short", "hours": [1, 2, 3]}, {}],
}
ACTOR = Metadata(actor_id="group-test", actor_role="system")
ROOT = Path(__file__).resolve().parents[2]


def one(stream: str, expected: int | None, **data: Any) -> list[StreamAppend]:
    return [StreamAppend(stream, (NewEvent("Tested", data or {"n": 1}),), expected)]


def request(
    stream: str, expected: int | None, key: str | None = None, **data: Any
) -> AppendRequest:
    return AppendRequest(one(stream, expected, **data), ACTOR, key, key and "print", {"s": stream})


@pytest.fixture
def grouped(sql_store: SqlEventStore) -> Any:
    store = GroupCommitStore(sql_store)
    yield store
    store.close()


def test_concurrent_clients_share_transactions_and_lose_nothing(
    grouped: GroupCommitStore, sql_store: SqlEventStore
) -> None:
    per_client = 20

    def client(number: int) -> list[AppendResult]:
        stream, outcomes = f"client-{number}", []
        for i in range(per_client):
            outcomes.append(grouped.append(one(stream, i, client=number, i=i), ACTOR))
        return outcomes

    with polling(sql_store) as reader, ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = [o for outcomes in pool.map(client, range(CLIENTS)) for o in outcomes]
        total = CLIENTS * per_client
        assert reader.wait_for(total, timeout=20)
        seen = reader.finish()

    assert seen == list(range(1, total + 1)), "a reader stepped over a position"
    assert sorted(o.first_position for o in results) == list(range(1, total + 1))
    log = list(sql_store.read_all())
    assert_chain(log, sql_store)
    assert assert_streams_contiguous(log) == {f"client-{n}": per_client for n in range(CLIENTS)}
    assert verify_chain(log, sql_store.head()).ok
    assert grouped.grouped == total
    assert grouped.groups < total, "no transaction carried more than one append"


def test_a_conflict_fails_only_its_own_request(sql_store: SqlEventStore) -> None:
    sql_store.append(one("a", 0), ACTOR)
    sql_store.append(one("logged-key", 0), ACTOR, idempotency_key="old", result={"s": "old"})

    outcomes = sql_store.append_group(
        [
            request("a", 1, n="a2"),  # fine
            request("a", 1, n="stale"),  # a2 took version 2 in this very group
            request("b", None, key="k", n="b1"),  # fine, remembers k
            request("c", 0, key="k"),  # k again in the same group: replays b1's result
            AppendRequest(one("d", 0), ACTOR, "k", "another print"),  # k for another request
            request("x" * (STREAM_ID_LENGTH + 1), 0),  # too long for the column
            request("e", 0, key="old"),  # applied before the group: replays
            request("a", 2, n="a3"),  # fine, after a2
        ]
    )

    a2, stale, b1, again, reused, too_long, old, a3 = outcomes
    assert isinstance(a2, AppendResult)
    assert a2.versions == {"a": 2}
    assert isinstance(stale, ConcurrencyConflict)
    assert (stale.expected, stale.actual) == (1, 2)
    assert isinstance(b1, AppendResult)
    assert not b1.replayed
    assert again == AppendResult(b1.versions, b1.first_position, b1.last_position, True, {"s": "b"})
    assert isinstance(reused, IdempotencyKeyReused)
    assert isinstance(too_long, ValueError)
    assert isinstance(old, AppendResult)
    assert old.replayed
    assert old.result == {"s": "old"}
    assert isinstance(a3, AppendResult)
    assert a3.versions == {"a": 3}
    log = list(sql_store.read_all())
    assert [(e.stream_id, e.data.get("n")) for e in log[2:]] == [
        ("a", "a2"),
        ("b", "b1"),
        ("a", "a3"),
    ]
    assert_chain(log, sql_store)
    assert sql_store.lookup("k", "print") == AppendResult({"b": 1}, 4, 4, True, {"s": "b"})


@pytest.mark.postgres
def test_a_postgres_group_is_one_autocommit_statement(
    empty_postgres_engine: Engine, clock: FakeClock
) -> None:
    store = SqlEventStore(empty_postgres_engine, clock)
    store.append(one("a", 0), ACTOR)
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(empty_postgres_engine, "before_cursor_execute", record)
    try:
        outcomes = store.append_group(
            [
                request("a", 1, key="k1"),
                request("b", 0, **RICH),
                request("a", 2),
                request("c", 0, "k1"),
            ]
        )
    finally:
        event.remove(empty_postgres_engine, "before_cursor_execute", record)

    assert len(sent) == 1
    assert outcomes == [
        AppendResult({"a": 2}, 2, 2, False, {"s": "a"}),
        AppendResult({"b": 1}, 3, 3, False, {"s": "b"}),
        AppendResult({"a": 3}, 4, 4, False, {"s": "a"}),
        AppendResult({"a": 2}, 2, 2, True, {"s": "a"}),
    ]
    assert store.lookup("k1", "print") == AppendResult({"a": 2}, 2, 2, True, {"s": "a"})
    assert store.read_stream("b")[0].data == RICH
    assert_chain(list(store.read_all()), store)


def test_a_stale_first_expectation_fails_only_its_request(sql_store: SqlEventStore) -> None:
    """On PostgreSQL the group is planned on the versions its requests expect: here wrongly."""
    sql_store.append(one("a", 0), ACTOR)

    stale, fine, after = sql_store.append_group(
        [request("a", 0), request("b", 0), request("a", 1, n="a2")]
    )

    assert isinstance(stale, ConcurrencyConflict)
    assert (stale.expected, stale.actual) == (0, 1)
    assert fine == AppendResult({"b": 1}, 2, 2, False, {"s": "b"})
    assert after == AppendResult({"a": 2}, 3, 3, False, {"s": "a"})
    assert_chain(list(sql_store.read_all()), sql_store)


def test_racing_clients_on_one_stream_each_round_one_wins(grouped: GroupCommitStore) -> None:
    rounds = 5
    barrier = threading.Barrier(CLIENTS)

    def client(number: int) -> list[str]:
        kinds = []
        for round_ in range(rounds):
            barrier.wait()
            version = grouped.stream_version("shared")
            barrier.wait()
            try:
                grouped.append(one("shared", version, client=number, round=round_), ACTOR)
                kinds.append("won")
            except ConcurrencyConflict:
                kinds.append("lost")
        return kinds

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        per_client = list(pool.map(client, range(CLIENTS)))

    for round_ in range(rounds):
        assert Counter(kinds[round_] for kinds in per_client) == {"won": 1, "lost": CLIENTS - 1}
    assert [e.data["round"] for e in grouped.read_stream("shared")] == list(range(rounds))
    assert_chain(list(grouped.read_all()), grouped)


def test_when_the_group_fails_as_a_whole_each_append_runs_alone(sql_store: SqlEventStore) -> None:
    sql_store.append([StreamAppend("lagging", (NewEvent("T", {}), NewEvent("T", {})), 0)], ACTOR)
    # The streams row lags behind the log: the group's insert hits UNIQUE(stream_id, version).
    with write_transaction(sql_store.engine) as connection:
        connection.execute(update(streams_table).values(version=1))

    outcomes = sql_store.append_group(
        [request("fine-1", 0), request("lagging", 1), request("fine-2", 0)]
    )

    assert isinstance(outcomes[1], ConcurrencyConflict)
    assert [type(o) for o in (outcomes[0], outcomes[2])] == [AppendResult, AppendResult]
    log = list(sql_store.read_all())
    assert [e.stream_id for e in log] == ["lagging", "lagging", "fine-1", "fine-2"]
    assert_chain(log, sql_store)


def test_close_writes_what_was_queued_and_refuses_what_comes_after(
    sql_store: SqlEventStore,
) -> None:
    store = GroupCommitStore(sql_store, max_group=2)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: store.append(one(f"s{n}", 0), ACTOR), range(8)))
    store.close()

    assert sorted(r.first_position for r in results) == list(range(1, 9))
    assert store.groups >= 4  # at most two appends per transaction
    with pytest.raises(GroupCommitClosed):
        store.append(one("late", 0), ACTOR)
    assert sql_store.head()[0] == 8


def writer_process(url: str, threads: int, *args: str) -> subprocess.Popen[str]:
    """`tests.support.group_writer` in a process of its own: its own group-commit writer."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.group_writer", url, str(threads), *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_every_acknowledged_append_survives_a_kill_9(sql_store: SqlEventStore) -> None:
    """A writing process is killed mid-flight: whatever it acknowledged is in the log."""
    url = sql_store.engine.url.render_as_string(hide_password=False)
    acknowledged: list[str] = []
    with writer_process(url, CLIENTS) as writer:
        assert writer.stdout is not None
        deadline = time.monotonic() + 60
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            acknowledged.append(line)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
        acknowledged += writer.stdout.readlines()  # printed before the kill, still in the pipe
    assert len(acknowledged) >= 300, "the writer did not get going"

    engine = make_engine(url)  # a new engine: nothing cached from the writer's side
    try:
        store = SqlEventStore(engine, FakeClock())
        log = list(store.read_all())
        logged = {(e.stream_id, e.version) for e in log}
        for line in acknowledged:
            stream, version = line.split()
            assert (stream, int(version)) in logged, f"acknowledged {line!r} is not in the log"
        assert_chain(log, store)
        assert verify_chain(log, store.head()).ok
    finally:
        engine.dispose()


def test_several_processes_each_grouping_keep_one_gapless_order(
    sql_store: SqlEventStore,
) -> None:
    """Web processes side by side, each with its own group writer, on one database: a reader
    never steps over a position, every acknowledged append is in the log, the chain holds."""
    url = sql_store.engine.url.render_as_string(hide_password=False)
    processes, threads, appends = 3, 4, 25
    with polling(sql_store) as reader:
        writers = [
            writer_process(url, threads, f"process-{n}", str(appends)) for n in range(processes)
        ]
        for writer in writers:  # all set up before any of them appends
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        outputs = [writer.communicate(timeout=120)[0] for writer in writers]
        total = processes * threads * appends
        assert reader.wait_for(total, timeout=20)
        seen = reader.finish()

    assert [writer.returncode for writer in writers] == [0] * processes
    acknowledged = [line.split() for output in outputs for line in output.splitlines()]
    assert len(acknowledged) == total
    log = list(sql_store.read_all())
    assert seen == [e.position for e in log] == list(range(1, total + 1)), "a gap in the order"
    assert {(stream, int(version)) for stream, version in acknowledged} == {
        (e.stream_id, e.version) for e in log
    }
    assert assert_streams_contiguous(log) == {
        f"process-{p}-{t}": appends for p in range(processes) for t in range(threads)
    }
    assert_chain(log, sql_store)
    assert verify_chain(log, sql_store.head()).ok
    # The processes' groups interleave in the log: they really ran side by side.
    owners = [e.stream_id.split("-")[1] for e in log]
    assert sum(a != b for a, b in itertools.pairwise(owners)) > processes


def test_pop_group_commit_wires_the_store_and_close_stops_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pop.sqlite3'}"
    upgrade(url)
    app = bootstrap(Settings.from_env({"POP_DATABASE_URL": url, "POP_GROUP_COMMIT": "1"}))
    try:
        assert isinstance(app.store, GroupCommitStore)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(
                pool.map(
                    lambda n: app.commands.register_employee(
                        Actor("hr-1", Role.HR), RegisterEmployee(f"E{n}", f"Name {n}", "e@x.nl")
                    ),
                    range(8),
                )
            )
        assert [e.stream_id for e in app.store.read_all()].count("employee-E3") == 1
    finally:
        app.close()
    with pytest.raises(GroupCommitClosed):
        app.store.append(one("late", 0), ACTOR)
    plain = bootstrap(Settings.from_env({"POP_DATABASE_URL": url}))
    assert isinstance(plain.store, SqlEventStore)
    plain.close()


def test_a_wrong_pop_group_commit_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="POP_GROUP_COMMIT"):
        Settings.from_env({"POP_GROUP_COMMIT": "sometimes"})


@pytest.mark.parametrize(
    ("value", "enabled"), [("", False), ("0", False), ("off", False), ("1", True), ("yes", True)]
)
def test_the_setting(value: str, enabled: bool) -> None:
    assert group_commit_enabled({"POP_GROUP_COMMIT": value}) is enabled
    assert group_commit_enabled({}) is False


def test_a_wrong_setting_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="POP_GROUP_COMMIT"):
        group_commit_enabled({"POP_GROUP_COMMIT": "sometimes"})
