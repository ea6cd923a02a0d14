"""Production mode: a real redis-server and real worker processes (`pop worker`, `dramatiq`).

- A worker killed with SIGKILL in the middle of a catch-up loses nothing: after a restart the
  read models equal a rebuild from scratch (the killed batch rolled back; the new worker's
  sweep redoes it at once, without waiting for Redis to redeliver the lost message).
- Two workers on one projection at once double nothing: every event is applied exactly once
  in all (their own logs say how many each applied) and the result equals a rebuild.
- A crash between append and nudge (no nudge at all, or a nudge whose message got lost while
  the coalescing gate stays shut) is caught up by the sweep within its interval.
- A command run in another process nudges the workers through Redis after its commit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from sqlalchemy import func, select

from bench.projections import synthesize_log
from events.database import make_engine
from events.migrate import upgrade
from events.schema import events_table
from handlers.bootstrap import Popcycle, bootstrap
from handlers.commands import CommandHandler
from handlers.projections.checkpoints import read_checkpoints
from handlers.projections.nudge import RedisGate
from handlers.projections.rebuild import Build, read_build
from handlers.projections.registry import PROJECTIONS
from handlers.projections.service import ProjectionService
from handlers.projections.snapshot import snapshot
from handlers.settings import Settings
from tests.integration.test_projection_models import HR, register, wipe
from tests.support.clock import FakeClock
from tests.support.workers import DRAMATIQ, POP_WORKER, ROOT, Processes, wait_until, worker_env
from workflow.employee import RegisterEmployee

T = TypeVar("T")

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'pop.sqlite3'}"
        upgrade(url)
        return url
    url = str(request.getfixturevalue("postgres_url"))
    upgrade(url)
    engine = make_engine(url)
    try:
        wipe(engine)
    finally:
        engine.dispose()
    return url


def wire(database: str, broker: str | None) -> Popcycle:
    env = {"POP_DATABASE_URL": database} | ({"POP_BROKER_URL": broker} if broker else {})
    return bootstrap(Settings.from_env(env), FakeClock())


def caught_up(app: Popcycle) -> bool:
    return all(lag.caught_up for lag in ProjectionService.from_app(app).lag())


def positions(app: Popcycle) -> dict[str, int]:
    with app.engine.connect() as connection:
        return read_checkpoints(connection)


def settled(read: Callable[[], T]) -> T:
    """What `read` returns once a killed worker's last COMMIT, already sent, has landed or not.

    SIGKILL stops the client, not its PostgreSQL backend: a COMMIT on the wire still commits
    a moment later (the batch is then whole, which is fine). Read until two reads agree.
    """
    seen = read()
    for _ in range(20):
        time.sleep(0.2)
        now = read()
        if now == seen:
            return now
        seen = now
    raise AssertionError(f"still moving after the kill: {seen}")


def assert_equals_a_rebuild(app: Popcycle) -> None:
    live = snapshot(app.engine, PROJECTIONS)
    ProjectionService.from_app(app).rebuild()
    assert snapshot(app.engine, PROJECTIONS) == live


@pytest.mark.parametrize("database", KINDS, indirect=True)
def test_a_worker_killed_mid_catch_up_loses_nothing(
    database: str, flushed_redis: str, processes: Processes
) -> None:
    app = wire(database, None)
    try:
        # Given a log long enough that a catch-up in small batches takes a few seconds
        synthesize_log(app, 500)
        head = app.store.head()[0]
        env = worker_env(database, flushed_redis, POP_PROJECTION_BATCH="20")
        first = processes.start(POP_WORKER, env)
        # When the worker is killed with SIGKILL half-way through
        wait_until(lambda: 0 < positions(app)["cycles"] < head * 0.6, 60, "catch-up under way")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        stopped_at = settled(lambda: positions(app))
        assert stopped_at["cycles"] < head, "killed too late to prove anything"
        time.sleep(0.5)
        assert positions(app) == stopped_at  # nobody else is working
        # Then a new worker finishes the job (its sweep, not Redis' redelivery, starts it)
        processes.start(POP_WORKER, {**env, "POP_PROJECTION_BATCH": "500"})
        wait_until(lambda: caught_up(app), 60, "caught up after the restart")
        assert_equals_a_rebuild(app)
    finally:
        app.close()


def build_of(app: Popcycle, name: str) -> Build | None:
    with app.engine.connect() as connection:
        return read_build(connection, name)


def filled_share(app: Popcycle, name: str) -> float:
    build = build_of(app, name)
    return 0.0 if build is None else build.applied / max(build.total, 1)


@pytest.mark.parametrize("database", KINDS, indirect=True)
def test_a_worker_killed_mid_build_aside_resumes_it_and_loses_nothing(
    database: str, flushed_redis: str, processes: Processes
) -> None:
    app = wire(database, None)
    try:
        # Given projections far enough behind to be built aside, in small steps
        synthesize_log(app, 500)
        env = worker_env(
            database, flushed_redis, POP_PROJECTION_BATCH="20", POP_PROJECTION_ASIDE="1"
        )
        first = processes.start(POP_WORKER, env)
        # When the worker is killed with SIGKILL half-way through the build of `cycles`
        wait_until(lambda: 0 < filled_share(app, "cycles") < 0.6, 60, "build under way")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        stopped = settled(lambda: build_of(app, "cycles"))
        assert stopped is not None, "killed too late to prove anything"
        assert stopped.applied < stopped.total
        assert positions(app).get("cycles", 0) == 0  # nothing swapped in: live tables untouched
        # Then a new worker resumes the build where its row says, swaps it in, and is caught up
        second = processes.start(POP_WORKER, {**env, "POP_PROJECTION_BATCH": "500"})
        wait_until(lambda: caught_up(app), 60, "caught up after the restart")
        assert build_of(app, "cycles") is None
        resumed = applied_per_projection(processes.log_of(second)).get("cycles", 0)
        assert resumed == stopped.total - stopped.applied  # each event filled once in all
        assert_equals_a_rebuild(app)
    finally:
        app.close()


def applied_per_projection(log: str) -> dict[str, int]:
    """What a worker's JSON log says it applied, per projection."""
    totals: dict[str, int] = {}
    for line in log.splitlines():
        try:
            entry: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") in ("projection.caught_up", "projection.catching_up"):
            name = str(entry["projection"])
            totals[name] = totals.get(name, 0) + int(entry["applied"])
    return totals


@pytest.mark.parametrize("database", KINDS, indirect=True)
def test_two_workers_on_one_projection_double_nothing(
    database: str, flushed_redis: str, processes: Processes
) -> None:
    app = wire(database, flushed_redis)  # its commands nudge through Redis
    try:
        env = worker_env(database, flushed_redis, POP_PROJECTION_BATCH="15")
        one = processes.start(POP_WORKER, env)
        other = processes.start(DRAMATIQ, env)
        # When commands keep coming while both workers compete for the same projections
        register(app, "M1")
        for index in range(60):
            register(app, f"E{index}", "M1")
        synthesize_log(app, 150, seed=7)  # a burst of appends without nudges, for the sweep
        wait_until(lambda: caught_up(app), 60, "both workers done")
        time.sleep(1.5)  # let a last sweep log its (empty) round
        # Then every event was applied exactly once between them
        logs = [applied_per_projection(processes.log_of(p)) for p in (one, other)]
        for projection in PROJECTIONS:
            applied = sum(log.get(projection.name, 0) for log in logs)
            with app.engine.connect() as connection:
                expected = connection.execute(
                    select(func.count()).where(
                        events_table.c.type.in_(sorted(projection.event_types))
                    )
                ).scalar_one()
            assert applied == expected, (projection.name, logs)
        # (Which worker did how much is up to the broker and the locks: on SQLite one worker
        # may well do it all. What must hold is the sum above and the rebuild below.)
        assert_equals_a_rebuild(app)
    finally:
        app.close()


def test_an_append_without_its_nudge_is_caught_by_the_sweep(
    database: str, flushed_redis: str, processes: Processes
) -> None:
    app = wire(database, flushed_redis)
    try:
        processes.start(POP_WORKER, worker_env(database, flushed_redis))
        wait_until(lambda: caught_up(app), 30, "the worker's first sweep")
        # When the command side crashed between commit and nudge: no nudge at all
        silent = CommandHandler(app.repository, app.clock, on_appended=None)
        silent.register_employee(HR, RegisterEmployee("S1", "Sam", "sam@example.org"))
        # Then the sweep (every second here) catches it up
        assert wait_until(lambda: caught_up(app), 10, "caught up by the sweep") < 5
        # When a nudge's message got lost while its gate stayed shut (claimed, never sent)
        gate = RedisGate(redis.Redis.from_url(flushed_redis))
        for projection in PROJECTIONS:
            gate.force(projection.name)
        register(app, "S2")  # its nudge finds the gate shut: no message
        assert not caught_up(app)
        # Then the sweep forces its own nudge through the gate
        assert wait_until(lambda: caught_up(app), 10, "caught up despite the shut gate") < 5
    finally:
        app.close()


def test_a_command_in_another_process_nudges_through_redis(
    database: str, flushed_redis: str, processes: Processes
) -> None:
    app = wire(database, flushed_redis)
    try:
        env = worker_env(database, flushed_redis, POP_SWEEP_SECONDS="3600")
        processes.start(POP_WORKER, env)
        time.sleep(2)  # the worker is up and its one sweep has run
        command = [sys.executable, "-m", "handlers", "employee", "add", "--id", "N1"]
        done = subprocess.run(
            [*command, "--name", "Nora", "--email", "nora@example.org"],
            env={**os.environ, **env},
            cwd=ROOT,
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert wait_until(lambda: caught_up(app), 10, "caught up by the nudge") < 5
    finally:
        app.close()


def test_the_redis_gate_coalesces_nudges(flushed_redis: str) -> None:
    client = redis.Redis.from_url(flushed_redis)
    gate = RedisGate(client, ttl=30)
    assert gate.claim("cycles") is True
    assert gate.claim("cycles") is False  # one pending catch-up per projection
    assert 0 < int(client.ttl("popcycle:nudge:cycles")) <= 30  # a lost message frees it later
    gate.release("cycles")
    assert gate.claim("cycles") is True
    client.close()
