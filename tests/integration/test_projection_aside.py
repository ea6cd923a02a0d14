"""Builds aside (`handlers/projections/rebuild.py`): a catch-up far behind the head builds its
projection beside the live tables and swaps it in, exactly once and resumably — on SQLite and
PostgreSQL.

Each test compares the result with a catch-up from position 0 in place (batches in position
order: another path through the same folds) and checks that no build is left behind. The
worker-process case (SIGKILL mid-build) is in `test_worker_redis.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from bench.projections import synthesize_log
from events.database import read_transaction, write_transaction
from events.domain import Reason
from handlers.bootstrap import Popcycle
from handlers.projections.base import Projection
from handlers.projections.checkpoints import read_checkpoints
from handlers.projections.cycle_projection import CYCLES
from handlers.projections.rebuild import build_step, read_build, start_build
from handlers.projections.registry import PROJECTIONS
from handlers.projections.runner import Runner
from handlers.projections.schema import builds_table, checkpoints_table
from handlers.projections.service import ProjectionService
from handlers.projections.snapshot import snapshot
from tests.integration.test_projection_models import (  # noqa: F401 - fixture
    HR,
    READ_TABLES,
    app,
    register,
)


def service(app: Popcycle) -> ProjectionService:  # noqa: F811
    """A service that builds aside from 1 event behind (if that is half the log or more)."""
    return ProjectionService(app.engine, app.repository.keys, batch_size=97, aside_after=1)


def builds(app: Popcycle) -> int:  # noqa: F811
    with read_transaction(app.engine) as connection:
        return int(connection.execute(select(func.count()).select_from(builds_table)).scalar_one())


def equals_in_place(app: Popcycle) -> bool:  # noqa: F811
    """Whether the live tables equal what a catch-up from position 0 *in place* makes: batches
    in position order, the path that shares no code with a build's passes by stream."""
    built = snapshot(app.engine, PROJECTIONS)
    with write_transaction(app.engine) as connection:
        for table in READ_TABLES:
            connection.execute(delete(table))
        connection.execute(update(checkpoints_table).values(position=0))
    in_place = ProjectionService(app.engine, app.repository.keys, batch_size=89, aside_after=None)
    assert all(not outcome.aside for outcome in in_place.catch_up_all())
    return snapshot(app.engine, PROJECTIONS) == built


def test_a_catch_up_far_behind_builds_aside_and_equals_a_rebuild(app: Popcycle) -> None:  # noqa: F811
    synthesize_log(app, 60)
    head = app.store.head()[0]
    outcomes = [service(app).catch_up(name) for name in ("cycles", "people", "summary")]
    assert all(outcome.aside and outcome.caught_up for outcome in outcomes)
    assert all(outcome.position == head for outcome in outcomes)
    assert builds(app) == 0
    assert equals_in_place(app)


def test_a_catch_up_close_behind_stays_in_place(app: Popcycle) -> None:  # noqa: F811
    synthesize_log(app, 30)
    ProjectionService.from_app(app).catch_up_all()
    a_few_more(app, "LATE")  # far less than half the log
    behind = app.store.head()[0] - read_positions(app)["cycles"]
    runner = Runner(app.engine, CYCLES, app.repository.keys, aside_after=1)
    assert behind > 0
    assert not runner.needs_build()
    outcome = runner.catch_up()
    assert not outcome.aside
    assert outcome.caught_up
    # and a projection that is not far enough behind in events stays in place too
    assert not Runner(app.engine, CYCLES, app.repository.keys, aside_after=10**9).needs_build()


def a_few_more(app: Popcycle, tag: str) -> None:  # noqa: F811
    """A manager, three reports and their cycles, through the command side."""
    register(app, f"M-{tag}")
    for index in range(3):
        register(app, f"{tag}-{index}", f"M-{tag}")
        app.commands.start_cycle(
            HR, f"{tag}-{index}", f"M-{tag}", Reason.ON_DEMAND, app.clock() + timedelta(days=9)
        )


def read_positions(app: Popcycle) -> dict[str, int]:  # noqa: F811
    with read_transaction(app.engine) as connection:
        return read_checkpoints(connection)


def failing_on_call(number: int, apply: Callable[..., None]) -> Callable[..., None]:
    """`apply` that raises on its `number`-th call, having written its rows first."""
    calls = [0]

    def apply_then_fail(*args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        apply(*args, **kwargs)
        if calls[0] == number:
            raise RuntimeError("killed mid-step")

    return apply_then_fail


def test_a_step_that_fails_rolls_back_and_the_next_process_resumes(
    app: Popcycle,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synthesize_log(app, 60)
    shadow = CYCLES.shadow
    monkeypatch.setattr(shadow, "apply", failing_on_call(4, shadow.apply))
    with pytest.raises(RuntimeError, match="killed mid-step"):
        service(app).catch_up("cycles")
    build = build_row(app, CYCLES)
    assert build is not None
    assert build.applied > 0  # three steps committed, the fourth did not
    assert shadow_rows(app) > 0
    assert read_positions(app)["cycles"] == 0  # not swapped: the live tables are untouched
    monkeypatch.undo()
    # Another process (a fresh service: nothing in memory) carries on where the row says.
    outcome = service(app).catch_up("cycles")
    assert outcome.aside
    assert outcome.caught_up
    assert build.applied + outcome.applied == build.total  # resumed, not started again
    assert builds(app) == 0
    service(app).catch_up_all()
    assert equals_in_place(app)


def build_row(app: Popcycle, projection: Projection) -> Any:  # noqa: F811
    with read_transaction(app.engine) as connection:
        return read_build(connection, projection.name)


def shadow_rows(app: Popcycle) -> int:  # noqa: F811
    with read_transaction(app.engine) as connection:
        table = CYCLES.shadow.tables[0]
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_two_processes_stepping_one_build_take_turns(app: Popcycle) -> None:  # noqa: F811
    synthesize_log(app, 60)
    start_build(app.engine, CYCLES, restart=False)
    errors: list[BaseException] = []

    def step_until_live() -> None:
        try:
            while build_step(app.engine, CYCLES, app.repository.keys, batch_size=53) is not None:
                pass
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=step_until_live) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert builds(app) == 0
    assert read_positions(app)["cycles"] == app.store.head()[0]
    service(app).catch_up_all()
    assert equals_in_place(app)


def test_events_appended_during_a_build_are_caught_up_by_its_swap(app: Popcycle) -> None:  # noqa: F811
    synthesize_log(app, 60)
    target = start_build(app.engine, CYCLES, restart=False).target
    for _ in range(3):
        build_step(app.engine, CYCLES, app.repository.keys, batch_size=50)
    a_few_more(app, "LATE")
    head = app.store.head()[0]
    assert head > target
    while build_step(app.engine, CYCLES, app.repository.keys) is not None:
        pass
    assert read_positions(app)["cycles"] == head
    service(app).catch_up_all()
    assert equals_in_place(app)


def test_a_rebuild_restarts_a_build_under_way_and_the_catch_up_follows_it(app: Popcycle) -> None:  # noqa: F811
    synthesize_log(app, 40)
    start_build(app.engine, CYCLES, restart=False)
    first = build_step(app.engine, CYCLES, app.repository.keys, batch_size=50)
    assert first is not None
    assert first.build is not None
    started = first.build.started_at
    restarted = start_build(app.engine, CYCLES, restart=True)
    assert restarted.applied == 0
    assert restarted.started_at >= started
    assert not_restarted_when_asked_not_to(app, restarted.started_at)
    outcome = service(app).catch_up("cycles")  # steps the restarted build to its end
    assert outcome.aside
    assert outcome.caught_up
    assert builds(app) == 0
    service(app).catch_up_all()
    assert equals_in_place(app)


def not_restarted_when_asked_not_to(app: Popcycle, started: object) -> bool:  # noqa: F811
    return start_build(app.engine, CYCLES, restart=False).started_at == started


def test_status_shows_a_build_under_way(app: Popcycle) -> None:  # noqa: F811
    synthesize_log(app, 30)
    start_build(app.engine, CYCLES, restart=False)
    build_step(app.engine, CYCLES, app.repository.keys, batch_size=40)
    lags = {lag.name: lag.to_json() for lag in service(app).lag()}
    building = lags["cycles"]["building"]
    assert isinstance(building, dict)
    assert 0 < int(str(building["applied"])) < int(str(building["total"]))
    assert lags["people"]["building"] is None
